//! Keeps one socket's events in the order the client sent them.
//!
//! socketioxide runs every incoming event in its own task, so two messages sent back to back
//! could be stored in either order, and a `sendMessage` right after `signin` could overtake it.
//! Extractors, however, run synchronously, in arrival order: the [`Turn`] extractor takes a
//! place in the socket's line there, and the handler waits for the previous event's handler to
//! finish before doing anything. Sockets stay independent of each other.

use std::sync::{Arc, Mutex};

use socketioxide::adapter::Adapter;
use socketioxide::handler::{FromMessageParts, Value};
use socketioxide::socket::Socket;
use tokio::sync::oneshot;

/// The end of a socket's line: resolves when the last event that joined it is handled.
#[derive(Clone, Default)]
pub struct Line(Arc<Mutex<Option<oneshot::Receiver<()>>>>);

/// A place in the socket's line, held for the whole handler; dropping it lets the next one go.
pub struct Turn {
    previous: Option<oneshot::Receiver<()>>,
    _done: oneshot::Sender<()>,
}

impl Turn {
    /// Waits until every earlier event of this socket has been handled.
    pub async fn wait(&mut self) {
        if let Some(previous) = self.previous.take() {
            // Err means the previous handler finished (its sender was dropped): our turn either way.
            let _ = previous.await;
        }
    }
}

impl Turn {
    /// Takes the next place in the socket's line (the socket must have a [`Line`] extension).
    pub fn take<A: Adapter>(socket: &Socket<A>) -> Turn {
        let (done, finished) = oneshot::channel();
        let previous = match socket.extensions.get::<Line>() {
            Some(Line(end)) => end
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .replace(finished),
            None => None,
        };
        Turn {
            previous,
            _done: done,
        }
    }
}

impl<A: Adapter> FromMessageParts<A> for Turn {
    type Error = std::convert::Infallible;
    fn from_message_parts(
        s: &Arc<Socket<A>>,
        _: &mut Value,
        _: &Option<i64>,
    ) -> Result<Self, Self::Error> {
        Ok(Turn::take(s))
    }
}
