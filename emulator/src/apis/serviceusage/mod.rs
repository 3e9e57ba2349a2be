//! Service Usage v1 (serviceusage.googleapis.com): services get/list/batchGet, enable,
//! batchEnable, disable, as operations under `operations/*`. Enabling takes up to a minute and
//! propagates after that (the API may still answer SERVICE_DISABLED for a window).

mod http;

pub use http::{ENUMS, routes};

pub const SERVICE: &str = "serviceusage.googleapis.com";
