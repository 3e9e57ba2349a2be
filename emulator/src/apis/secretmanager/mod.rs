//! Secret Manager v1 (secretmanager.googleapis.com), global secrets: secrets
//! create/get/list/patch/delete, versions add/get/list/access/enable/disable/destroy (the alias
//! `latest` included), and each secret's IAM policy. No operations: every call is synchronous.

pub mod http;
pub mod model;

use crate::json::{EnumDef, EnumField};

pub const SERVICE: &str = "secretmanager.googleapis.com";

static VERSION_STATE: EnumDef = EnumDef {
    name: "google.cloud.secretmanager.v1.SecretVersion.State",
    values: &[
        ("STATE_UNSPECIFIED", 0),
        ("ENABLED", 1),
        ("DISABLED", 2),
        ("DESTROYED", 3),
    ],
};

/// Where Secret Manager messages carry enums.
pub static ENUMS: &[EnumField] = &[EnumField {
    path: "state",
    def: &VERSION_STATE,
}];
