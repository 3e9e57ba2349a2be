//! The runtime hook: what the emulator tells the outside world when a Redis instance or a
//! Cloud Run service becomes READY or goes away. Local mode starts real processes behind it;
//! tests use [`NoRuntime`].

use std::future::Future;
use std::pin::Pin;

/// A boxed future, so [`Runtime`] stays object-safe.
pub type HookFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A Redis instance that has just finished creating.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedisInstanceInfo {
    /// `projects/P/locations/L/instances/ID`
    pub name: String,
    pub project: String,
    pub location: String,
    pub instance_id: String,
    pub memory_size_gb: i64,
    pub redis_version: String,
    /// The AUTH string clients must send, when AUTH is enabled (never log it).
    pub auth_string: Option<String>,
    /// In-transit encryption (`SERVER_AUTHENTICATION`): clients connect over TLS.
    pub transit_encryption: bool,
}

/// Where clients reach a Redis instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisEndpoint {
    pub host: String,
    pub port: u16,
    /// The PEM of the CA that signed the server's TLS certificate, when the runtime made one
    /// for an instance with in-transit encryption (else the emulator invents one).
    pub server_ca_cert: Option<String>,
}

/// A Cloud Run service whose latest revision is about to become ready.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ServiceInfo {
    /// `projects/P/locations/L/services/ID`
    pub name: String,
    pub project: String,
    pub location: String,
    pub service_id: String,
    /// The revision being started (`ID-00001-abc`), as Cloud Logging's entries name it.
    pub revision: String,
    pub image: String,
    pub env: Vec<(String, String)>,
    pub container_port: u16,
    pub max_instance_count: i32,
    pub session_affinity: bool,
    pub timeout_seconds: u64,
    /// Anyone may invoke it: `invokerIamDisabled`, or roles/run.invoker for allUsers or
    /// allAuthenticatedUsers in its policy (when the revision became ready).
    pub public: bool,
}

impl ServiceInfo {
    /// Builds the info for `name` (`projects/P/locations/L/services/ID`); other fields default.
    pub fn new(project: &str, location: &str, service_id: &str) -> Self {
        ServiceInfo {
            name: format!("projects/{project}/locations/{location}/services/{service_id}"),
            project: project.to_string(),
            location: location.to_string(),
            service_id: service_id.to_string(),
            ..ServiceInfo::default()
        }
    }
}

/// Told about resources that come alive or go away. Every method has a do-nothing default.
/// An `Err` from a `*_ready` hook fails the resource's operation with INTERNAL and the text.
pub trait Runtime: Send + Sync {
    /// A Redis instance is ready; return `Some(endpoint)` to publish its host/port, or `None`
    /// to let the emulator invent an address in the instance's reserved range.
    fn redis_ready<'a>(
        &'a self,
        instance: &'a RedisInstanceInfo,
    ) -> HookFuture<'a, Result<Option<RedisEndpoint>, String>> {
        let _ = instance;
        Box::pin(async { Ok(None) })
    }

    /// A Redis instance was deleted (`name` is its full resource name).
    fn redis_deleted<'a>(&'a self, name: &'a str) -> HookFuture<'a, ()> {
        let _ = name;
        Box::pin(async {})
    }

    /// A Cloud Run service revision is ready; return `Some(url)` to publish it as the
    /// service's `uri`, or `None` for the usual `https://ID-NUMBER.REGION.run.app`.
    fn service_ready<'a>(
        &'a self,
        service: &'a ServiceInfo,
    ) -> HookFuture<'a, Result<Option<String>, String>> {
        let _ = service;
        Box::pin(async { Ok(None) })
    }

    /// A Cloud Run service was deleted.
    fn service_deleted<'a>(&'a self, name: &'a str) -> HookFuture<'a, ()> {
        let _ = name;
        Box::pin(async {})
    }
}

/// The runtime of pure emulation: nothing runs, addresses are invented.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoRuntime;

impl Runtime for NoRuntime {}
