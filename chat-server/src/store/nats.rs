//! The NATS store (BUS=nats), shared by every instance through JetStream. Names (a room or user
//! in hex, so no name can reach outside its subject or key):
//!   stream CHAT_HISTORY   subjects chat.history.<room>, at most HISTORY_LIMIT messages per
//!                         subject (older ones dropped); a message is `{user, text, ts}` and its
//!                         history id is `0-<stream sequence>`, so ids of a room only grow
//!   KV chat-presence      key <room>.<user> → `{sessions, epoch, grace}`
//!   KV chat-leaves        key <room>.<user>.<epoch> → a pending "just left", claimed by deleting
//!                         it at its revision (exactly one instance wins)
//! A message is answered only once JetStream has acknowledged it: persisted before the ack, as
//! with Redis. Presence changes are compare-and-set on the key's revision (retried), so
//! concurrent instances see each change whole, as the Redis store's Lua scripts make them.

use std::future::Future;
use std::time::Duration;

use async_nats::Client;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind};
use async_nats::jetstream::stream::{self, DiscardPolicy, StorageType};
use async_nats::jetstream::{self, Context};
use bytes::Bytes;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{ChatMessage, DueLeave, StoreError, now_ms, parse_id};
use crate::nats_client::RESPONSE_TIMEOUT;

/// The stream of every room's history.
const HISTORY_STREAM: &str = "CHAT_HISTORY";
const HISTORY_SUBJECTS: &str = "chat.history.*";
const PRESENCE_BUCKET: &str = "chat-presence";
const LEAVES_BUCKET: &str = "chat-leaves";
/// Presence entries expire when untouched this long (counts of a crashed instance heal).
const PRESENCE_TTL: Duration = Duration::from_secs(24 * 3600);
/// How often a compare-and-set is retried when another instance changed the key meanwhile.
const CAS_ATTEMPTS: usize = 50;
/// How many pending leaves one sweep looks at, and claims, at most.
const CLAIM_BATCH: usize = 100;
/// How long the server keeps a read's ephemeral consumer if it is not deleted.
const READER_IDLE: Duration = Duration::from_secs(10);

/// Presence of one user in one room (the same fields as the Redis and memory stores keep).
#[derive(Clone, Copy, Default, Serialize, Deserialize)]
struct Presence {
    sessions: u32,
    epoch: u64,
    grace: Option<u64>,
}

#[derive(Serialize, Deserialize)]
struct PendingLeave {
    room: String,
    user: String,
    epoch: u64,
    deadline_ms: u64,
}

/// A stored message: the history id comes from its stream sequence.
#[derive(Serialize, Deserialize)]
struct Stored {
    user: String,
    text: String,
    ts: u64,
}

/// NATS-backed history and presence.
#[derive(Clone)]
pub struct NatsStore {
    client: Client,
    js: Context,
    history_spec: StreamSpec,
    history: stream::Stream,
    presence: kv::Store,
    leaves: kv::Store,
    history_limit: usize,
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn history_subject(room: &str) -> String {
    format!("chat.history.{}", hex(room))
}

/// A history or board id for a stream sequence.
pub(crate) fn id_of(sequence: u64) -> String {
    format!("0-{sequence}")
}

/// The stream sequence an id names; an id of another form (a Redis id) names none.
pub(crate) fn sequence_of(id: &str) -> Option<u64> {
    match parse_id(id)? {
        (0, sequence) => Some(sequence),
        _ => None,
    }
}

/// Bounds a NATS call so a lost connection surfaces as an error, not a waiting client.
pub(crate) async fn bounded<T, E: std::fmt::Display>(
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, StoreError> {
    let limit = RESPONSE_TIMEOUT + Duration::from_millis(500);
    match tokio::time::timeout(limit, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(StoreError::Nats(e.to_string())),
        Err(_) => Err(StoreError::Nats(format!("no answer within {limit:?}"))),
    }
}

/// A stream the store writes to: its name, its subjects and the cap per subject.
#[derive(Clone, Copy)]
pub(crate) struct StreamSpec {
    pub name: &'static str,
    pub subjects: &'static str,
    pub limit: usize,
}

/// Creates the stream, or brings its per-subject cap to the spec's (the last instance to start
/// sets it), and returns its handle.
pub(crate) async fn ensure_stream(
    js: &Context,
    spec: StreamSpec,
) -> Result<stream::Stream, StoreError> {
    let config = stream::Config {
        name: spec.name.into(),
        subjects: vec![spec.subjects.into()],
        max_messages_per_subject: i64::try_from(spec.limit).unwrap_or(i64::MAX),
        storage: StorageType::File,
        discard: DiscardPolicy::Old,
        allow_direct: true,
        num_replicas: 1,
        ..Default::default()
    };
    bounded(js.create_or_update_stream(config)).await?;
    bounded(js.get_stream(spec.name)).await
}

/// Publishes `payload` on `subject` and waits until JetStream has stored it; returns its stream
/// sequence. A stream that is gone (a NATS server that lost its store) is created again, once.
pub(crate) async fn persist(
    js: &Context,
    spec: StreamSpec,
    subject: String,
    payload: Bytes,
) -> Result<u64, StoreError> {
    let publish = || async { js.publish(subject.clone(), payload.clone()).await?.await };
    match bounded_raw(publish()).await? {
        Ok(ack) => return Ok(ack.sequence),
        Err(e) if e.kind() == PublishErrorKind::StreamNotFound => {
            tracing::warn!(
                stream = spec.name,
                "JetStream stream missing (did NATS lose its store?): creating it again"
            );
            ensure_stream(js, spec).await?;
        }
        Err(e) => return Err(StoreError::Nats(e.to_string())),
    }
    bounded(publish()).await.map(|ack| ack.sequence)
}

/// Creates (or finds) a key-value bucket, one value per key, entries expiring after `max_age`.
/// Its stream is set up here as async-nats' `create_key_value` would (name, subjects, rollups,
/// direct get): that call first asks for the account's JetStream info, and async-nats cannot
/// read nats-server 2.9's answer to it.
async fn ensure_bucket(
    js: &Context,
    bucket: &str,
    max_age: Duration,
) -> Result<kv::Store, StoreError> {
    let config = stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age,
        storage: StorageType::File,
        discard: DiscardPolicy::New,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        num_replicas: 1,
        ..Default::default()
    };
    bounded(js.create_or_update_stream(config)).await?;
    bounded(js.get_key_value(bucket)).await
}

/// The messages of `subject` from `from` on, oldest first, at most `max` (those present when
/// the read began), with their stream sequences.
pub(crate) async fn read_subject(
    stream: &stream::Stream,
    subject: String,
    from: DeliverPolicy,
    max: usize,
) -> Result<Vec<(u64, Bytes)>, StoreError> {
    let consumer: PullConsumer = bounded(stream.create_consumer(pull::Config {
        filter_subject: subject,
        deliver_policy: from,
        ack_policy: AckPolicy::None,
        inactive_threshold: READER_IDLE,
        memory_storage: true,
        ..Default::default()
    }))
    .await?;
    let wanted = usize::try_from(consumer.cached_info().num_pending)
        .unwrap_or(usize::MAX)
        .min(max);
    let mut messages = Vec::with_capacity(wanted.min(10_000));
    if wanted > 0 {
        let limit = RESPONSE_TIMEOUT + Duration::from_millis(500);
        let read = async {
            let mut batch = consumer
                .fetch()
                .max_messages(wanted)
                .messages()
                .await
                .map_err(|e| StoreError::Nats(e.to_string()))?;
            while messages.len() < wanted {
                let Some(message) = batch.next().await else {
                    break;
                };
                let message = message.map_err(|e| StoreError::Nats(e.to_string()))?;
                let sequence = message
                    .info()
                    .map_err(|e| StoreError::Nats(e.to_string()))?
                    .stream_sequence;
                messages.push((sequence, message.payload.clone()));
            }
            Ok::<_, StoreError>(())
        };
        match tokio::time::timeout(limit, read).await {
            Ok(result) => result?,
            Err(_) => return Err(StoreError::Nats(format!("no answer within {limit:?}"))),
        }
    }
    // The server would drop the consumer after READER_IDLE anyway; sooner keeps it tidy.
    let name = consumer.cached_info().name.clone();
    let stream = stream.clone();
    tokio::spawn(async move {
        let _ = tokio::time::timeout(RESPONSE_TIMEOUT, stream.delete_consumer(&name)).await;
    });
    Ok(messages)
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Result<Bytes, StoreError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Reads `key`, lets `decide` say what it becomes (None: leave it) and what to return, and
/// writes it only if no other instance changed it meanwhile; otherwise starts over (bounded).
async fn change<T, R>(
    bucket: &kv::Store,
    key: &str,
    decide: impl Fn(Option<T>) -> (Option<T>, R),
) -> Result<R, StoreError>
where
    T: Serialize + DeserializeOwned,
{
    for _ in 0..CAS_ATTEMPTS {
        let entry = bounded(bucket.entry(key)).await?;
        let (revision, current) = match entry {
            Some(entry) if entry.operation == Operation::Put => {
                (Some(entry.revision), Some(decode(&entry.value, key)?))
            }
            Some(entry) => (Some(entry.revision), None),
            None => (None, None),
        };
        let (next, result) = decide(current);
        let Some(next) = next else {
            return Ok(result);
        };
        let value = encode(&next)?;
        let raced = match revision {
            Some(revision) => match bounded_raw(bucket.update(key, value, revision)).await? {
                Ok(_) => false,
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => true,
                Err(e) => return Err(StoreError::Nats(e.to_string())),
            },
            None => match bounded_raw(bucket.create(key, value)).await? {
                Ok(_) => false,
                Err(e) if e.kind() == CreateErrorKind::AlreadyExists => true,
                Err(e) => return Err(StoreError::Nats(e.to_string())),
            },
        };
        if !raced {
            return Ok(result);
        }
    }
    Err(StoreError::Nats(format!(
        "{key} kept changing under {CAS_ATTEMPTS} attempts"
    )))
}

/// Like [`bounded`], but hands the call's own error back for the caller to look at.
pub(crate) async fn bounded_raw<T>(call: impl Future<Output = T>) -> Result<T, StoreError> {
    let limit = RESPONSE_TIMEOUT + Duration::from_millis(500);
    tokio::time::timeout(limit, call)
        .await
        .map_err(|_| StoreError::Nats(format!("no answer within {limit:?}")))
}

impl NatsStore {
    /// Sets up (or finds) the history stream and the presence buckets.
    pub async fn open(client: Client, history_limit: usize) -> Result<Self, StoreError> {
        let js = jetstream::new(client.clone());
        let history_spec = StreamSpec {
            name: HISTORY_STREAM,
            subjects: HISTORY_SUBJECTS,
            limit: history_limit,
        };
        let history = ensure_stream(&js, history_spec).await?;
        let presence = ensure_bucket(&js, PRESENCE_BUCKET, PRESENCE_TTL).await?;
        let leaves = ensure_bucket(&js, LEAVES_BUCKET, PRESENCE_TTL).await?;
        Ok(Self {
            client,
            js,
            history_spec,
            history,
            presence,
            leaves,
            history_limit,
        })
    }

    /// The JetStream context, for other stores that share it (the whiteboard's).
    pub fn jetstream(&self) -> Context {
        self.js.clone()
    }

    pub async fn append(
        &self,
        room: &str,
        user: &str,
        text: &str,
    ) -> Result<ChatMessage, StoreError> {
        let ts = now_ms();
        let payload = encode(&Stored {
            user: user.into(),
            text: text.into(),
            ts,
        })?;
        let sequence = persist(&self.js, self.history_spec, history_subject(room), payload).await?;
        Ok(ChatMessage {
            user: user.into(),
            text: text.into(),
            id: id_of(sequence),
            ts,
        })
    }

    fn to_messages(stored: Vec<(u64, Bytes)>) -> Result<Vec<ChatMessage>, StoreError> {
        stored
            .into_iter()
            .map(|(sequence, payload)| {
                let stored: Stored = decode(&payload, "history message")?;
                Ok(ChatMessage {
                    user: stored.user,
                    text: stored.text,
                    id: id_of(sequence),
                    ts: stored.ts,
                })
            })
            .collect()
    }

    pub async fn recent(&self, room: &str) -> Result<Vec<ChatMessage>, StoreError> {
        // The stream keeps at most HISTORY_LIMIT per room; more only if another instance runs
        // with a larger limit: keep the newest.
        let mut stored = read_subject(
            &self.history,
            history_subject(room),
            DeliverPolicy::All,
            usize::MAX,
        )
        .await?;
        let extra = stored.len().saturating_sub(self.history_limit);
        stored.drain(..extra);
        Self::to_messages(stored)
    }

    pub async fn since(&self, room: &str, last_id: &str) -> Result<Vec<ChatMessage>, StoreError> {
        // An id that is not ours (from another bus) replays everything kept rather than nothing.
        let from = match sequence_of(last_id) {
            Some(sequence) => DeliverPolicy::ByStartSequence {
                start_sequence: sequence.saturating_add(1),
            },
            None => DeliverPolicy::All,
        };
        let stored = read_subject(
            &self.history,
            history_subject(room),
            from,
            self.history_limit,
        )
        .await?;
        Self::to_messages(stored)
    }

    fn presence_key(room: &str, user: &str) -> String {
        format!("{}.{}", hex(room), hex(user))
    }

    pub async fn join(&self, room: &str, user: &str) -> Result<bool, StoreError> {
        change(
            &self.presence,
            &Self::presence_key(room, user),
            |current: Option<Presence>| {
                let mut presence = current.unwrap_or_default();
                presence.sessions += 1;
                presence.epoch += 1;
                let returning = presence.grace.take().is_some();
                let announce = presence.sessions == 1 && !returning;
                (Some(presence), announce)
            },
        )
        .await
    }

    pub async fn leave(&self, room: &str, user: &str, deadline_ms: u64) -> Result<(), StoreError> {
        let pending_epoch = change(
            &self.presence,
            &Self::presence_key(room, user),
            |current: Option<Presence>| {
                let mut presence = current.unwrap_or_default();
                if presence.sessions > 1 {
                    presence.sessions -= 1;
                    return (Some(presence), None);
                }
                presence.sessions = 0;
                presence.grace = Some(presence.epoch);
                (Some(presence), Some(presence.epoch))
            },
        )
        .await?;
        let Some(epoch) = pending_epoch else {
            return Ok(());
        };
        let pending = encode(&PendingLeave {
            room: room.into(),
            user: user.into(),
            epoch,
            deadline_ms,
        })?;
        let key = format!("{}.{epoch}", Self::presence_key(room, user));
        bounded(self.leaves.put(key, pending)).await?;
        Ok(())
    }

    pub async fn due_leaves(&self, now_ms: u64) -> Result<Vec<DueLeave>, StoreError> {
        let keys: Vec<String> = bounded(async {
            let keys = self.leaves.keys().await?;
            Ok::<_, async_nats::Error>(
                keys.take(CLAIM_BATCH)
                    .filter_map(|key| async move { key.ok() })
                    .collect::<Vec<String>>()
                    .await,
            )
        })
        .await?;
        let mut leaves = Vec::new();
        for key in keys {
            let Some(entry) = bounded(self.leaves.entry(key.as_str())).await? else {
                continue;
            };
            if entry.operation != Operation::Put {
                continue;
            }
            let Ok(pending) = decode::<PendingLeave>(&entry.value, "pending leave") else {
                tracing::warn!(key, "dropping an unreadable pending leave");
                let _ = bounded(self.leaves.delete(key.as_str())).await;
                continue;
            };
            if pending.deadline_ms > now_ms {
                continue;
            }
            // Deleting at the revision read is the claim: one instance succeeds.
            let claimed = bounded_raw(
                self.leaves
                    .delete_expect_revision(key.as_str(), Some(entry.revision)),
            )
            .await?;
            if claimed.is_err() {
                continue;
            }
            let gone = change(
                &self.presence,
                &Self::presence_key(&pending.room, &pending.user),
                |current: Option<Presence>| match current {
                    Some(mut presence)
                        if presence.sessions == 0 && presence.grace == Some(pending.epoch) =>
                    {
                        presence.grace = None;
                        (Some(presence), true)
                    }
                    _ => (None, false),
                },
            )
            .await?;
            if gone {
                leaves.push(DueLeave {
                    room: pending.room,
                    user: pending.user,
                });
            }
        }
        Ok(leaves)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        crate::nats_client::ping(&self.client, RESPONSE_TIMEOUT)
            .await
            .map_err(StoreError::Nats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_the_stream_sequence_and_names_stay_inside_their_subject() {
        assert_eq!(id_of(42), "0-42");
        assert_eq!(sequence_of("0-42"), Some(42));
        assert_eq!(sequence_of("1700000000000-0"), None);
        assert_eq!(history_subject("a.b *>"), "chat.history.612e62202a3e");
    }
}
