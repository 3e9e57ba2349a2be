//! The in-memory store: history and presence of a single instance (no REDISHOST). Same rules
//! as the Redis store, held in one mutex-guarded map.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{ChatMessage, DueLeave, next_id, now_ms, parse_id};

/// Presence of one user in one room.
#[derive(Default)]
struct Presence {
    /// Live sockets.
    sessions: u32,
    /// Bumped on every join, so a stale pending leave can tell it was overtaken.
    epoch: u64,
    /// Set while the user is gone but within the grace period: the epoch at leave time.
    grace: Option<u64>,
}

struct PendingLeave {
    deadline_ms: u64,
    room: String,
    user: String,
    epoch: u64,
}

#[derive(Default)]
struct State {
    history: HashMap<String, VecDeque<ChatMessage>>,
    presence: HashMap<(String, String), Presence>,
    pending: Vec<PendingLeave>,
    /// Last id handed out, to keep ids strictly increasing even if the clock steps back.
    last_id: (u64, u64),
}

/// In-memory history and presence, shared by the handlers of this instance.
#[derive(Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    history_limit: usize,
}

impl MemoryStore {
    /// An empty store keeping `history_limit` messages per room.
    pub fn new(history_limit: usize) -> Self {
        Self {
            state: Arc::default(),
            history_limit,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a harmful way.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn append(&self, room: &str, user: &str, text: &str) -> ChatMessage {
        let mut state = self.lock();
        let ts = now_ms();
        let id = next_id(state.last_id, ts);
        state.last_id = id;
        let message = ChatMessage {
            user: user.to_string(),
            text: text.to_string(),
            id: format!("{}-{}", id.0, id.1),
            ts,
        };
        let log = state.history.entry(room.to_string()).or_default();
        log.push_back(message.clone());
        while log.len() > self.history_limit {
            log.pop_front();
        }
        message
    }

    pub fn recent(&self, room: &str) -> Vec<ChatMessage> {
        self.lock()
            .history
            .get(room)
            .map(|log| log.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn since(&self, room: &str, last_id: &str) -> Vec<ChatMessage> {
        let Some(after) = parse_id(last_id) else {
            return Vec::new();
        };
        let state = self.lock();
        let Some(log) = state.history.get(room) else {
            return Vec::new();
        };
        log.iter()
            .filter(|m| parse_id(&m.id).is_some_and(|id| id > after))
            .cloned()
            .collect()
    }

    pub fn join(&self, room: &str, user: &str) -> bool {
        let mut state = self.lock();
        let presence = state
            .presence
            .entry((room.to_string(), user.to_string()))
            .or_default();
        presence.sessions += 1;
        presence.epoch += 1;
        let returning = presence.grace.take().is_some();
        presence.sessions == 1 && !returning
    }

    pub fn leave(&self, room: &str, user: &str, deadline_ms: u64) {
        let mut state = self.lock();
        let key = (room.to_string(), user.to_string());
        let Some(presence) = state.presence.get_mut(&key) else {
            return;
        };
        presence.sessions = presence.sessions.saturating_sub(1);
        if presence.sessions > 0 {
            return;
        }
        presence.grace = Some(presence.epoch);
        let epoch = presence.epoch;
        state.pending.push(PendingLeave {
            deadline_ms,
            room: key.0,
            user: key.1,
            epoch,
        });
    }

    pub fn due_leaves(&self, now_ms: u64) -> Vec<DueLeave> {
        let mut state = self.lock();
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut state.pending)
            .into_iter()
            .partition(|p| p.deadline_ms <= now_ms);
        state.pending = waiting;
        let mut leaves = Vec::new();
        for pending in due {
            let key = (pending.room, pending.user);
            let still_gone = state
                .presence
                .get(&key)
                .is_some_and(|p| p.sessions == 0 && p.grace == Some(pending.epoch));
            if still_gone {
                state.presence.remove(&key);
                leaves.push(DueLeave {
                    room: key.0,
                    user: key.1,
                });
            }
        }
        leaves
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_capped_ordered_and_replayable() {
        let store = MemoryStore::new(3);
        let ids: Vec<String> = (0..5)
            .map(|i| store.append("r", "u", &i.to_string()).id)
            .collect();
        let recent = store.recent("r");
        assert_eq!(
            recent.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
            ["2", "3", "4"]
        );
        let since = store.since("r", &ids[2]);
        assert_eq!(
            since.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
            ["3", "4"]
        );
        assert!(store.recent("other").is_empty());
    }

    #[test]
    fn a_return_within_grace_is_silent_and_a_real_leave_is_due_once() {
        let store = MemoryStore::new(10);
        assert!(store.join("r", "ann"), "first arrival is announced");
        store.leave("r", "ann", 100);
        assert!(
            !store.join("r", "ann"),
            "coming back within grace is silent"
        );
        assert!(
            store.due_leaves(200).is_empty(),
            "the overtaken leave is dropped"
        );
        store.leave("r", "ann", 300);
        assert!(
            store.due_leaves(299).is_empty(),
            "not due before the deadline"
        );
        assert_eq!(
            store.due_leaves(300),
            [DueLeave {
                room: "r".into(),
                user: "ann".into()
            }]
        );
        assert!(store.due_leaves(400).is_empty());
        assert!(
            store.join("r", "ann"),
            "after the leave was announced, a join is announced again"
        );
    }

    #[test]
    fn two_tabs_leave_only_when_both_are_gone() {
        let store = MemoryStore::new(10);
        assert!(store.join("r", "bob"));
        assert!(!store.join("r", "bob"));
        store.leave("r", "bob", 10);
        assert!(store.due_leaves(100).is_empty());
        store.leave("r", "bob", 20);
        assert_eq!(store.due_leaves(100).len(), 1);
    }
}
