//! The Redis board store, shared by every instance. One Stream per board,
//! `chat:board:<name>:strokes` (board names are limited to URL-safe characters, so the name
//! itself is the key part), trimmed to WHITEBOARD_LIMIT entries on every XADD. An entry has
//! the field `s` (the segment as JSON) or `clear` (the newest id the clear dropped). Clearing
//! and reading are Lua scripts, so concurrent instances see each change whole.

use std::sync::LazyLock;

use redis::Script;
use redis::aio::ConnectionManager;
use redis::streams::{StreamId, StreamRangeReply};

use crate::store::StoreError;
use crate::store::redis::bounded;
use crate::whiteboard::board::{BoardEntry, BoardHistory, EntryKind, Segment};

/// Drops every entry but keeps the stream (so its ids keep growing), then logs the clear with
/// the newest id it dropped: a client that saw up to that id only needs what follows.
const CLEAR: &str = r"
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
local before = newest and newest[1] or '0-0'
redis.call('XTRIM', KEYS[1], 'MAXLEN', 0)
return redis.call('XADD', KEYS[1], 'MAXLEN', '=', ARGV[1], '*', 'clear', before)
";

/// Returns {reset, newest id, entries}: the entries after ARGV[1], or the whole board (reset = 1)
/// when ARGV[1] is empty, unknown to this stream, or older than the oldest entry kept, unless
/// that entry is a clear that followed ARGV[1]. (The cap's trimming does not tell which ids it
/// dropped, so a client whose last seen entry was itself trimmed also gets the whole board.)
const SINCE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return {1, '', {}} end
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function older(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end
local seen = ARGV[1]
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
local newest_id = newest and newest[1] or ''
local reset = seen == '' or newest_id == '' or older(newest_id, seen)
if not reset and first and older(seen, first[1]) then
  local fields = first[2]
  local cleared_after = fields[1] == 'clear' and fields[2] or nil
  reset = not cleared_after or older(seen, cleared_after)
end
local entries
if reset then
  entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', ARGV[2])
else
  entries = redis.call('XRANGE', KEYS[1], '(' .. seen, '+', 'COUNT', ARGV[2])
end
return {reset and 1 or 0, newest_id, entries}
";

static CLEAR_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CLEAR));
static SINCE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(SINCE));

/// Redis-backed boards.
#[derive(Clone)]
pub struct RedisBoards {
    conn: ConnectionManager,
    limit: usize,
}

fn board_key(board: &str) -> String {
    format!("chat:board:{board}:strokes")
}

fn to_entry(entry: &StreamId) -> Result<BoardEntry, StoreError> {
    if entry.map.contains_key("clear") {
        return Ok(BoardEntry {
            id: entry.id.clone(),
            kind: EntryKind::Clear,
        });
    }
    let segment = entry
        .get::<String>("s")
        .and_then(|json| serde_json::from_str::<Segment>(&json).ok())
        .ok_or_else(|| StoreError::Corrupt(format!("board entry {} has no segment", entry.id)))?;
    Ok(BoardEntry {
        id: entry.id.clone(),
        kind: EntryKind::Stroke(segment),
    })
}

impl RedisBoards {
    /// Boards over an established connection, each keeping its `limit` newest entries.
    pub fn new(conn: ConnectionManager, limit: usize) -> Self {
        Self {
            conn,
            limit: limit.max(1),
        }
    }

    pub async fn append(&self, board: &str, segment: Segment) -> Result<BoardEntry, StoreError> {
        let json = serde_json::to_string(&segment)
            .map_err(|e| StoreError::Corrupt(format!("segment not serialisable: {e}")))?;
        let mut conn = self.conn.clone();
        let id: String = bounded(
            redis::cmd("XADD")
                .arg(board_key(board))
                .arg("MAXLEN")
                .arg("=")
                .arg(self.limit)
                .arg("*")
                .arg("s")
                .arg(json)
                .query_async(&mut conn),
        )
        .await?;
        Ok(BoardEntry {
            id,
            kind: EntryKind::Stroke(segment),
        })
    }

    pub async fn clear(&self, board: &str) -> Result<BoardEntry, StoreError> {
        let mut conn = self.conn.clone();
        let mut script = CLEAR_SCRIPT.prepare_invoke();
        script.key(board_key(board)).arg(self.limit);
        let id: String = bounded(script.invoke_async(&mut conn)).await?;
        Ok(BoardEntry {
            id,
            kind: EntryKind::Clear,
        })
    }

    pub async fn since(
        &self,
        board: &str,
        last_id: Option<&str>,
    ) -> Result<BoardHistory, StoreError> {
        let mut conn = self.conn.clone();
        let mut script = SINCE_SCRIPT.prepare_invoke();
        script
            .key(board_key(board))
            .arg(last_id.unwrap_or(""))
            .arg(self.limit);
        let (reset, newest, entries): (i64, String, StreamRangeReply) =
            bounded(script.invoke_async(&mut conn)).await?;
        Ok(BoardHistory {
            reset: reset == 1,
            entries: entries.ids.iter().map(to_entry).collect::<Result<_, _>>()?,
            last_id: (!newest.is_empty()).then_some(newest),
        })
    }
}
