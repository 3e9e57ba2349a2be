//! Compute Engine v1 (compute.googleapis.com), what the connector, Redis and the NATS VM need
//! of it: networks get/list/insert, subnetworks list/aggregatedList/get/insert/delete, regional
//! operations get/wait; instances insert/get/delete/list (with their disks, created through
//! `initializeParams`), disks get/list/delete, zone operations get/wait; firewalls
//! insert/get/delete/list and global operations get/wait, under `/compute/v1/...`. Errors in Compute's legacy shape
//! (`errors[]`, no `status`); operations in Compute's shape (`status` RUNNING → DONE).

mod fields;
mod filter;
pub mod http;
pub mod model;
mod operation;
mod rules;
pub mod vms;
pub mod vms_http;

pub const SERVICE: &str = "compute.googleapis.com";
