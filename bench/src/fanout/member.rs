//! One `fanout` connection task: a room (or board) member that counts and times every `message`
//! (or `drawing`), and, for senders, sends `sendMessage` (or `drawing`) on schedule and times
//! its acks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

use crate::client::Join;
use crate::latency::{self, Recorder, ShardedRecorder};
use crate::protocol::{self, Incoming, Mark, Protocol};
use crate::setup::{self, Control, Setup};

/// What all connection tasks share: progress (read live by the driver to end the drain early)
/// and the delivery latencies.
#[derive(Default)]
pub struct Counters {
    pub expected: AtomicU64,
    pub received: AtomicU64,
    pub pending_acks: AtomicU64,
    pub senders_done: AtomicUsize,
    /// Delivery latency of every member.
    pub latency: ShardedRecorder,
}

/// The measured window: sends scheduled before it are warm-up, sending stops at its end.
#[derive(Clone, Copy)]
pub struct Timeline {
    pub measure_from: Instant,
    pub measure_until: Instant,
}

/// A sending member: its id in message texts and its schedule.
#[derive(Clone, Copy)]
pub struct SenderPlan {
    pub id: u32,
    pub period: Duration,
    pub offset: Duration,
}

/// One connection's results, merged by the driver.
pub struct Tally {
    pub sent: u64,
    pub acked: u64,
    pub send_errors: u64,
    pub first_send_error: Option<String>,
    pub ack_timeouts: u64,
    pub received: u64,
    pub out_of_order: u64,
    pub ack_latency: Recorder,
    pub send_lag: Recorder,
    pub disconnect: Option<String>,
}

impl Tally {
    pub fn new() -> Self {
        Self {
            sent: 0,
            acked: 0,
            send_errors: 0,
            first_send_error: None,
            ack_timeouts: 0,
            received: 0,
            out_of_order: 0,
            ack_latency: Recorder::default(),
            send_lag: Recorder::default(),
            disconnect: None,
        }
    }

    pub fn merge(&mut self, other: Tally) {
        self.sent += other.sent;
        self.acked += other.acked;
        self.send_errors += other.send_errors;
        self.first_send_error = self.first_send_error.take().or(other.first_send_error);
        self.ack_timeouts += other.ack_timeouts;
        self.received += other.received;
        self.out_of_order += other.out_of_order;
        self.ack_latency.merge(other.ack_latency);
        self.send_lag.merge(other.send_lag);
    }
}

/// One connection task: a room member, possibly also a sender.
pub struct Member {
    pub setup: Arc<Setup>,
    pub counters: Arc<Counters>,
    pub control: watch::Receiver<Control>,
    pub protocol: Protocol,
    /// Deliveries each send should make: the room (chat) or the board but the sender (whiteboard).
    pub audience: u64,
    pub warmup: Duration,
    pub duration: Duration,
    pub sender: Option<SenderPlan>,
}

/// Per-connection receive state: the last sequence number seen from each sender in the room.
struct Receiver {
    last_seq: Vec<(u32, u64)>,
}

impl Member {
    pub async fn run(mut self, endpoint: &str, user: &str, room: &str) -> Tally {
        let mut tally = Tally::new();
        let join = match self.protocol {
            Protocol::Chat => Join::Room { user, room },
            Protocol::Whiteboard => Join::Board(room),
        };
        let Some(mut socket) = self.setup.connect(endpoint, join).await else {
            self.finish_sending();
            return tally;
        };
        let mut receiver = Receiver {
            last_seq: Vec::new(),
        };
        let mut timeline: Option<Timeline> = None;
        let mut ticker: Option<Interval> = None;
        let mut pending: std::collections::HashMap<u64, (u64, bool)> = Default::default();
        let mut next_ack: u64 = 1;
        let mut seq: u64 = 0;
        let mut signals = setup::signals(self.control.clone());
        loop {
            tokio::select! {
                signal = signals.next() => {
                    match signal {
                        Some(Control::Start(start)) => {
                            timeline = Some(Timeline {
                                measure_from: start + self.warmup,
                                measure_until: start + self.warmup + self.duration,
                            });
                            ticker = self.sender.map(|plan| {
                                let mut ticker = tokio::time::interval_at(start + plan.offset, plan.period);
                                ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
                                ticker
                            });
                        }
                        Some(Control::Waiting) => {}
                        Some(Control::Stop) | None => break,
                    }
                }
                frame = socket.next() => {
                    let text = match frame {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(_))) | None => {
                            tally.disconnect = Some("the server closed the WebSocket".into());
                            break;
                        }
                        Some(Ok(_)) => continue,
                        Some(Err(error)) => {
                            tally.disconnect = Some(format!("WebSocket read: {error}"));
                            break;
                        }
                    };
                    match protocol::classify(&text) {
                        Incoming::Ping => {
                            if let Err(error) = socket.send(Message::text(protocol::PONG)).await {
                                tally.disconnect = Some(format!("pong failed: {error}"));
                                break;
                            }
                        }
                        Incoming::Event(event) => {
                            let mark = match self.protocol {
                                Protocol::Chat => protocol::message_text(event).and_then(protocol::message_mark),
                                Protocol::Whiteboard => protocol::drawing_mark(event),
                            };
                            if let Some(mark) = mark {
                                receiver.on_delivery(mark, &mut tally, &self.counters);
                            }
                        }
                        Incoming::Ack { id, args } => {
                            if let Some((scheduled, measured)) = pending.remove(&id) {
                                self.counters.pending_acks.fetch_sub(1, Ordering::Relaxed);
                                self.on_ack(args, scheduled, measured, &mut tally);
                            }
                        }
                        Incoming::Close | Incoming::Disconnected => {
                            tally.disconnect = Some("the server closed the session".into());
                            break;
                        }
                        _ => {}
                    }
                }
                scheduled = next_tick(&mut ticker) => {
                    let (Some(plan), Some(timeline)) = (self.sender, timeline) else { continue };
                    if scheduled >= timeline.measure_until {
                        ticker = None;
                        self.finish_sending();
                        continue;
                    }
                    let measured = scheduled >= timeline.measure_from;
                    let scheduled_us = latency::micros_at(scheduled.into_std());
                    let frame = match self.protocol {
                        Protocol::Chat => {
                            let phase = if measured { 'm' } else { 'w' };
                            let text = format!("{phase}:{}:{seq}:{scheduled_us}", plan.id);
                            protocol::send_message(next_ack, &text)
                        }
                        Protocol::Whiteboard => {
                            let mark = Mark { sender: plan.id, seq, scheduled_us };
                            protocol::drawing(next_ack, mark, measured)
                        }
                    };
                    seq += 1;
                    if let Err(error) = socket.send(Message::text(frame)).await {
                        tally.send_errors += u64::from(measured);
                        tally.disconnect = Some(format!("send failed: {error}"));
                        break;
                    }
                    if measured {
                        tally.sent += 1;
                        tally.send_lag.record_since(scheduled_us);
                        self.counters.expected.fetch_add(self.audience, Ordering::Relaxed);
                    }
                    pending.insert(next_ack, (scheduled_us, measured));
                    self.counters.pending_acks.fetch_add(1, Ordering::Relaxed);
                    next_ack += 1;
                }
            }
        }
        self.finish_sending();
        tally.ack_timeouts = pending.values().filter(|(_, measured)| *measured).count() as u64;
        self.counters
            .pending_acks
            .fetch_sub(pending.len() as u64, Ordering::Relaxed);
        if tally.disconnect.is_none() {
            setup::close(socket).await;
        }
        tally
    }

    fn on_ack(&self, args: &str, scheduled_us: u64, measured: bool, tally: &mut Tally) {
        if !measured {
            return;
        }
        tally.ack_latency.record_since(scheduled_us);
        match protocol::ack_error(args) {
            None => tally.acked += 1,
            Some(error) => {
                tally.send_errors += 1;
                tally.first_send_error.get_or_insert(error);
                // A refused message is not broadcast, so nobody should expect it.
                self.counters
                    .expected
                    .fetch_sub(self.audience, Ordering::Relaxed);
            }
        }
    }

    /// Counts this sender as done with its schedule, once.
    fn finish_sending(&mut self) {
        if self.sender.take().is_some() {
            self.counters.senders_done.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Receiver {
    /// Counts one delivery of a measured message or stroke and records its latency.
    fn on_delivery(&mut self, mark: Mark, tally: &mut Tally, counters: &Counters) {
        let Mark {
            sender,
            seq,
            scheduled_us,
        } = mark;
        tally.received += 1;
        counters.received.fetch_add(1, Ordering::Relaxed);
        counters.latency.record_since(scheduled_us);
        match self.last_seq.iter_mut().find(|(id, _)| *id == sender) {
            Some((_, last)) if seq <= *last => tally.out_of_order += 1,
            Some((_, last)) => *last = seq,
            None => self.last_seq.push((sender, seq)),
        }
    }
}

/// The next scheduled send instant, or never when this member does not send.
async fn next_tick(ticker: &mut Option<Interval>) -> Instant {
    match ticker {
        Some(ticker) => ticker.tick().await,
        None => std::future::pending().await,
    }
}
