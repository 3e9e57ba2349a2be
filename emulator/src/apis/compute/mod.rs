//! Compute Engine v1 (compute.googleapis.com), what the connector and Redis need of it:
//! networks get/list, subnetworks list/aggregatedList/get/insert/delete and regional
//! operations get/wait, under `/compute/v1/...`. Errors in Compute's legacy shape
//! (`errors[]`, no `status`); operations in Compute's shape (`status` RUNNING → DONE).

mod filter;
pub mod http;
pub mod model;
mod operation;
mod rules;

pub const SERVICE: &str = "compute.googleapis.com";
