//! The in-memory board store of a single instance (no REDISHOST): the same rules as the Redis
//! store, in one mutex-guarded map.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::store::{next_id, now_ms, parse_id};
use crate::whiteboard::board::{BoardEntry, BoardHistory, EntryKind, Segment};

/// One board's log and the bookkeeping that tells whether a client missed dropped entries.
#[derive(Default)]
struct Board {
    entries: VecDeque<BoardEntry>,
    /// Id of the newest entry ever added.
    newest: (u64, u64),
    /// Id of the newest entry dropped (by the cap or a clear).
    dropped: (u64, u64),
}

#[derive(Default)]
struct State {
    boards: HashMap<String, Board>,
    /// Last id handed out, to keep ids strictly increasing even if the clock steps back.
    last_id: (u64, u64),
}

/// In-memory boards, shared by the handlers of this instance.
#[derive(Clone)]
pub struct MemoryBoards {
    state: Arc<Mutex<State>>,
    limit: usize,
}

fn format_id((ms, seq): (u64, u64)) -> String {
    format!("{ms}-{seq}")
}

impl MemoryBoards {
    /// No boards yet; each will keep its `limit` newest entries.
    pub fn new(limit: usize) -> Self {
        Self {
            state: Arc::default(),
            limit: limit.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a board half-updated in a harmful way.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, board: &str, kind: EntryKind) -> BoardEntry {
        let mut state = self.lock();
        let id = next_id(state.last_id, now_ms());
        state.last_id = id;
        let entry = BoardEntry {
            id: format_id(id),
            kind,
        };
        let log = state.boards.entry(board.to_string()).or_default();
        if entry.kind == EntryKind::Clear {
            log.entries.clear();
            log.dropped = log.newest;
        }
        log.entries.push_back(entry.clone());
        log.newest = id;
        while log.entries.len() > self.limit {
            if let Some(dropped) = log.entries.pop_front() {
                log.dropped = parse_id(&dropped.id).unwrap_or(log.dropped);
            }
        }
        entry
    }

    pub fn append(&self, board: &str, segment: Segment) -> BoardEntry {
        self.push(board, EntryKind::Stroke(segment))
    }

    pub fn clear(&self, board: &str) -> BoardEntry {
        self.push(board, EntryKind::Clear)
    }

    pub fn since(&self, board: &str, last_id: Option<&str>) -> BoardHistory {
        let state = self.lock();
        let Some(log) = state.boards.get(board) else {
            return BoardHistory {
                reset: true,
                entries: Vec::new(),
                last_id: None,
            };
        };
        let after = last_id
            .and_then(parse_id)
            .filter(|seen| *seen >= log.dropped && *seen <= log.newest);
        let entries = log
            .entries
            .iter()
            .filter(|e| match after {
                None => true,
                Some(seen) => parse_id(&e.id).is_some_and(|id| id > seen),
            })
            .cloned()
            .collect();
        BoardHistory {
            reset: after.is_none(),
            entries,
            last_id: Some(format_id(log.newest)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(x: f64) -> Segment {
        Segment {
            x0: x,
            y0: 0.0,
            x1: x,
            y1: 1.0,
            color: "red".into(),
        }
    }

    fn xs(history: &BoardHistory) -> Vec<Option<f64>> {
        history
            .entries
            .iter()
            .map(|e| match &e.kind {
                EntryKind::Stroke(s) => Some(s.x0),
                EntryKind::Clear => None,
            })
            .collect()
    }

    #[test]
    fn a_board_is_capped_and_a_client_that_missed_dropped_strokes_gets_it_whole() {
        let boards = MemoryBoards::new(3);
        let ids: Vec<String> = (0..5)
            .map(|i| boards.append("b", segment(f64::from(i) / 10.0)).id)
            .collect();
        let whole = boards.since("b", None);
        assert!(whole.reset);
        assert_eq!(xs(&whole), [Some(0.2), Some(0.3), Some(0.4)]);
        assert_eq!(whole.last_id.as_deref(), Some(ids[4].as_str()));
        let caught_up = boards.since("b", Some(&ids[2]));
        assert!(!caught_up.reset);
        assert_eq!(xs(&caught_up), [Some(0.3), Some(0.4)]);
        let missed = boards.since("b", Some(&ids[0]));
        assert!(
            missed.reset,
            "stroke 1 was dropped: the client needs the whole board"
        );
        assert_eq!(xs(&missed), [Some(0.2), Some(0.3), Some(0.4)]);
        assert!(boards.since("b", Some("99999999999999-0")).reset);
        assert!(boards.since("other", Some(&ids[4])).reset);
    }

    #[test]
    fn a_clear_drops_older_strokes_and_reaches_clients_that_were_away() {
        let boards = MemoryBoards::new(10);
        let first = boards.append("b", segment(0.1)).id;
        let second = boards.append("b", segment(0.2)).id;
        let clear = boards.clear("b");
        boards.append("b", segment(0.3));
        assert_eq!(xs(&boards.since("b", None)), [None, Some(0.3)]);
        let away = boards.since("b", Some(&second));
        assert!(!away.reset, "it saw everything before the clear");
        assert_eq!(xs(&away), [None, Some(0.3)]);
        assert!(boards.since("b", Some(&first)).reset);
        assert!(!boards.since("b", Some(&clear.id)).reset);
    }
}
