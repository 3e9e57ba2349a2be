//! Cloud Logging v2 (logging.googleapis.com): `entries.write` and `entries.list` with the
//! Logging query language for the fields chatctl uses (`filter.rs`). Cloud Run revisions and
//! Cloud Build builds write their entries here as they run, so there is something real to read.

pub mod filter;
pub mod http;
pub mod model;

use crate::json::{EnumDef, EnumField};

pub const SERVICE: &str = "logging.googleapis.com";

/// The permission entries.list needs on each project it reads (roles/logging.viewer).
pub const LIST_PERMISSION: &str = "logging.logEntries.list";
/// The permission entries.write needs on each project it writes to (roles/logging.logWriter).
pub const WRITE_PERMISSION: &str = "logging.logEntries.create";

static SEVERITY: EnumDef = EnumDef {
    name: "google.logging.type.LogSeverity",
    values: filter::SEVERITIES,
};

/// Where Logging messages carry enums.
pub static ENUMS: &[EnumField] = &[EnumField {
    path: "severity",
    def: &SEVERITY,
}];
