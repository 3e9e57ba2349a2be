//! Service Usage v1 (serviceusage.googleapis.com): services get/list/batchGet, enable,
//! batchEnable, disable, as operations under `operations/*`. Enabling takes up to a minute and
//! propagates after that (the API may still answer SERVICE_DISABLED for a window).

pub mod http;

use crate::json::{EnumDef, EnumField};

pub const SERVICE: &str = "serviceusage.googleapis.com";

static STATE: EnumDef = EnumDef {
    name: "google.api.serviceusage.v1.State",
    values: &[("STATE_UNSPECIFIED", 0), ("DISABLED", 1), ("ENABLED", 2)],
};
static CHECK_USAGE: EnumDef = EnumDef {
    name: "google.api.serviceusage.v1.DisableServiceRequest.CheckIfServiceHasUsage",
    values: &[
        ("CHECK_IF_SERVICE_HAS_USAGE_UNSPECIFIED", 0),
        ("SKIP", 1),
        ("CHECK", 2),
    ],
};

pub static ENUMS: &[EnumField] = &[
    EnumField {
        path: "state",
        def: &STATE,
    },
    EnumField {
        path: "checkIfServiceHasUsage",
        def: &CHECK_USAGE,
    },
];
