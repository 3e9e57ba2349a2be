//! The NATS board store (BUS=nats), shared by every instance: one JetStream stream, CHAT_BOARDS,
//! with a subject per board, `chat.board.<name in hex>`, capped at WHITEBOARD_LIMIT messages per
//! subject. A message is `{"s": segment}` or `{"clear": <newest sequence it dropped>}`; an
//! entry's id is `0-<stream sequence>`, like chat history's. The same rules as the Redis store:
//! stored (acknowledged by JetStream) before it is relayed, and a client that gives the last id it
//! saw gets what followed, or the whole board when something it never saw was dropped.

use async_nats::jetstream::Context;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::stream::{self, LastRawMessageErrorKind};
use serde::{Deserialize, Serialize};

use crate::store::StoreError;
use crate::store::nats::{
    StreamSpec, bounded, bounded_raw, ensure_stream, id_of, persist, read_subject, sequence_of,
};
use crate::whiteboard::board::{BoardEntry, BoardHistory, EntryKind, Segment};

const BOARDS_STREAM: &str = "CHAT_BOARDS";
const BOARD_SUBJECTS: &str = "chat.board.*";

/// A board message as stored.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Stored {
    Stroke { s: Segment },
    Clear { clear: u64 },
}

/// NATS-backed boards.
#[derive(Clone)]
pub struct NatsBoards {
    js: Context,
    spec: StreamSpec,
    boards: stream::Stream,
}

fn board_subject(board: &str) -> String {
    let hex: String = board.bytes().map(|b| format!("{b:02x}")).collect();
    format!("chat.board.{hex}")
}

impl NatsBoards {
    /// Sets up (or finds) the boards' stream; each board keeps its `limit` newest entries.
    pub async fn open(js: Context, limit: usize) -> Result<Self, StoreError> {
        let spec = StreamSpec {
            name: BOARDS_STREAM,
            subjects: BOARD_SUBJECTS,
            limit: limit.max(1),
        };
        let boards = ensure_stream(&js, spec).await?;
        Ok(Self { js, spec, boards })
    }

    async fn publish(&self, board: &str, stored: &Stored) -> Result<u64, StoreError> {
        let payload = serde_json::to_vec(stored)
            .map_err(|e| StoreError::Corrupt(format!("board entry not serialisable: {e}")))?;
        persist(&self.js, self.spec, board_subject(board), payload.into()).await
    }

    pub async fn append(&self, board: &str, segment: Segment) -> Result<BoardEntry, StoreError> {
        let sequence = self
            .publish(board, &Stored::Stroke { s: segment.clone() })
            .await?;
        Ok(BoardEntry {
            id: id_of(sequence),
            kind: EntryKind::Stroke(segment),
        })
    }

    /// Logs the clear (with the newest entry it drops), then drops every older entry of the
    /// board. A stroke that lands in between is dropped too, and is older than the clear, so
    /// every page wipes it as well.
    pub async fn clear(&self, board: &str) -> Result<BoardEntry, StoreError> {
        let subject = board_subject(board);
        let newest =
            match bounded_raw(self.boards.get_last_raw_message_by_subject(&subject)).await? {
                Ok(message) => message.sequence,
                Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => 0,
                Err(e) => return Err(StoreError::Nats(e.to_string())),
            };
        let sequence = self
            .publish(board, &Stored::Clear { clear: newest })
            .await?;
        if let Err(e) = bounded(
            self.boards
                .purge()
                .filter(subject)
                .sequence(sequence)
                .into_future(),
        )
        .await
        {
            // The clear is logged: every page wipes what came before it all the same.
            tracing::warn!(error = %e, board, "could not drop the strokes a clear replaced");
        }
        Ok(BoardEntry {
            id: id_of(sequence),
            kind: EntryKind::Clear,
        })
    }

    pub async fn since(
        &self,
        board: &str,
        last_id: Option<&str>,
    ) -> Result<BoardHistory, StoreError> {
        let mut stored = read_subject(
            &self.boards,
            board_subject(board),
            DeliverPolicy::All,
            usize::MAX,
        )
        .await?;
        // More than the cap only while another instance runs with a larger one: keep the newest.
        let extra = stored.len().saturating_sub(self.spec.limit);
        stored.drain(..extra);
        let mut entries = Vec::with_capacity(stored.len());
        for (sequence, payload) in stored {
            let stored: Stored = serde_json::from_slice(&payload).map_err(|e| {
                StoreError::Corrupt(format!("board entry {}: {e}", id_of(sequence)))
            })?;
            entries.push((sequence, stored));
        }
        Ok(history_since(entries, last_id.and_then(sequence_of)))
    }
}

/// What a client that last saw `seen` needs, given the board's retained entries (oldest first):
/// the entries after `seen`, or the whole board (reset) when `seen` is unknown, newer than the
/// board, or older than the oldest entry kept, unless that entry is a clear that followed it.
fn history_since(entries: Vec<(u64, Stored)>, seen: Option<u64>) -> BoardHistory {
    let (Some((first, first_entry)), Some((newest, _))) = (entries.first(), entries.last()) else {
        return BoardHistory {
            reset: true,
            entries: Vec::new(),
            last_id: None,
        };
    };
    let newest = *newest;
    let reset = match seen {
        None => true,
        Some(seen) if seen > newest => true,
        Some(seen) if seen < *first => match first_entry {
            Stored::Clear { clear } => seen < *clear,
            Stored::Stroke { .. } => true,
        },
        Some(_) => false,
    };
    let after = if reset { 0 } else { seen.unwrap_or(0) };
    let entries = entries
        .into_iter()
        .filter(|(sequence, _)| *sequence > after)
        .map(|(sequence, stored)| BoardEntry {
            id: id_of(sequence),
            kind: match stored {
                Stored::Stroke { s } => EntryKind::Stroke(s),
                Stored::Clear { .. } => EntryKind::Clear,
            },
        })
        .collect();
    BoardHistory {
        reset,
        entries,
        last_id: Some(id_of(newest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stroke(x: f64) -> Stored {
        Stored::Stroke {
            s: Segment {
                x0: x,
                y0: 0.0,
                x1: x,
                y1: 1.0,
                color: "red".into(),
            },
        }
    }

    fn ids(history: &BoardHistory) -> Vec<&str> {
        history.entries.iter().map(|e| e.id.as_str()).collect()
    }

    #[test]
    fn a_client_gets_what_followed_or_the_whole_board_when_it_missed_dropped_entries() {
        // Sequences 3, 5, 9 kept (1 was dropped by the cap; others are other boards').
        let board = || vec![(3, stroke(0.3)), (5, stroke(0.5)), (9, stroke(0.9))];
        let whole = history_since(board(), None);
        assert!(whole.reset);
        assert_eq!(ids(&whole), ["0-3", "0-5", "0-9"]);
        assert_eq!(whole.last_id.as_deref(), Some("0-9"));
        let caught_up = history_since(board(), Some(5));
        assert!(!caught_up.reset);
        assert_eq!(ids(&caught_up), ["0-9"]);
        assert!(history_since(board(), Some(9)).entries.is_empty());
        assert!(history_since(board(), Some(1)).reset, "1 was dropped");
        assert!(
            history_since(board(), Some(10)).reset,
            "newer than the board"
        );
        let empty = history_since(Vec::new(), Some(3));
        assert!(empty.reset && empty.entries.is_empty() && empty.last_id.is_none());
    }

    #[test]
    fn a_clear_first_in_line_tells_who_saw_everything_it_dropped() {
        let board = || vec![(7, Stored::Clear { clear: 6 }), (8, stroke(0.8))];
        let away = history_since(board(), Some(6));
        assert!(!away.reset, "it saw everything before the clear");
        assert_eq!(ids(&away), ["0-7", "0-8"]);
        assert!(history_since(board(), Some(4)).reset);
    }
}
