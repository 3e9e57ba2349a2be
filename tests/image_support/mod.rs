//! Shared helpers of the image tests: a real Distribution registry (Debian's `docker-registry`)
//! on a free loopback port with its own storage and log, and the anonymous Google handle.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

/// A running `docker-registry`, stopped on drop.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry with filesystem storage in a temp dir. With `htpasswd`, the registry
    /// demands basic authentication against that file's contents.
    pub fn start(htpasswd: Option<&str>) -> Registry {
        assert!(
            Path::new(REGISTRY_BINARY).is_file(),
            "{REGISTRY_BINARY} is missing: install Debian's docker-registry package (scripts/deps does)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let auth = match htpasswd {
            Some(content) => {
                std::fs::write(dir.path().join("htpasswd"), content).expect("write htpasswd");
                format!(
                    "auth:\n  htpasswd:\n    realm: chatctl-test\n    path: {}\n",
                    dir.path().join("htpasswd").display()
                )
            }
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n{auth}http:\n  addr: {addr}\n  secret: chatctl-test-secret\n",
            dir.path().join("storage").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write registry config");
        let log_path = dir.path().join("registry.log");
        let log = std::fs::File::create(&log_path).expect("create registry log");
        let child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let registry = Registry {
            child,
            addr,
            log_path,
            _dir: dir,
        };
        registry.wait_until_listening();
        registry
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(&self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "docker-registry did not listen on {} within 20 s; its log:\n{}",
            self.addr,
            self.log()
        );
    }

    /// Everything the registry logged so far.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log_path) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// How many blob uploads the registry completed (PUTs to …/blobs/uploads/…), from its log.
    pub fn completed_blob_uploads(&self) -> usize {
        self.log()
            .lines()
            .filter(|line| line.contains("response completed"))
            .filter(|line| {
                line.contains("http.request.method=PUT") && line.contains("/blobs/uploads/")
            })
            .count()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub use testkit::free_port;

/// Anonymous credentials: what chatctl uses against the emulator and local registries.
/// The Google handle of image tests: anonymous clients for `endpoint` (an emulator's, or a
/// closed loopback port where no Google call is meant to happen), project `project`.
pub async fn google(endpoint: &str, project: &str) -> chatctl::gcp::Google {
    let clients = chatctl::gcp::Clients::connect_anonymous(endpoint.to_string())
        .await
        .expect("anonymous clients");
    chatctl::gcp::Google::new(
        clients,
        project,
        "us-central1",
        Duration::from_secs(60),
        None,
        tokio_util::sync::CancellationToken::new(),
    )
}

/// An endpoint nothing listens on (port 1 of loopback): for tests that must make no Google call.
pub const NO_GOOGLE: &str = "http://127.0.0.1:1";

/// The chatctl workspace (this repository).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
