//! Paced connection setup shared by the scenarios: at most `in_flight` handshakes at once, each
//! bounded by a timeout, the whole setup bounded by a deadline, and one control signal that tells
//! every connection task when to start and when to stop.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Result, bail};
use std::pin::Pin;

use futures::{SinkExt, Stream, StreamExt};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Join, Socket};

/// What the scenario driver tells every connection task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Setup is still running: hold the connection, answer pings.
    Waiting,
    /// Run the scenario from this instant.
    Start(Instant),
    /// Close the connection and report.
    Stop,
}

/// Limits of the connection phase.
#[derive(Clone, Copy, Debug)]
pub struct Pacing {
    /// Handshakes in flight at once.
    pub in_flight: usize,
    /// Bound on one connect + signin.
    pub connect_timeout: Duration,
    /// Bound on the whole setup.
    pub setup_timeout: Duration,
    /// Pause between the namespace connect reply and `signin`.
    pub signin_delay: Duration,
}

/// Shared state of a paced setup: the semaphore and the running tally.
pub struct Setup {
    permits: Semaphore,
    pacing: Pacing,
    total: usize,
    connected: AtomicUsize,
    failed: AtomicUsize,
    first_error: Mutex<Option<String>>,
}

/// How a setup went.
#[derive(Debug)]
pub struct SetupOutcome {
    pub connected: usize,
    pub failed: usize,
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

impl Setup {
    pub fn new(total: usize, pacing: Pacing) -> Arc<Self> {
        Arc::new(Self {
            permits: Semaphore::new(pacing.in_flight.max(1)),
            pacing,
            total,
            connected: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            first_error: Mutex::new(None),
        })
    }

    /// Connects and joins (signs in, or opens a board), waiting for a free handshake slot first.
    /// `None` means it failed (the failure is tallied for [`Setup::wait`]).
    pub async fn connect(&self, endpoint: &str, join: Join<'_>) -> Option<Socket> {
        let _slot = self.permits.acquire().await.ok()?;
        let deadline = Instant::now() + self.pacing.connect_timeout;
        match client::sign_in(endpoint, join, self.pacing.signin_delay, deadline).await {
            Ok(socket) => {
                self.connected.fetch_add(1, Ordering::Relaxed);
                Some(socket)
            }
            Err(error) => self.fail(format!(
                "{join:?}@{endpoint} (connect timeout {:?}): {error:#}",
                self.pacing.connect_timeout
            )),
        }
    }

    fn fail(&self, error: String) -> Option<Socket> {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert(error);
        None
    }

    /// Waits until every connection attempt has finished or the setup deadline passes,
    /// printing progress on stderr.
    pub async fn wait(&self) -> SetupOutcome {
        let started = Instant::now();
        let deadline = started + self.pacing.setup_timeout;
        let mut last_print = started;
        loop {
            let connected = self.connected.load(Ordering::Relaxed);
            let failed = self.failed.load(Ordering::Relaxed);
            let now = Instant::now();
            if connected + failed >= self.total || now >= deadline {
                let first_error = self
                    .first_error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                let unfinished = self.total - connected - failed;
                return SetupOutcome {
                    connected,
                    failed: failed + unfinished,
                    first_error: first_error.or_else(|| {
                        (unfinished > 0).then(|| {
                            format!(
                                "{unfinished} connections still unfinished after the setup timeout of {:?}",
                                self.pacing.setup_timeout
                            )
                        })
                    }),
                    elapsed: now - started,
                };
            }
            if now - last_print >= Duration::from_secs(1) {
                eprintln!(
                    "  connecting: {connected}/{} signed in, {failed} failed",
                    self.total
                );
                last_print = now;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl SetupOutcome {
    /// An error naming the first failure and what to try, when any connection failed.
    pub fn require_all(&self) -> Result<()> {
        if self.failed == 0 {
            return Ok(());
        }
        bail!(
            "{} of {} connections failed (first: {}). Check the server is up and its open-file \
             limit (ulimit -n) covers the connections, or lower the connection count or --in-flight",
            self.failed,
            self.failed + self.connected,
            self.first_error.as_deref().unwrap_or("unknown")
        )
    }
}

/// The driver's signals as a stream that stays registered between polls (a fresh
/// `changed()` future per select round would lock the shared channel once per message).
/// Ends with a final [`Control::Stop`] when the driver is gone.
pub fn signals(control: watch::Receiver<Control>) -> Pin<Box<dyn Stream<Item = Control> + Send>> {
    Box::pin(futures::stream::unfold(
        Some(control),
        |control| async move {
            let mut control = control?;
            match control.changed().await {
                Ok(()) => {
                    let signal = *control.borrow_and_update();
                    Some((signal, Some(control)))
                }
                Err(_) => Some((Control::Stop, None)),
            }
        },
    ))
}

/// Waits for the driver's signal while answering pings; used by tasks that only hold a connection.
pub async fn hold(mut socket: Socket, control: watch::Receiver<Control>) -> Option<String> {
    use crate::protocol::{self, Incoming};
    let mut signals = signals(control);
    loop {
        tokio::select! {
            signal = signals.next() => {
                if matches!(signal, Some(Control::Stop) | None) {
                    close(socket).await;
                    return None;
                }
            }
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => match protocol::classify(&text) {
                    Incoming::Ping => {
                        if let Err(error) = socket.send(Message::text(protocol::PONG)).await {
                            return Some(format!("pong failed: {error}"));
                        }
                    }
                    Incoming::Close | Incoming::Disconnected => {
                        return Some("the server closed the session".into());
                    }
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | None => return Some("the server closed the WebSocket".into()),
                Some(Ok(_)) => {}
                Some(Err(error)) => return Some(format!("WebSocket read: {error}")),
            },
        }
    }
}

/// Closes a connection politely, bounded in time.
pub async fn close(mut socket: Socket) {
    let _ = timeout(Duration::from_secs(2), socket.close(None)).await;
}
