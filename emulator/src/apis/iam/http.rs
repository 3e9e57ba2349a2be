//! The HTTP surface of IAM v1 service accounts.

use crate::router::Route;

pub fn routes() -> Vec<Route> {
    Vec::new()
}
