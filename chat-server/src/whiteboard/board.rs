//! What a whiteboard is made of and what clients may send: board names, line segments (the
//! socket.io whiteboard example's `{x0, y0, x1, y1, color}`), and the entries of a board's log.
//! Every rejection is a sentence the client can show.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The board of a client that names none: the socket.io example's page and `/whiteboard`.
pub const DEFAULT_BOARD: &str = "default";
/// Longest board name, in characters.
pub const MAX_BOARD_LEN: usize = 64;
/// The example page's palette; any other colour must be `#rrggbb`.
pub const PALETTE: [&str; 5] = ["black", "red", "green", "blue", "yellow"];

/// One line segment, coordinates normalised to 0..1 of the canvas (so any window size fits).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
    pub color: String,
}

/// One entry of a board's log, with its id (`<ms>-<seq>`, ordered like chat history ids).
#[derive(Clone, Debug, PartialEq)]
pub struct BoardEntry {
    pub id: String,
    pub kind: EntryKind,
}

/// A segment drawn, or the board wiped.
#[derive(Clone, Debug, PartialEq)]
pub enum EntryKind {
    Stroke(Segment),
    Clear,
}

impl BoardEntry {
    /// The wire form: a stroke is the example's `drawing` payload plus `id`; a clear is
    /// `{clear: true, id}`.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            EntryKind::Stroke(s) => json!({
                "x0": s.x0, "y0": s.y0, "x1": s.x1, "y1": s.y1, "color": s.color, "id": self.id,
            }),
            EntryKind::Clear => json!({"clear": true, "id": self.id}),
        }
    }
}

/// What a page needs to draw a board, or to catch up after a reconnect.
#[derive(Clone, Debug, PartialEq)]
pub struct BoardHistory {
    /// True when the entries are the whole board (wipe the canvas first), false when they only
    /// follow the `lastId` the client gave.
    pub reset: bool,
    /// Oldest first.
    pub entries: Vec<BoardEntry>,
    /// The newest id of the board when it was read (None for a board never drawn on): every live
    /// event with an id up to this one is already in `entries` or before them.
    pub last_id: Option<String>,
}

impl BoardHistory {
    pub fn to_json(&self, board: &str) -> Value {
        json!({
            "board": board,
            "reset": self.reset,
            "lastId": self.last_id,
            "entries": self.entries.iter().map(BoardEntry::to_json).collect::<Vec<_>>(),
        })
    }
}

/// Validates a board name: 1 to 64 ASCII letters, digits, `-`, `_` or `.` (it travels in URLs).
pub fn board_name(value: &Value) -> Result<String, String> {
    let rule = format!(
        "a board name is 1 to {MAX_BOARD_LEN} letters, digits, '-', '_' or '.' (e.g. \"standup\")"
    );
    let Value::String(name) = value else {
        return Err(rule);
    };
    let valid = !name.is_empty()
        && name.len() <= MAX_BOARD_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid { Ok(name.clone()) } else { Err(rule) }
}

/// Validates a `drawing` payload: finite coordinates in [0, 1] and a palette colour or
/// `#rrggbb`. Unknown extra fields are ignored (and not passed on).
pub fn segment(payload: &Value) -> Result<Segment, String> {
    let Value::Object(fields) = payload else {
        return Err(
            "drawing expects {x0, y0, x1, y1, color}: coordinates from 0 to 1 and a colour".into(),
        );
    };
    let coordinate = |name: &str| match fields.get(name).and_then(Value::as_f64) {
        Some(v) if v.is_finite() && (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "{name} must be a number from 0 to 1 (a fraction of the canvas size)"
        )),
    };
    let color = match fields.get("color") {
        Some(Value::String(c)) if is_color(c) => c.to_ascii_lowercase(),
        _ => {
            return Err(format!(
                "color must be one of {} or #rrggbb",
                PALETTE.join(", ")
            ));
        }
    };
    Ok(Segment {
        x0: coordinate("x0")?,
        y0: coordinate("y0")?,
        x1: coordinate("x1")?,
        y1: coordinate("y1")?,
        color,
    })
}

fn is_color(color: &str) -> bool {
    if PALETTE.contains(&color) {
        return true;
    }
    color.len() == 7 && color.starts_with('#') && color[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_need_finite_unit_coordinates_and_a_known_colour() {
        let ok = json!({"x0": 0, "y0": 0.5, "x1": 1, "y1": 0.25, "color": "red", "extra": 1});
        assert_eq!(
            segment(&ok).unwrap(),
            Segment {
                x0: 0.0,
                y0: 0.5,
                x1: 1.0,
                y1: 0.25,
                color: "red".into()
            }
        );
        let hex = json!({"x0": 0, "y0": 0, "x1": 0, "y1": 0, "color": "#A0b1C2"});
        assert_eq!(segment(&hex).unwrap().color, "#a0b1c2");
        for bad in [
            json!({"x0": 1.5, "y0": 0, "x1": 0, "y1": 0, "color": "red"}),
            json!({"x0": -0.1, "y0": 0, "x1": 0, "y1": 0, "color": "red"}),
            json!({"x0": "0.5", "y0": 0, "x1": 0, "y1": 0, "color": "red"}),
            json!({"y0": 0, "x1": 0, "y1": 0, "color": "red"}),
            json!({"x0": 0, "y0": 0, "x1": 0, "y1": 0, "color": "purple"}),
            json!({"x0": 0, "y0": 0, "x1": 0, "y1": 0, "color": "#12345"}),
            json!({"x0": 0, "y0": 0, "x1": 0, "y1": 0, "color": "#12345g"}),
            json!([0, 0, 1, 1, "red"]),
            Value::Null,
        ] {
            assert!(segment(&bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn board_names_are_url_safe() {
        assert_eq!(board_name(&json!("standup")).unwrap(), "standup");
        assert!(board_name(&json!("team-1_a.b")).is_ok());
        for bad in [
            json!(""),
            json!("a b"),
            json!("x".repeat(65)),
            json!("é"),
            json!(5),
        ] {
            assert!(board_name(&bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn entries_have_the_example_payload_plus_an_id() {
        let stroke = BoardEntry {
            id: "5-0".into(),
            kind: EntryKind::Stroke(Segment {
                x0: 0.1,
                y0: 0.2,
                x1: 0.3,
                y1: 0.4,
                color: "blue".into(),
            }),
        };
        assert_eq!(
            stroke.to_json(),
            json!({"x0": 0.1, "y0": 0.2, "x1": 0.3, "y1": 0.4, "color": "blue", "id": "5-0"})
        );
        let clear = BoardEntry {
            id: "6-0".into(),
            kind: EntryKind::Clear,
        };
        assert_eq!(clear.to_json(), json!({"clear": true, "id": "6-0"}));
    }
}
