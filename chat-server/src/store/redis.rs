//! The Redis store, shared by every instance. Per room (key part = the room name in hex, so
//! no room name can reach outside the `chat:` prefix):
//!   chat:room:<hex>:history   Stream, XADD MAXLEN = HISTORY_LIMIT; ids are the history ids
//!   chat:room:<hex>:sessions  Hash user → live socket count
//!   chat:room:<hex>:epochs    Hash user → join counter
//!   chat:room:<hex>:grace     Hash user → epoch at leave time, while "just left" is pending
//! and one sorted set `chat:pending-leaves` (score = deadline ms) that any instance may claim from.
//! Presence updates are Lua scripts, so concurrent instances see each change whole.

use std::sync::LazyLock;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::streams::{StreamId, StreamRangeReply};
use redis::{AsyncCommands, Script, Value};

use super::{ChatMessage, DueLeave, StoreError, now_ms};
use crate::redis_client::RESPONSE_TIMEOUT;

/// Presence keys expire when a room has been quiet this long (counts of a crashed instance heal).
const PRESENCE_TTL_SECS: u64 = 24 * 3600;
/// The sorted set of pending "just left" notices.
const PENDING_KEY: &str = "chat:pending-leaves";
/// How many due leaves one sweep claims at most.
const CLAIM_BATCH: usize = 100;

const JOIN: &str = r"
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
local returning = redis.call('HDEL', KEYS[3], ARGV[1])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
if n == 1 and returning == 0 then return 1 end
return 0
";

const LEAVE: &str = r"
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n > 0 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
local epoch = redis.call('HGET', KEYS[2], ARGV[1]) or '0'
redis.call('HSET', KEYS[3], ARGV[1], epoch)
redis.call('EXPIRE', KEYS[3], ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[2], cjson.encode({room = ARGV[3], user = ARGV[1], epoch = epoch}))
return 1
";

const CLAIM_DUE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(due) do redis.call('ZREM', KEYS[1], member) end
return due
";

const CONFIRM_LEAVE: &str = r"
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] and redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
return 0
";

static JOIN_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(JOIN));
static LEAVE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(LEAVE));
static CLAIM_DUE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CLAIM_DUE));
static CONFIRM_LEAVE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CONFIRM_LEAVE));

/// A pending leave as stored in the sorted set.
#[derive(serde::Deserialize)]
struct PendingLeave {
    room: String,
    user: String,
    epoch: String,
}

/// Redis-backed history and presence.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    history_limit: usize,
}

/// The key of one of a room's structures: prefix, room name in hex, kind.
fn room_key(room: &str, kind: &str) -> String {
    let hex: String = room.bytes().map(|b| format!("{b:02x}")).collect();
    format!("chat:room:{hex}:{kind}")
}

/// Bounds a Redis call so a hung connection surfaces as an error, not a waiting client.
pub(crate) async fn bounded<T>(
    call: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, StoreError> {
    let limit = RESPONSE_TIMEOUT + Duration::from_millis(500);
    match tokio::time::timeout(limit, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(StoreError::Timeout(limit)),
    }
}

fn field(entry: &StreamId, name: &str) -> Result<String, StoreError> {
    match entry.map.get(name) {
        Some(Value::BulkString(bytes)) => Ok(String::from_utf8_lossy(bytes).into_owned()),
        Some(Value::SimpleString(s)) => Ok(s.clone()),
        other => Err(StoreError::Corrupt(format!(
            "history entry {} field {name}: {other:?}",
            entry.id
        ))),
    }
}

fn to_message(entry: &StreamId) -> Result<ChatMessage, StoreError> {
    Ok(ChatMessage {
        user: field(entry, "user")?,
        text: field(entry, "text")?,
        id: entry.id.clone(),
        ts: field(entry, "ts")?
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("history entry {} ts", entry.id)))?,
    })
}

fn to_messages(reply: StreamRangeReply) -> Result<Vec<ChatMessage>, StoreError> {
    reply.ids.iter().map(to_message).collect()
}

impl RedisStore {
    /// A store over an established connection, keeping `history_limit` messages per room.
    pub fn new(conn: ConnectionManager, history_limit: usize) -> Self {
        Self {
            conn,
            history_limit,
        }
    }

    /// The connection, for other stores that share it (the whiteboard's).
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    pub async fn append(
        &self,
        room: &str,
        user: &str,
        text: &str,
    ) -> Result<ChatMessage, StoreError> {
        let ts = now_ms();
        let mut conn = self.conn.clone();
        let id: String = bounded(
            redis::cmd("XADD")
                .arg(room_key(room, "history"))
                .arg("MAXLEN")
                .arg("=")
                .arg(self.history_limit)
                .arg("*")
                .arg("user")
                .arg(user)
                .arg("text")
                .arg(text)
                .arg("ts")
                .arg(ts)
                .query_async(&mut conn),
        )
        .await?;
        Ok(ChatMessage {
            user: user.into(),
            text: text.into(),
            id,
            ts,
        })
    }

    pub async fn recent(&self, room: &str) -> Result<Vec<ChatMessage>, StoreError> {
        let mut conn = self.conn.clone();
        let reply: StreamRangeReply =
            bounded(conn.xrevrange_count(room_key(room, "history"), "+", "-", self.history_limit))
                .await?;
        let mut messages = to_messages(reply)?;
        messages.reverse();
        Ok(messages)
    }

    pub async fn since(&self, room: &str, last_id: &str) -> Result<Vec<ChatMessage>, StoreError> {
        let mut conn = self.conn.clone();
        let reply: StreamRangeReply = bounded(conn.xrange_count(
            room_key(room, "history"),
            format!("({last_id}"),
            "+",
            self.history_limit,
        ))
        .await?;
        to_messages(reply)
    }

    pub async fn join(&self, room: &str, user: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let mut script = JOIN_SCRIPT.prepare_invoke();
        script
            .key(room_key(room, "sessions"))
            .key(room_key(room, "epochs"))
            .key(room_key(room, "grace"))
            .arg(user)
            .arg(PRESENCE_TTL_SECS);
        let announce: i64 = bounded(script.invoke_async(&mut conn)).await?;
        Ok(announce == 1)
    }

    pub async fn leave(&self, room: &str, user: &str, deadline_ms: u64) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mut script = LEAVE_SCRIPT.prepare_invoke();
        script
            .key(room_key(room, "sessions"))
            .key(room_key(room, "epochs"))
            .key(room_key(room, "grace"))
            .key(PENDING_KEY)
            .arg(user)
            .arg(deadline_ms)
            .arg(room)
            .arg(PRESENCE_TTL_SECS);
        let _: i64 = bounded(script.invoke_async(&mut conn)).await?;
        Ok(())
    }

    pub async fn due_leaves(&self, now_ms: u64) -> Result<Vec<DueLeave>, StoreError> {
        let mut conn = self.conn.clone();
        let mut claim = CLAIM_DUE_SCRIPT.prepare_invoke();
        claim.key(PENDING_KEY).arg(now_ms).arg(CLAIM_BATCH);
        let claimed: Vec<String> = bounded(claim.invoke_async(&mut conn)).await?;
        let mut leaves = Vec::new();
        for member in claimed {
            let Ok(pending) = serde_json::from_str::<PendingLeave>(&member) else {
                tracing::warn!(member, "dropping an unreadable pending leave");
                continue;
            };
            let mut confirm = CONFIRM_LEAVE_SCRIPT.prepare_invoke();
            confirm
                .key(room_key(&pending.room, "sessions"))
                .key(room_key(&pending.room, "grace"))
                .arg(&pending.user)
                .arg(&pending.epoch);
            let gone: i64 = bounded(confirm.invoke_async(&mut conn)).await?;
            if gone == 1 {
                leaves.push(DueLeave {
                    room: pending.room,
                    user: pending.user,
                });
            }
        }
        Ok(leaves)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: String = bounded(redis::cmd("PING").query_async(&mut conn)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::room_key;

    #[test]
    fn room_keys_never_contain_the_raw_name() {
        assert_eq!(room_key("a b", "history"), "chat:room:612062:history");
        assert!(!room_key("x}:{chat:evil", "history").contains("evil"));
    }
}
