//! Shared pieces of chatctl's end-to-end tests: an in-process emulator on a free port, a
//! chatctl session pointed at it, and readers for its request log and resources.

#![allow(dead_code)] // each test file uses a different part

pub mod contract;

use std::sync::Arc;

use chatctl::cli::{GlobalArgs, StackArgs};
use chatctl::commands::Session;
use chatctl::config::{self, Settings};
use chatctl::gcp::Clients;
use chatctl::report::OutputFormat;
use emulator::{Emulator, EmulatorConfig, EmulatorHandle, FaultConfig, NoRuntime};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub const PROJECT: &str = "chat-e2e-1";
pub const IMAGE: &str = "us-central1-docker.pkg.dev/chat-e2e-1/chat/chat-server:v1";

/// The time scale of the tests: a 4.5-minute Redis create takes 0.27 s.
pub const TIME_SCALE: f64 = 0.001;

pub struct Emu {
    pub handle: EmulatorHandle,
    pub http: reqwest::Client,
    /// Requests of the test's own setup (pushing the image), left out of `requests()`.
    setup_requests: usize,
}

impl Emu {
    pub async fn start(seed: u64) -> Self {
        Self::start_with(seed, FaultConfig::default()).await
    }

    pub async fn start_with(seed: u64, faults: FaultConfig) -> Self {
        Self::start_scaled(seed, faults, TIME_SCALE).await
    }

    /// Starts an emulator, pushes the chat-server image, then turns `faults` on.
    pub async fn start_scaled(seed: u64, faults: FaultConfig, time_scale: f64) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free loopback port");
        let config = EmulatorConfig {
            time_scale,
            allow_anonymous: true,
            seed: Some(seed),
            enforce_api_enablement: true,
            faults: FaultConfig::default(),
        };
        let handle = Emulator::start(listener, config, Arc::new(NoRuntime))
            .await
            .expect("start the emulator");
        let mut emu = Emu {
            handle,
            http: reqwest::Client::new(),
            setup_requests: 0,
        };
        emu.push_image().await;
        emu.set_faults(&faults).await;
        emu.setup_requests = emu.requests().await.len();
        emu
    }

    /// `method` on `path` with a JSON body, anonymously: the status and the JSON answer (null
    /// when there is none).
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base()))
            .json(&body)
            .send()
            .await
            .expect("emulator call");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn until_done(&self, mut op: Value) {
        for _ in 0..2000 {
            if op["done"] == true {
                assert!(op.get("error").is_none(), "operation failed: {op}");
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let name = op["name"].as_str().expect("operation name").to_string();
            op = self
                .call(reqwest::Method::GET, &format!("/v1/{name}"), Value::Null)
                .await
                .1;
        }
        panic!("operation never finished: {op}");
    }

    /// Enables `service` in the test project (it answers SERVICE_DISABLED a moment longer).
    pub async fn enable(&self, service: &str) {
        self.enable_in(PROJECT, service).await;
    }

    /// Enables `service` in `project`, as its owner would have.
    pub async fn enable_in(&self, project: &str, service: &str) {
        let (_, op) = self
            .call(
                reqwest::Method::POST,
                &format!("/v1/projects/{project}/services:batchEnable"),
                serde_json::json!({ "serviceIds": [service] }),
            )
            .await;
        self.until_done(op).await;
    }

    /// What a user does before `chatctl up --image`: an Artifact Registry repository with the
    /// chat-server image pushed to it (Cloud Run refuses images that do not exist).
    async fn push_image(&self) {
        self.enable("artifactregistry.googleapis.com").await;
        let create =
            format!("/v1/projects/{PROJECT}/locations/us-central1/repositories?repositoryId=chat");
        for _ in 0..2000 {
            let (status, op) = self
                .call(
                    reqwest::Method::POST,
                    &create,
                    serde_json::json!({"format": "DOCKER"}),
                )
                .await;
            if status == 200 {
                self.until_done(op).await;
                break;
            }
            assert_eq!(status, 403, "repository create: {op}");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        self.push(IMAGE).await;
    }

    /// Adds a subnet to the project's `default` network, as a user's own infrastructure would:
    /// enables Compute Engine, then inserts through the official compute client and waits for
    /// the operation. Its requests stay out of `requests()`, like the image push.
    pub async fn insert_subnet(&mut self, name: &str, region: &str, cidr: &str) {
        use google_cloud_lro::Poller as _;
        self.enable("compute.googleapis.com").await;
        let client = google_cloud_compute_v1::client::Subnetworks::builder()
            .with_endpoint(self.base())
            .with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build())
            .build()
            .await
            .expect("the compute client");
        let body = google_cloud_compute_v1::model::Subnetwork::new()
            .set_name(name)
            .set_network(format!("projects/{PROJECT}/global/networks/default"))
            .set_ip_cidr_range(cidr);
        for _ in 0..2000 {
            let inserted = client
                .insert()
                .set_project(PROJECT)
                .set_region(region)
                .set_body(body.clone())
                .poller()
                .until_done()
                .await;
            match inserted {
                Ok(op) => {
                    assert!(op.error.is_none(), "subnet insert failed: {op:?}");
                    self.setup_requests += self.requests().await.len();
                    return;
                }
                // Compute answers SERVICE_DISABLED for a moment after the enable.
                Err(e) if e.http_status_code() == Some(403) => {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                Err(e) => panic!("subnet insert: {e:?}"),
            }
        }
        panic!("Compute Engine stayed disabled");
    }

    /// Puts `image` into the emulator's Artifact Registry (as `docker push` would).
    pub async fn push(&self, image: &str) {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/_emulator/images",
                serde_json::json!({"image": image}),
            )
            .await;
        assert_eq!(status, 200, "image push: {body}");
    }

    /// Registers a user and returns the `authorized_user` credentials file the emulator's
    /// `/token` accepts (what `gcloud auth application-default login` writes).
    pub async fn register_user(&self, email: &str) -> Value {
        let (status, file) = self
            .call(
                reqwest::Method::POST,
                "/_emulator/users",
                serde_json::json!({ "email": email }),
            )
            .await;
        assert_eq!(status, 200, "user registration: {file}");
        file
    }

    /// Describes a project before its first use as a real one may be (`POST /_emulator/projects`:
    /// no default network, the Compute Engine default build account without roles, Domain
    /// Restricted Sharing, enforced IAM), and answers the emulator's description of it.
    pub async fn describe_project(&self, description: Value) -> Value {
        let (status, answer) = self
            .call(reqwest::Method::POST, "/_emulator/projects", description)
            .await;
        assert_eq!(status, 200, "describing the project: {answer}");
        answer
    }

    pub fn base(&self) -> &str {
        self.handle.base_url()
    }

    /// The request log: one JSON object per API call (method, path with query, body).
    pub async fn requests(&self) -> Vec<Value> {
        let text = self
            .http
            .get(format!("{}/_emulator/requests", self.base()))
            .send()
            .await
            .expect("request log")
            .text()
            .await
            .expect("request log body");
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("request log line is JSON"))
            .skip(self.setup_requests)
            .collect()
    }

    /// GET `path` on the emulator: its status and JSON body (null when it has none).
    pub async fn fetch(&self, path: &str) -> (u16, Value) {
        let answer = self
            .http
            .get(format!("{}{path}", self.base()))
            .send()
            .await
            .expect("GET");
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    /// Every resource the emulator holds, as JSON text.
    pub async fn resources(&self) -> String {
        self.http
            .get(format!("{}/_emulator/resources", self.base()))
            .send()
            .await
            .expect("resources")
            .text()
            .await
            .expect("resources body")
    }

    /// The resources (not the finished operations, which Google keeps for a while too) that
    /// mention `needle`, as JSON text; empty when none does.
    pub async fn leftovers(&self, needle: &str) -> String {
        let mut world: Value =
            serde_json::from_str(&self.resources().await).expect("resources JSON");
        if let Some(map) = world.as_object_mut() {
            // History, not resources: operations, builds (which name the build account) and log
            // entries (which name the service and its revisions).
            map.remove("operations");
            map.remove("logging");
            if let Some(cloudbuild) = map.get_mut("cloudbuild").and_then(Value::as_object_mut) {
                cloudbuild.remove("builds");
            }
        }
        let mut found = Vec::new();
        collect_mentions(&world, needle, "", &mut found);
        found.join("\n")
    }

    pub async fn set_faults(&self, faults: &FaultConfig) {
        let status = self
            .http
            .post(format!("{}/_emulator/faults", self.base()))
            .json(faults)
            .send()
            .await
            .expect("set faults")
            .status();
        assert!(status.is_success(), "setting faults: {status}");
    }

    /// A chatctl session for environment `env` against this emulator.
    pub async fn session(&self, env: &str) -> Session {
        self.session_with(env, CancellationToken::new()).await
    }

    pub async fn session_with(&self, env: &str, cancel: CancellationToken) -> Session {
        self.session_for(settings(env), cancel).await
    }

    pub async fn session_for(&self, settings: Settings, cancel: CancellationToken) -> Session {
        let clients = Clients::connect(Some(self.base().to_string()))
            .await
            .expect("clients");
        Session::with(clients, settings, cancel)
    }
}

/// The steps of a walk that did not end Done, with their outcome.
pub fn failures(walk: &chatctl::engine::Walk) -> Vec<String> {
    walk.results
        .iter()
        .filter_map(|(id, r)| match &r.outcome {
            chatctl::engine::Outcome::Done => None,
            other => Some(format!("{}: {other:?}", id.label())),
        })
        .collect()
}

/// Settings as `--project chat-e2e-1 --env ENV --image IMAGE --output json` would give.
pub fn settings(env: &str) -> Settings {
    let global = GlobalArgs {
        project: Some(PROJECT.into()),
        env_name: Some(env.into()),
        output: Some(OutputFormat::Json),
        ..GlobalArgs::default()
    };
    let stack = StackArgs {
        image: Some(IMAGE.into()),
        ..StackArgs::default()
    };
    config::resolve(&global, &stack, &|_| None).expect("settings")
}

/// The chatctl binary against the emulator at `base` for the test project: anonymous (no
/// credentials file, no quota project, no gcloud files, HOME and the working directory in
/// `dir`), with no terminal to ask on.
pub fn chatctl_at(base: &str, dir: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_chatctl"));
    command
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .env("CHATCTL_API_ENDPOINT", base)
        .env("CHATCTL_PROJECT", PROJECT)
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env_remove("GOOGLE_CLOUD_QUOTA_PROJECT")
        .env("CLOUDSDK_CONFIG", dir.join("no-gcloud"))
        .env("HOME", dir);
    command
}

/// A logged request's path without its query.
pub fn bare_path(request: &Value) -> &str {
    let path = request["path"].as_str().unwrap_or_default();
    path.split('?').next().unwrap_or_default()
}

/// [`chatctl_at`] for environment `env`, deploying [`IMAGE`].
pub fn chatctl(base: &str, home: &std::path::Path, env: &str) -> std::process::Command {
    let mut command = chatctl_at(base, home);
    command.env("CHATCTL_IMAGE", IMAGE).args(["--env", env]);
    command
}

/// The REST path of environment `env`'s Cloud Run service.
pub fn service_path(env: &str) -> String {
    format!("/v2/projects/{PROJECT}/locations/us-central1/services/chat-{env}")
}

/// The REST path of environment `env`'s connector.
pub fn connector_path(env: &str) -> String {
    format!("/v1/projects/{PROJECT}/locations/us-central1/connectors/chat-{env}")
}

/// The REST path of environment `env`'s NATS firewall rule.
pub fn firewall_path(env: &str) -> String {
    format!("/compute/v1/projects/{PROJECT}/global/firewalls/chat-nats-allow-{env}")
}

/// What a chatctl process ended with.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// chatctl `args` for environment `env` against the emulator at `base` (the binary, as a user
/// runs it; no CHATCTL_BUS or CHATCTL_EGRESS from the test's own environment), deploying
/// [`IMAGE`] unless the command is `down`.
pub async fn run(base: &str, dir: &std::path::Path, env: &str, args: &[&str]) -> Run {
    let (base, dir) = (base.to_string(), dir.to_path_buf());
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.extend(["--env".into(), env.into()]);
    if args[0] != "down" {
        args.extend(["--image".into(), IMAGE.into()]);
    }
    let out = tokio::task::spawn_blocking(move || {
        chatctl_at(&base, &dir)
            .env_remove("CHATCTL_BUS")
            .env_remove("CHATCTL_EGRESS")
            .args(&args)
            .output()
    })
    .await
    .expect("the chatctl task")
    .expect("run chatctl");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// [`run`], which must succeed.
pub async fn run_ok(base: &str, dir: &std::path::Path, env: &str, args: &[&str]) -> Run {
    let out = run(base, dir, env, args).await;
    assert_eq!(out.code, Some(0), "chatctl {args:?}: {}", out.stderr);
    out
}

/// Whether a logged request changes something (reads: GET, and the POST-shaped reads,
/// including the preflight's `:testIamPermissions`). Taking and releasing the environment's
/// lock (the object `chatctl-lock-ENV.json`, which every `up` and `down` writes and deletes)
/// changes nothing of the environment.
pub fn is_mutating(request: &Value) -> bool {
    let method = request["method"].as_str().unwrap_or_default();
    let full_path = request["path"].as_str().unwrap_or_default();
    let path = full_path.split('?').next().unwrap_or_default();
    method != "GET"
        && !full_path.contains("chatctl-lock-")
        && !path.ends_with(":getIamPolicy")
        && !path.ends_with(":batchGet")
        && !path.ends_with(":testIamPermissions")
}

pub fn mutating(requests: &[Value]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| is_mutating(r))
        .map(|r| {
            format!(
                "{} {}",
                r["method"].as_str().unwrap_or("?"),
                r["path"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

fn collect_mentions(value: &Value, needle: &str, path: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let here = format!("{path}/{k}");
                if k.contains(needle) {
                    out.push(here.clone());
                }
                collect_mentions(v, needle, &here, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                collect_mentions(v, needle, &format!("{path}[{i}]"), out);
            }
        }
        Value::String(s) if s.contains(needle) => out.push(format!("{path} = {s}")),
        _ => {}
    }
}

/// The Cloud Run service create requests in `log`, with the image each deployed.
pub fn deployed_images(log: &[serde_json::Value]) -> Vec<String> {
    log.iter()
        .filter(|r| {
            r["method"] == "POST"
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/v2/") && p.contains("/services?"))
        })
        .filter_map(|r| {
            let body: serde_json::Value = match &r["body"] {
                serde_json::Value::String(text) => serde_json::from_str(text).ok()?,
                other => other.clone(),
            };
            Some(
                body.pointer("/template/containers/0/image")?
                    .as_str()?
                    .to_string(),
            )
        })
        .collect()
}
