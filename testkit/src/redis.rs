//! A real redis-server on loopback for a test: no persistence, killed on drop. redis-server
//! cannot pick its own port, so a port taken between choosing and binding it is retried on
//! another one instead of failing the test.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::http::exchange;
use crate::ports::free_port;
use crate::process::Process;

/// How many ports a start tries before giving up.
const ATTEMPTS: usize = 5;
/// How long one redis-server may take to answer PING.
const READY_LIMIT: Duration = Duration::from_secs(10);

/// A running redis-server.
pub struct RedisServer {
    pub process: Process,
}

impl RedisServer {
    /// Starts redis-server on a free port with `extra` arguments (e.g. `--requirepass`).
    pub fn start(extra: &[&str]) -> RedisServer {
        let mut last_exit = String::new();
        for _ in 0..ATTEMPTS {
            let port = free_port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .args(extra)
                .stdout(Stdio::null())
                .spawn()
                .expect("start redis-server: install it with `scripts/deps` (apt-get install redis-server)");
            let mut process = Process { child, port };
            let deadline = Instant::now() + READY_LIMIT;
            while Instant::now() < deadline {
                if exchange(port, "PING\r\n")
                    .is_some_and(|r| r.starts_with("+PONG") || r.starts_with("-NOAUTH"))
                {
                    return RedisServer { process };
                }
                if process.exited() {
                    // Most likely the port was taken meanwhile: try another.
                    last_exit = format!("redis-server exited on port {port}");
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("redis-server did not start in {ATTEMPTS} attempts ({last_exit})");
    }

    pub fn port(&self) -> u16 {
        self.process.port
    }
}
