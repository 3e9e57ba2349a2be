//! The web pages, embedded in the binary (no CDN, no files to ship): the chat page and the
//! whiteboard page, their scripts and styles, and the official socket.io-client browser bundle,
//! served where pages written for Socket.IO expect it (`/socket.io/socket.io.js`).

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

/// The version of the npm package `socket.io-client` whose `dist/` is vendored in
/// `web/socket.io-client/`: the one `package-lock.json` pins (a test compares the bytes).
macro_rules! socket_io_client_version {
    () => {
        "4.8.4"
    };
}
pub const SOCKET_IO_CLIENT_VERSION: &str = socket_io_client_version!();
/// The ETag of every vendored file: their bytes change only with the version.
pub const SOCKET_IO_CLIENT_ETAG: &str =
    concat!("\"socket.io-client-", socket_io_client_version!(), "\"");

/// One file of the vendored socket.io-client bundle, served under `/socket.io/`.
pub struct VendoredFile {
    /// Its name in the package's `dist/` and under `/socket.io/`.
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const SOURCE_MAP: &str = "application/json; charset=utf-8";

macro_rules! vendored {
    ($name:literal, $content_type:expr) => {
        VendoredFile {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../web/socket.io-client/", $name)),
        }
    };
}

/// The socket.io-client browser builds (UMD, minified UMD, minified ES module) and their source
/// maps, byte for byte as npm installs them (`node_modules/socket.io-client/dist/`).
pub const SOCKET_IO_CLIENT: [VendoredFile; 6] = [
    vendored!("socket.io.js", JAVASCRIPT),
    vendored!("socket.io.js.map", SOURCE_MAP),
    vendored!("socket.io.min.js", JAVASCRIPT),
    vendored!("socket.io.min.js.map", SOURCE_MAP),
    vendored!("socket.io.esm.min.js", JAVASCRIPT),
    vendored!("socket.io.esm.min.js.map", SOURCE_MAP),
];

/// Content-Security-Policy of every page and asset: nothing but our own origin, no inline script.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
    frame-ancestors 'none'; form-action 'self'";
