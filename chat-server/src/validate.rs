//! Checks and cleans what clients send: user and room names, message text, and the shape of
//! the `signin` / `updateSocketId` payloads. Every rejection is a sentence the client can show.

use serde_json::Value;

/// Longest user name, in characters.
pub const MAX_USER_LEN: usize = 32;
/// Longest room name, in characters.
pub const MAX_ROOM_LEN: usize = 64;

/// A validated `{user, room}` pair (plus the `lastId` of `updateSocketId`, if given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub room: String,
    pub last_id: Option<String>,
}

/// Removes control characters; `keep_newlines` keeps `\n` and `\t` (message text may be multi-line).
fn strip_controls(text: &str, keep_newlines: bool) -> String {
    text.chars()
        .filter(|c| !c.is_control() || (keep_newlines && (*c == '\n' || *c == '\t')))
        .collect()
}

/// Cleans a name-like field: control characters dropped, surrounding spaces trimmed, 1..=max chars.
fn clean_name(value: Option<&Value>, field: &str, max: usize) -> Result<String, String> {
    let Some(Value::String(raw)) = value else {
        return Err(format!("{field} must be a string of 1 to {max} characters"));
    };
    let cleaned = strip_controls(raw, false).trim().to_string();
    let len = cleaned.chars().count();
    if len == 0 || len > max {
        return Err(format!("{field} must be 1 to {max} characters (got {len})"));
    }
    Ok(cleaned)
}

/// Validates the payload of `signin` or `updateSocketId`: an object with `user` and `room`
/// strings and, optionally, a `lastId` string (history id of the last message the client saw).
pub fn identity(payload: &Value) -> Result<Identity, String> {
    let Value::Object(fields) = payload else {
        return Err("expected {user, room}: an object with a user name and a room name".into());
    };
    let user = clean_name(fields.get("user"), "user", MAX_USER_LEN)?;
    let room = clean_name(fields.get("room"), "room", MAX_ROOM_LEN)?;
    let last_id = match fields.get("lastId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if is_history_id(id) => Some(id.clone()),
        Some(_) => return Err("lastId must be a message id such as \"1700000000000-0\"".into()),
    };
    Ok(Identity {
        user,
        room,
        last_id,
    })
}

/// Validates the payload of `sendMessage`: a string, 1..=max characters once control
/// characters (other than newline and tab) are stripped and surrounding blanks trimmed.
pub fn message_text(payload: &Value, max: usize) -> Result<String, String> {
    let Value::String(raw) = payload else {
        return Err("sendMessage expects the message text as a string".into());
    };
    // Measure before cleaning too, so a huge payload is not copied just to be refused.
    if raw.len() > max * 4 + 1024 {
        return Err(format!("Message too long: at most {max} characters"));
    }
    let cleaned = strip_controls(raw, true).trim().to_string();
    let len = cleaned.chars().count();
    if len == 0 {
        return Err("Message is empty".into());
    }
    if len > max {
        return Err(format!("Message too long: {len} characters, at most {max}"));
    }
    Ok(cleaned)
}

/// Whether `id` looks like a Redis Stream id (`<ms>-<seq>`), the form every history id takes.
pub fn is_history_id(id: &str) -> bool {
    match id.split_once('-') {
        Some((ms, seq)) => {
            !ms.is_empty()
                && !seq.is_empty()
                && ms.len() <= 20
                && seq.len() <= 20
                && ms.bytes().all(|b| b.is_ascii_digit())
                && seq.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identity_accepts_and_trims_names() {
        let id = identity(&json!({"user": " Ann\u{7}", "room": "lobby"})).unwrap();
        assert_eq!(
            id,
            Identity {
                user: "Ann".into(),
                room: "lobby".into(),
                last_id: None
            }
        );
        let id = identity(&json!({"user": "a", "room": "b", "lastId": "17-3"})).unwrap();
        assert_eq!(id.last_id.as_deref(), Some("17-3"));
    }

    #[test]
    fn identity_rejects_bad_shapes_and_lengths() {
        assert!(identity(&Value::Null).is_err());
        assert!(identity(&json!("Ann")).is_err());
        assert!(identity(&json!({"user": "", "room": "r"})).is_err());
        assert!(identity(&json!({"user": "\u{1b}\u{1b}", "room": "r"})).is_err());
        assert!(identity(&json!({"user": 5, "room": "r"})).is_err());
        assert!(identity(&json!({"user": "a".repeat(33), "room": "r"})).is_err());
        assert!(identity(&json!({"user": "a".repeat(32), "room": "r".repeat(64)})).is_ok());
        assert!(identity(&json!({"user": "a", "room": "r".repeat(65)})).is_err());
        assert!(identity(&json!({"user": "a", "room": "r", "lastId": "x"})).is_err());
        assert!(identity(&json!({"user": "a", "room": "r", "lastId": 3})).is_err());
    }

    #[test]
    fn message_text_counts_characters_after_stripping() {
        assert_eq!(
            message_text(&json!("hi\u{0}\n there"), 10).unwrap(),
            "hi\n there"
        );
        assert_eq!(
            message_text(&json!("é".repeat(10)), 10)
                .unwrap()
                .chars()
                .count(),
            10
        );
        assert!(message_text(&json!("é".repeat(11)), 10).is_err());
        assert!(message_text(&json!("\u{1}\u{2}"), 10).is_err());
        assert!(message_text(&json!({"text": "hi"}), 10).is_err());
        assert!(message_text(&json!(null), 10).is_err());
    }

    #[test]
    fn history_ids_have_the_stream_form() {
        assert!(is_history_id("1700000000000-0"));
        assert!(!is_history_id("1700000000000"));
        assert!(!is_history_id("-1"));
        assert!(!is_history_id("1-a"));
    }
}
