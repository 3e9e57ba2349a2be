//! The web pages, embedded in the binary (no CDN, no files to ship): the chat page and the
//! whiteboard page, their scripts and styles, and the small Socket.IO client served where the
//! tutorial's page expects it.

/// `/`: the chat page.
pub const INDEX_HTML: &str = include_str!("../web/index.html");
/// `/app.js`: the page's logic.
pub const APP_JS: &str = include_str!("../web/app.js");
/// `/style.css`: the page's style.
pub const STYLE_CSS: &str = include_str!("../web/style.css");
/// `/whiteboard`: the whiteboard page.
pub const WHITEBOARD_HTML: &str = include_str!("../web/whiteboard.html");
/// `/whiteboard.js`: the whiteboard page's logic.
pub const WHITEBOARD_JS: &str = include_str!("../web/whiteboard.js");
/// `/whiteboard.css`: the whiteboard page's style (on top of `/style.css`).
pub const WHITEBOARD_CSS: &str = include_str!("../web/whiteboard.css");
/// `/socket.io/socket.io.js`: our own Socket.IO client (the `io()` subset the tutorial's page uses).
pub const SOCKET_IO_JS: &str = include_str!("../web/socket.io.js");

/// Content-Security-Policy of every page and asset: nothing but our own origin, no inline script.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'; form-action 'self'";
