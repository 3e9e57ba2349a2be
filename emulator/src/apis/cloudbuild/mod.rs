//! Cloud Build v1 (cloudbuild.googleapis.com): builds create (global and regional forms) → LRO
//! with BuildOperationMetadata, builds get, list (filtered) and cancel, and the build log. A
//! build goes QUEUED → WORKING → SUCCESS (each image in `images` pushed to Artifact Registry
//! with a digest derived from the source object's bytes and the image name) or FAILURE
//! (missing source, image no step builds, push refused), about 3 min × time scale.

mod filter;
pub mod http;
pub mod model;

use sha2::{Digest, Sha256};

use crate::json::{EnumDef, EnumField};

pub const SERVICE: &str = "cloudbuild.googleapis.com";

/// `sha256:` + the lowercase hex SHA-256 of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

static STATUS: EnumDef = EnumDef {
    name: "google.devtools.cloudbuild.v1.Build.Status",
    values: &[
        ("STATUS_UNKNOWN", 0),
        ("PENDING", 10),
        ("QUEUED", 1),
        ("WORKING", 2),
        ("SUCCESS", 3),
        ("FAILURE", 4),
        ("INTERNAL_ERROR", 5),
        ("TIMEOUT", 6),
        ("CANCELLED", 7),
        ("EXPIRED", 9),
    ],
};
static FAILURE_TYPE: EnumDef = EnumDef {
    name: "google.devtools.cloudbuild.v1.Build.FailureInfo.FailureType",
    values: &[
        ("FAILURE_TYPE_UNSPECIFIED", 0),
        ("PUSH_FAILED", 1),
        ("PUSH_IMAGE_NOT_FOUND", 2),
        ("PUSH_NOT_AUTHORIZED", 3),
        ("LOGGING_FAILURE", 4),
        ("USER_BUILD_STEP", 5),
        ("FETCH_SOURCE_FAILED", 6),
    ],
};
static LOGGING: EnumDef = EnumDef {
    name: "google.devtools.cloudbuild.v1.BuildOptions.LoggingMode",
    values: &[
        ("LOGGING_UNSPECIFIED", 0),
        ("LEGACY", 1),
        ("GCS_ONLY", 2),
        ("STACKDRIVER_ONLY", 3),
        ("CLOUD_LOGGING_ONLY", 5),
        ("NONE", 4),
    ],
};
static MACHINE_TYPE: EnumDef = EnumDef {
    name: "google.devtools.cloudbuild.v1.BuildOptions.MachineType",
    values: &[
        ("UNSPECIFIED", 0),
        ("N1_HIGHCPU_8", 1),
        ("N1_HIGHCPU_32", 2),
        ("E2_HIGHCPU_8", 5),
        ("E2_HIGHCPU_32", 6),
        ("E2_MEDIUM", 7),
        ("E2_STANDARD_2", 11),
    ],
};
static LOG_STREAMING: EnumDef = EnumDef {
    name: "google.devtools.cloudbuild.v1.BuildOptions.LogStreamingOption",
    values: &[("STREAM_DEFAULT", 0), ("STREAM_ON", 1), ("STREAM_OFF", 2)],
};
static SUBSTITUTION: EnumDef = EnumDef {
    name: "google.devtools.cloudbuild.v1.BuildOptions.SubstitutionOption",
    values: &[("MUST_MATCH", 0), ("ALLOW_LOOSE", 1)],
};
static SOURCE_FETCHER: EnumDef = EnumDef {
    name: "google.devtools.cloudbuild.v1.StorageSource.SourceFetcher",
    values: &[
        ("SOURCE_FETCHER_UNSPECIFIED", 0),
        ("GSUTIL", 1),
        ("GCS_FETCHER", 2),
    ],
};
static PRIORITY: EnumDef = EnumDef {
    name: "google.devtools.cloudbuild.v1.Build.Warning.Priority",
    values: &[
        ("PRIORITY_UNSPECIFIED", 0),
        ("INFO", 1),
        ("WARNING", 2),
        ("ALERT", 3),
    ],
};

pub static ENUMS: &[EnumField] = &[
    EnumField {
        path: "status",
        def: &STATUS,
    },
    EnumField {
        path: "failureInfo.type",
        def: &FAILURE_TYPE,
    },
    EnumField {
        path: "options.logging",
        def: &LOGGING,
    },
    EnumField {
        path: "options.machineType",
        def: &MACHINE_TYPE,
    },
    EnumField {
        path: "options.logStreamingOption",
        def: &LOG_STREAMING,
    },
    EnumField {
        path: "options.substitutionOption",
        def: &SUBSTITUTION,
    },
    EnumField {
        path: "storageSource.sourceFetcher",
        def: &SOURCE_FETCHER,
    },
    EnumField {
        path: "warnings.priority",
        def: &PRIORITY,
    },
];
