//! Resource Manager v3 and v1 (cloudresourcemanager.googleapis.com): project get, and the
//! project IAM policy (getIamPolicy / setIamPolicy with etag concurrency control).

pub mod http;

pub const SERVICE: &str = "cloudresourcemanager.googleapis.com";
