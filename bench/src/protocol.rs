//! Minimal Engine.IO v4 / Socket.IO v5 framing over WebSocket text frames, for the tutorial's chat
//! events and for the socket.io whiteboard example's `drawing` (chat-server's whiteboard). Only
//! what chat-bench measures is parsed; everything else is classified and skipped.

use std::sync::LazyLock;

use anyhow::{Result, bail};
use memchr::memmem;

/// The Socket.IO `CONNECT` packet for the default namespace `/`.
pub const CONNECT: &str = "40";
/// Which events a run speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// The chat tutorial's: members `signin` to a room, senders `sendMessage`, everyone in the
    /// room (the sender included) gets `message`.
    Chat,
    /// The whiteboard example's: members connect with auth `{board}`, senders emit `drawing`,
    /// every *other* member of the board gets `drawing`.
    Whiteboard,
}

/// What a measured message or stroke carries so its receiver can time and order it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    pub sender: u32,
    pub seq: u64,
    /// The scheduled send time (see [`crate::latency::micros_at`]).
    pub scheduled_us: u64,
}

/// The Engine.IO `pong` answer to a server `ping` (`2`).
pub const PONG: &str = "3";

/// One Engine.IO packet received over the WebSocket, classified cheaply.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// Engine.IO `0{...}`: the handshake.
    Open,
    /// Engine.IO `1`: the server closes the session.
    Close,
    /// Engine.IO `2`: must be answered with [`PONG`].
    Ping,
    /// Socket.IO `40{...}`: the namespace connection succeeded.
    Connected,
    /// Socket.IO `44{...}`: the namespace connection was refused.
    ConnectError(&'a str),
    /// Socket.IO `41`: the server disconnected us from the namespace.
    Disconnected,
    /// Socket.IO `42[...]`: an event; the JSON array of `[name, args...]`.
    Event(&'a str),
    /// Socket.IO `43<id>[...]`: an ack; the JSON array of its arguments.
    Ack { id: u64, args: &'a str },
    /// Anything else (noop, binary placeholders, other namespaces).
    Other,
}

/// Classifies one text frame without parsing its JSON.
pub fn classify(frame: &str) -> Incoming<'_> {
    let bytes = frame.as_bytes();
    match bytes.first() {
        Some(b'0') => Incoming::Open,
        Some(b'1') => Incoming::Close,
        Some(b'2') => Incoming::Ping,
        Some(b'4') => classify_socketio(&frame[1..]),
        _ => Incoming::Other,
    }
}

fn classify_socketio(packet: &str) -> Incoming<'_> {
    let Some(kind) = packet.as_bytes().first() else {
        return Incoming::Other;
    };
    let rest = &packet[1..];
    match kind {
        b'0' => Incoming::Connected,
        b'1' => Incoming::Disconnected,
        b'4' => Incoming::ConnectError(rest),
        b'2' => Incoming::Event(rest),
        b'3' => {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            match rest[..digits].parse() {
                Ok(id) => Incoming::Ack {
                    id,
                    args: &rest[digits..],
                },
                Err(_) => Incoming::Other,
            }
        }
        _ => Incoming::Other,
    }
}

/// `42<ack>["signin",{"user":..,"room":..}]`: sign in to a room, asking for an ack.
pub fn signin(ack_id: u64, user: &str, room: &str) -> String {
    let user = serde_json::Value::from(user);
    let room = serde_json::Value::from(room);
    format!("42{ack_id}[\"signin\",{{\"user\":{user},\"room\":{room}}}]")
}

/// `42<ack>["sendMessage","text"]`. `text` must need no JSON escaping (chat-bench only sends
/// `[a-z0-9:]`), which keeps the hot path free of a serializer.
pub fn send_message(ack_id: u64, text: &str) -> String {
    debug_assert!(!text.contains(['"', '\\']));
    format!("42{ack_id}[\"sendMessage\",\"{text}\"]")
}

/// `40{"board":..}`: the Socket.IO CONNECT to `/` with auth naming a whiteboard.
pub fn connect_to_board(board: &str) -> String {
    format!("40{{\"board\":{}}}", serde_json::Value::from(board))
}

/// `42<ack>["drawing",{x0,y0,x1,y1,color}]` with the mark in the coordinates (all within
/// 0..1: x0 = sender / 1e6, y0 = seq / 1e9, x1 = micros / 1e13); colour red when measured,
/// blue in the warm-up.
pub fn drawing(ack_id: u64, mark: Mark, measured: bool) -> String {
    let color = if measured { "red" } else { "blue" };
    format!(
        "42{ack_id}[\"drawing\",{{\"x0\":{},\"y0\":{},\"x1\":{},\"y1\":0.5,\"color\":\"{color}\"}}]",
        f64::from(mark.sender) / 1e6,
        mark.seq as f64 / 1e9,
        mark.scheduled_us as f64 / 1e13,
    )
}

/// The mark of a measured `["drawing",{...}]` event; `None` for other events and warm-up strokes.
pub fn drawing_mark(event: &str) -> Option<Mark> {
    #[derive(serde::Deserialize)]
    struct Stroke {
        x0: f64,
        y0: f64,
        x1: f64,
        color: String,
    }
    if !event.starts_with("[\"drawing\",") {
        return None;
    }
    let (_, stroke): (String, Stroke) = serde_json::from_str(event).ok()?;
    (stroke.color == "red").then(|| Mark {
        sender: (stroke.x0 * 1e6).round() as u32,
        seq: (stroke.y0 * 1e9).round() as u64,
        scheduled_us: (stroke.x1 * 1e13).round() as u64,
    })
}

/// The mark in a `message` text `m:SENDER:SEQ:MICROS`; `None` for warm-up (`w:`) and other texts.
pub fn message_mark(text: &str) -> Option<Mark> {
    let mut fields = text.strip_prefix("m:")?.split(':').map(str::parse::<u64>);
    let (Some(Ok(sender)), Some(Ok(seq)), Some(Ok(scheduled_us))) =
        (fields.next(), fields.next(), fields.next())
    else {
        return None;
    };
    Some(Mark {
        sender: u32::try_from(sender).ok()?,
        seq,
        scheduled_us,
    })
}

/// The error an ack carries, if any: the tutorial acks success as `[]` (sendMessage) or
/// `[null, ...]` (signin), and failure with a string (or object) first argument.
pub fn ack_error(args: &str) -> Option<String> {
    let args = args.trim();
    if args.starts_with("[]") || args.starts_with("[null") {
        return None;
    }
    let first = serde_json::from_str::<Vec<serde_json::Value>>(args)
        .ok()
        .and_then(|values| values.into_iter().next());
    Some(match first {
        Some(serde_json::Value::String(text)) => text,
        Some(other) => other.to_string(),
        None => format!("unreadable ack {args}"),
    })
}

/// The `text` of a `["message",{..."text":"..."...}]` event, found without a JSON parse.
/// Returns `None` for other events and for texts that contain escapes.
pub fn message_text(event: &str) -> Option<&str> {
    const KEY: &str = "\"text\":\"";
    static FINDER: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(KEY));
    let body = event.strip_prefix("[\"message\",")?;
    let start = FINDER.find(body.as_bytes())? + KEY.len();
    let len = memchr::memchr(b'"', &body.as_bytes()[start..])?;
    let text = &body[start..start + len];
    (!text.contains('\\')).then_some(text)
}

/// Turns a server address into the Engine.IO WebSocket endpoint:
/// `http://h:p` → `ws://h:p/socket.io/?EIO=4&transport=websocket`.
pub fn endpoint(url: &str) -> Result<String> {
    let (scheme, rest) = url
        .split_once("://")
        .map_or(("http", url), |(scheme, rest)| (scheme, rest));
    let ws_scheme = match scheme {
        "http" | "ws" => "ws",
        "https" | "wss" => bail!(
            "{url}: TLS endpoints are not supported by chat-bench; point it at the server's plain http port"
        ),
        other => bail!("{url}: unknown scheme {other:?}; use http://HOST:PORT"),
    };
    if rest.contains('?') {
        bail!(
            "{url}: give the server address without a query string (chat-bench adds ?EIO=4&transport=websocket)"
        );
    }
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.is_empty() {
        bail!("{url}: missing host; use http://HOST:PORT");
    }
    let path = match path.trim_end_matches('/') {
        "" => "socket.io".to_string(),
        path => path.to_string(),
    };
    Ok(format!(
        "{ws_scheme}://{host}/{path}/?EIO=4&transport=websocket"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_packets_the_server_sends() {
        assert_eq!(classify("0{\"sid\":\"x\"}"), Incoming::Open);
        assert_eq!(classify("2"), Incoming::Ping);
        assert_eq!(classify("40{\"sid\":\"y\"}"), Incoming::Connected);
        assert_eq!(
            classify("44{\"message\":\"no\"}"),
            Incoming::ConnectError("{\"message\":\"no\"}")
        );
        assert_eq!(
            classify("4312[null,null]"),
            Incoming::Ack {
                id: 12,
                args: "[null,null]"
            }
        );
        assert_eq!(
            classify("42[\"message\",{}]"),
            Incoming::Event("[\"message\",{}]")
        );
    }

    #[test]
    fn reads_ack_errors() {
        assert_eq!(ack_error("[]"), None);
        assert_eq!(ack_error("[null,{\"room\":\"r\",\"messages\":[]}]"), None);
        assert_eq!(
            ack_error("[\"User session not found.\"]").as_deref(),
            Some("User session not found.")
        );
        assert_eq!(ack_error("[{}]").as_deref(), Some("{}"));
    }

    #[test]
    fn finds_the_message_text_in_any_field_order() {
        let event = r#"["message",{"id":"1-0","user":"b1","text":"m:3:7:99","ts":5}]"#;
        assert_eq!(message_text(event), Some("m:3:7:99"));
        assert_eq!(message_text(r#"["notification",{"title":"t"}]"#), None);
    }

    #[test]
    fn a_stroke_carries_its_mark_through_the_coordinates() {
        let mark = Mark {
            sender: 41,
            seq: 123_456,
            scheduled_us: 9_876_543_210,
        };
        let frame = drawing(5, mark, true);
        assert!(frame.starts_with("425[\"drawing\","), "{frame}");
        // What the server relays: the same stroke plus an id.
        let relayed: serde_json::Value = serde_json::from_str(&frame[3..]).unwrap();
        let mut stroke = relayed[1].clone();
        for key in ["x0", "y0", "x1", "y1"] {
            let v = stroke[key].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{key} = {v}");
        }
        stroke["id"] = "1-0".into();
        let event = serde_json::json!(["drawing", stroke]).to_string();
        assert_eq!(drawing_mark(&event), Some(mark));
        let warmup =
            serde_json::from_str::<serde_json::Value>(&drawing(5, mark, false)[3..]).unwrap();
        assert_eq!(drawing_mark(&warmup.to_string()), None);
        assert_eq!(connect_to_board("b-1"), r#"40{"board":"b-1"}"#);
    }

    #[test]
    fn reads_the_mark_of_a_message_text() {
        assert_eq!(
            message_mark("m:3:7:99"),
            Some(Mark {
                sender: 3,
                seq: 7,
                scheduled_us: 99
            })
        );
        assert_eq!(message_mark("w:3:7:99"), None);
        assert_eq!(message_mark("m:3:x:99"), None);
    }

    #[test]
    fn builds_the_websocket_endpoint() {
        assert_eq!(
            endpoint("http://127.0.0.1:8080").unwrap(),
            "ws://127.0.0.1:8080/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            endpoint("127.0.0.1:8080/").unwrap(),
            "ws://127.0.0.1:8080/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            endpoint("ws://h:1/custom/path/").unwrap(),
            "ws://h:1/custom/path/?EIO=4&transport=websocket"
        );
        assert!(endpoint("https://h").is_err());
    }

    #[test]
    fn encodes_events_with_ack_ids() {
        assert_eq!(
            signin(0, "a\"b", "r"),
            r#"420["signin",{"user":"a\"b","room":"r"}]"#
        );
        assert_eq!(
            send_message(7, "m:1:2:3"),
            r#"427["sendMessage","m:1:2:3"]"#
        );
    }
}
