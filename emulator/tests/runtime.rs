//! The runtime hook: a Runtime that starts a real redis-server when the emulator says an
//! instance is ready (as local mode does) publishes that server's address through the Redis
//! API, and is told when the instance is deleted. A failing hook fails the operation.

mod common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use emulator::{Emulator, HookFuture, RedisEndpoint, RedisInstanceInfo, Runtime};
use google_cloud_gax::error::rpc::Code;
use google_cloud_lro::Poller;
use google_cloud_redis_v1::client::CloudRedis;
use google_cloud_redis_v1::model::{Instance, instance};
use testkit::free_port;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

const PARENT: &str = "projects/runtime-test-proj/locations/us-central1";

/// Starts one redis-server per ready instance; kills it on delete.
#[derive(Default)]
struct RealRedis {
    servers: Mutex<Vec<(String, Child)>>,
    deleted: Mutex<Vec<String>>,
}

impl Runtime for RealRedis {
    fn redis_ready<'a>(
        &'a self,
        instance: &'a RedisInstanceInfo,
    ) -> HookFuture<'a, Result<Option<RedisEndpoint>, String>> {
        Box::pin(async move {
            let port = free_port();
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("cannot start redis-server (is it installed?): {e}"))?;
            self.servers
                .lock()
                .unwrap()
                .push((instance.name.clone(), child));
            Ok(Some(RedisEndpoint {
                host: "127.0.0.1".to_string(),
                port,
                server_ca_cert: None,
            }))
        })
    }

    fn redis_deleted<'a>(&'a self, name: &'a str) -> HookFuture<'a, ()> {
        Box::pin(async move {
            self.servers.lock().unwrap().retain(|(n, _)| n != name);
            self.deleted.lock().unwrap().push(name.to_string());
        })
    }
}

/// Refuses to start anything.
struct BrokenRuntime;

impl Runtime for BrokenRuntime {
    fn redis_ready<'a>(
        &'a self,
        _: &'a RedisInstanceInfo,
    ) -> HookFuture<'a, Result<Option<RedisEndpoint>, String>> {
        Box::pin(async { Err("no redis-server binary".to_string()) })
    }
}

async fn start_with(runtime: Arc<dyn Runtime>) -> (emulator::EmulatorHandle, CloudRedis) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let emu = Emulator::start(listener, fast_config(), runtime)
        .await
        .unwrap();
    let redis = CloudRedis::builder()
        .with_endpoint(emu.base_url())
        .with_credentials(anonymous())
        .with_polling_backoff_policy(fast_polling())
        .build()
        .await
        .unwrap();
    (emu, redis)
}

/// Creates a 1 GB BASIC instance and polls its operation to the end.
async fn create_basic(
    redis: &CloudRedis,
    id: &str,
) -> Result<Instance, google_cloud_gax::error::Error> {
    redis
        .create_instance()
        .set_parent(PARENT)
        .set_instance_id(id)
        .set_instance(
            Instance::new()
                .set_tier(instance::Tier::Basic)
                .set_memory_size_gb(1),
        )
        .poller()
        .until_done()
        .await
}

/// Sends PING to host:port until redis answers +PONG (it may still be starting).
async fn ping(host: &str, port: i32) -> String {
    eventually(Duration::from_secs(10), || async {
        let mut stream = tokio::net::TcpStream::connect((host, port as u16))
            .await
            .ok()?;
        stream.write_all(b"PING\r\n").await.ok()?;
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).await.ok()?;
        Some(String::from_utf8_lossy(&reply).into_owned())
    })
    .await
}

#[tokio::test]
async fn a_ready_instance_is_served_by_what_the_runtime_started() {
    let runtime = Arc::new(RealRedis::default());
    let (emu, redis) = start_with(runtime.clone()).await;
    let ready = create_basic(&redis, "local").await.unwrap();
    assert_eq!(ready.host, "127.0.0.1");
    assert_eq!(ping(&ready.host, ready.port).await, "+PONG\r\n");

    redis
        .delete_instance()
        .set_name(&ready.name)
        .poller()
        .until_done()
        .await
        .unwrap();
    assert_eq!(*runtime.deleted.lock().unwrap(), vec![ready.name.clone()]);
    assert!(runtime.servers.lock().unwrap().is_empty());
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_failing_runtime_fails_the_operation() {
    let (emu, redis) = start_with(Arc::new(BrokenRuntime)).await;
    let error = create_basic(&redis, "broken").await.unwrap_err();
    assert_eq!(code_of(&error), Code::Internal);
    assert!(
        error
            .status()
            .unwrap()
            .message
            .contains("no redis-server binary")
    );
    emu.shutdown().await.unwrap();
}
