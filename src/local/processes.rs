//! Child processes of `up --local` (redis-server, chat-server instances): each is started,
//! watched and restarted by a small supervisor task, its output streamed line by line with a
//! `name | ` prefix, and stopped with SIGTERM (then SIGKILL) so none outlives chatctl.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::log_agent::{LogSink, Stream};

/// How long a stopped process may take to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(8);
/// Restarts allowed within [`RESTART_WINDOW`] before the supervisor gives up.
const MAX_RESTARTS: usize = 5;
const RESTART_WINDOW: Duration = Duration::from_secs(60);
/// Pause before a restart, so a crash loop does not spin.
const RESTART_DELAY: Duration = Duration::from_millis(500);
/// Lines of output kept to explain a failed start.
const TAIL_LINES: usize = 20;

/// What to run: the program, its arguments and extra environment variables.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The log prefix, e.g. `chat-1` or `redis`.
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Removed from the inherited environment (e.g. REDISHOST of the user's shell).
    pub env_remove: Vec<String>,
    /// Text fed to the child's stdin, then closed (redis-server reads its config there).
    pub stdin: Option<String>,
    /// Where its output also goes as log entries (chat-server instances: the emulated Cloud
    /// Logging), besides the `name | line` stream.
    pub log: Option<LogSink>,
}

/// A supervised process: restarted when it dies unexpectedly, stopped on [`Supervised::stop`].
pub struct Supervised {
    stop: watch::Sender<bool>,
    tail: Arc<Mutex<VecDeque<String>>>,
    task: Option<JoinHandle<()>>,
}

impl Supervised {
    /// Starts the process now and keeps it running until stopped.
    pub fn start(spec: Spec) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let task = tokio::spawn(supervise(spec, stop_rx, tail.clone()));
        Supervised {
            stop,
            tail,
            task: Some(task),
        }
    }

    /// The last lines the process printed, to explain a failed start.
    pub fn tail(&self) -> String {
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Stops the process (SIGTERM, SIGKILL after a grace period) and waits until it is gone.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Supervised {
    /// A supervisor dropped without `stop` kills its child at once (`kill_on_drop`).
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn supervise(
    spec: Spec,
    mut stop: watch::Receiver<bool>,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let mut restarts: VecDeque<Instant> = VecDeque::new();
    loop {
        let mut child = match spawn(&spec, &tail) {
            Ok(child) => child,
            Err(e) => {
                say(
                    &spec.name,
                    &format!("cannot start {}: {e}", spec.program.display()),
                );
                return;
            }
        };
        let status = tokio::select! {
            status = child.wait() => status,
            () = stopped(&mut stop) => {
                terminate(&spec.name, &mut child).await;
                return;
            }
        };
        let status = match status {
            Ok(status) => status.to_string(),
            Err(e) => format!("unknown status ({e})"),
        };
        let now = Instant::now();
        restarts.retain(|at| now.duration_since(*at) < RESTART_WINDOW);
        if restarts.len() >= MAX_RESTARTS {
            say(
                &spec.name,
                &format!(
                    "exited ({status}) {MAX_RESTARTS} times within {}s: not restarting it again",
                    RESTART_WINDOW.as_secs()
                ),
            );
            return;
        }
        restarts.push_back(now);
        say(&spec.name, &format!("exited ({status}); restarting"));
        tokio::select! {
            () = tokio::time::sleep(RESTART_DELAY) => {}
            () = stopped(&mut stop) => return,
        }
    }
}

/// Resolves once `stop` was asked for (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await.map(|_| ());
}

fn spawn(spec: &Spec, tail: &Arc<Mutex<VecDeque<String>>>) -> std::io::Result<Child> {
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group: a Ctrl-C on the terminal reaches chatctl alone, which then
        // runs `down` and stops the children in order.
        .process_group(0);
    // Removals first: a variable the spec sets must survive them.
    for key in &spec.env_remove {
        command.env_remove(key);
    }
    command.envs(spec.env.iter().map(|(k, v)| (k, v)));
    die_with_parent(&mut command);
    let mut child = command.spawn()?;
    if let (Some(text), Some(mut stdin)) = (spec.stdin.clone(), child.stdin.take()) {
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = stdin.write_all(text.as_bytes()).await;
        });
    }
    say(
        &spec.name,
        &format!("started (pid {})", child.id().unwrap_or_default()),
    );
    if let Some(out) = child.stdout.take() {
        let log = spec.log.clone().map(|sink| (sink, Stream::Stdout));
        tokio::spawn(pump(spec.name.clone(), out, tail.clone(), log));
    }
    if let Some(err) = child.stderr.take() {
        let log = spec.log.clone().map(|sink| (sink, Stream::Stderr));
        tokio::spawn(pump(spec.name.clone(), err, tail.clone(), log));
    }
    Ok(child)
}

/// Linux: the kernel SIGKILLs the child if chatctl dies without stopping it (a second Ctrl-C, a
/// crash, `kill -9`), so no process outlives the session.
#[cfg(target_os = "linux")]
fn die_with_parent(command: &mut Command) {
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2), which
    // is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
}

/// Elsewhere (macOS) there is no parent-death signal: the child is still in its own process
/// group and killed when its handle drops (`kill_on_drop`), on Ctrl-C and on any exit that
/// unwinds; only a `kill -9` of chatctl can leave it running.
#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}

/// SIGTERM, then SIGKILL when the grace period runs out; reaps the child either way.
async fn terminate(name: &str, child: &mut Child) {
    if let Some(id) = child.id() {
        let _ = kill(Pid::from_raw(id as i32), Signal::SIGTERM);
        if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_ok() {
            say(name, "stopped");
            return;
        }
        say(name, "did not stop within the grace period: killing it");
    }
    let _ = child.kill().await;
}

/// Streams one output pipe as prefixed lines on stderr, keeping the last few for errors, and
/// hands each line to `log` when there is one.
async fn pump(
    name: String,
    pipe: impl AsyncRead + Unpin,
    tail: Arc<Mutex<VecDeque<String>>>,
    log: Option<(LogSink, Stream)>,
) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some((sink, stream)) = &log {
            sink.line(*stream, &line);
        }
        let line = render(&line);
        {
            let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.clone());
        }
        say(&name, &line);
    }
}

/// Prints `name | text` through the reporter (above progress bars while they are drawn).
pub use crate::report::process_line as say;

/// chat-server logs one JSON object per line (for Cloud Logging); show it as
/// `SEVERITY message key=value ...`. Other lines pass through unchanged.
fn render(line: &str) -> String {
    let Ok(serde_json::Value::Object(mut fields)) = serde_json::from_str(line) else {
        return line.to_string();
    };
    let (Some(severity), Some(message)) = (fields.remove("severity"), fields.remove("message"))
    else {
        return line.to_string();
    };
    fields.remove("timestamp");
    fields.remove("target");
    let mut text = format!(
        "{} {}",
        severity.as_str().unwrap_or_default(),
        message.as_str().unwrap_or_default()
    );
    for (key, value) in fields {
        match value {
            serde_json::Value::String(s) => text.push_str(&format!(" {key}={s}")),
            other => text.push_str(&format!(" {key}={other}")),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn json_log_lines_become_short_text() {
        let line = r#"{"severity":"INFO","message":"chat-server listening","timestamp":{"seconds":1,"nanos":2},"target":"chat_server::server","addr":"127.0.0.1:5"}"#;
        assert_eq!(render(line), "INFO chat-server listening addr=127.0.0.1:5");
        assert_eq!(render("plain text"), "plain text");
        assert_eq!(render(r#"{"other":1}"#), r#"{"other":1}"#);
    }
}
