//! One simulated user: WebSocket connect, Engine.IO open, Socket.IO connect, then `signin` with
//! ack (chat) or nothing more (a whiteboard, named in the connect's auth). Returns the open
//! socket; the scenarios drive it from there.

use anyhow::{Context, Result, anyhow, bail};
use futures::{SinkExt, StreamExt};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

use crate::protocol::{self, Incoming};

/// A signed-in Socket.IO session over WebSocket.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The ack id chat-bench uses for `signin`; `sendMessage` acks count up from 1.
const SIGNIN_ACK: u64 = 0;

/// Where a connection goes once connected.
#[derive(Clone, Copy, Debug)]
pub enum Join<'a> {
    /// `signin {user, room}` to a chat room.
    Room { user: &'a str, room: &'a str },
    /// A whiteboard, named in the namespace connect's auth.
    Board(&'a str),
}

/// Connects to `endpoint` (from [`protocol::endpoint`]) and joins, failing at `deadline` with
/// the name of the step that was still waiting. `signin_delay` is a pause between the namespace
/// connect reply and `signin` (zero, like socket.io-client, by default).
pub async fn sign_in(
    endpoint: &str,
    join: Join<'_>,
    signin_delay: Duration,
    deadline: Instant,
) -> Result<Socket> {
    let step = |name: &'static str| move |_| anyhow!("timed out waiting for {name}");
    // tungstenite zero-fills the free read buffer before every read (default 128 KiB): with
    // ~100-byte frames 4 KiB still takes dozens per read and cuts that memset to almost nothing.
    // Nagle off: every send is one small frame that should leave now.
    let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
    let (mut socket, _) = timeout_at(
        deadline,
        connect_async_with_config(endpoint, Some(config), true),
    )
    .await
    .map_err(step("the WebSocket handshake"))?
    .with_context(|| format!("WebSocket connect to {endpoint}"))?;
    match timeout_at(deadline, next_text(&mut socket))
        .await
        .map_err(step("the Engine.IO open packet"))??
    {
        text if protocol::classify(&text) == Incoming::Open => {}
        other => bail!("expected the Engine.IO open packet, got {other:?}"),
    }
    let connect = match join {
        Join::Room { .. } => protocol::CONNECT.to_string(),
        Join::Board(board) => protocol::connect_to_board(board),
    };
    socket.send(Message::text(connect)).await?;
    let connected = wait_for(&mut socket, |packet| match packet {
        Incoming::Connected => Some(Ok(())),
        Incoming::ConnectError(why) => Some(Err(anyhow!("namespace connect refused: {why}"))),
        _ => None,
    });
    timeout_at(deadline, connected)
        .await
        .map_err(step("the namespace connect reply (40)"))??;
    let Join::Room { user, room } = join else {
        return Ok(socket);
    };
    if !signin_delay.is_zero() {
        tokio::time::sleep(signin_delay).await;
    }
    socket
        .send(Message::text(protocol::signin(SIGNIN_ACK, user, room)))
        .await?;
    let signed_in = wait_for(&mut socket, |packet| match packet {
        Incoming::Ack {
            id: SIGNIN_ACK,
            args,
        } => Some(match protocol::ack_error(args) {
            None => Ok(()),
            Some(error) => Err(anyhow!("signin refused: {error}")),
        }),
        _ => None,
    });
    timeout_at(deadline, signed_in)
        .await
        .map_err(step("the signin ack"))??;
    Ok(socket)
}

/// Reads packets (answering pings) until `accept` decides.
async fn wait_for(
    socket: &mut Socket,
    mut accept: impl FnMut(Incoming<'_>) -> Option<Result<()>>,
) -> Result<()> {
    loop {
        let text = next_text(socket).await?;
        match protocol::classify(&text) {
            Incoming::Ping => socket.send(Message::text(protocol::PONG)).await?,
            Incoming::Close | Incoming::Disconnected => bail!("the server closed the session"),
            packet => {
                if let Some(outcome) = accept(packet) {
                    return outcome;
                }
            }
        }
    }
}

/// The next text frame, skipping WebSocket control frames.
async fn next_text(socket: &mut Socket) -> Result<String> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
            Some(Ok(Message::Close(_))) | None => bail!("the server closed the WebSocket"),
            Some(Ok(_)) => continue,
            Some(Err(error)) => return Err(error).context("WebSocket read"),
        }
    }
}
