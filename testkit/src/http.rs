//! A minimal HTTP/1.1 client for loopback test servers (one request per connection), and the
//! raw request/response exchange the readiness probes use.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// An HTTP reply: the status line, the headers (lower-cased) and the body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: String,
    pub headers: String,
    pub body: String,
}

/// `GET path` on 127.0.0.1:port (`Connection: close`), read to the end within 10 s.
pub fn get(port: u16, path: &str) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    Ok(Reply {
        status: status.to_string(),
        headers: headers.to_lowercase(),
        body: body.to_string(),
    })
}

/// Sends `text` to 127.0.0.1:port and returns the first bytes of the answer (a readiness probe:
/// short timeouts, `None` when nothing answers).
pub fn exchange(port: u16, text: &str) -> Option<String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    stream.write_all(text.as_bytes()).ok()?;
    let mut reply = vec![0; 256];
    let read = stream.read(&mut reply).ok()?;
    Some(String::from_utf8_lossy(&reply[..read]).into_owned())
}
