//! IAM v1 (iam.googleapis.com): service accounts create/get/list/delete (synchronous, but a
//! new account stays invisible for a consistency window) and their keys (upload, create,
//! list, delete) whose public halves verify the JWTs of the token endpoint.

mod http;
mod model;

pub use http::{ENUMS, routes};
pub use model::Store;

pub const SERVICE: &str = "iam.googleapis.com";
