//! The web page, embedded in the binary (no CDN, no files to ship): the page, its script and
//! style, and the small Socket.IO client served where the tutorial's page expects it.

/// `/`: the chat page.
pub const INDEX_HTML: &str = include_str!("../web/index.html");
/// `/app.js`: the page's logic.
pub const APP_JS: &str = include_str!("../web/app.js");
/// `/style.css`: the page's style.
pub const STYLE_CSS: &str = include_str!("../web/style.css");
/// `/socket.io/socket.io.js`: our own Socket.IO client (the `io()` subset the tutorial's page uses).
pub const SOCKET_IO_JS: &str = include_str!("../web/socket.io.js");

/// Content-Security-Policy of every page and asset: nothing but our own origin, no inline script.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'; form-action 'self'";
