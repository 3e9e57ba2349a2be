//! IAM v1 (iam.googleapis.com): service accounts create/get/list/delete (synchronous, but a
//! new account stays invisible for a consistency window) and their keys (upload, create,
//! list, delete) whose public halves verify the JWTs of the token endpoint.

pub mod http;
pub mod model;

use crate::json::{EnumDef, EnumField};

pub const SERVICE: &str = "iam.googleapis.com";

static KEY_ALGORITHM: EnumDef = EnumDef {
    name: "google.iam.admin.v1.ServiceAccountKeyAlgorithm",
    values: &[
        ("KEY_ALG_UNSPECIFIED", 0),
        ("KEY_ALG_RSA_1024", 1),
        ("KEY_ALG_RSA_2048", 2),
    ],
};
static PRIVATE_KEY_TYPE: EnumDef = EnumDef {
    name: "google.iam.admin.v1.ServiceAccountPrivateKeyType",
    values: &[
        ("TYPE_UNSPECIFIED", 0),
        ("TYPE_PKCS12_FILE", 1),
        ("TYPE_GOOGLE_CREDENTIALS_FILE", 2),
    ],
};
static KEY_ORIGIN: EnumDef = EnumDef {
    name: "google.iam.admin.v1.ServiceAccountKeyOrigin",
    values: &[
        ("ORIGIN_UNSPECIFIED", 0),
        ("USER_PROVIDED", 1),
        ("GOOGLE_PROVIDED", 2),
    ],
};
static KEY_TYPE: EnumDef = EnumDef {
    name: "google.iam.admin.v1.ListServiceAccountKeysRequest.KeyType",
    values: &[
        ("KEY_TYPE_UNSPECIFIED", 0),
        ("USER_MANAGED", 1),
        ("SYSTEM_MANAGED", 2),
    ],
};

/// Where IAM messages carry enums.
pub static ENUMS: &[EnumField] = &[
    EnumField {
        path: "keyAlgorithm",
        def: &KEY_ALGORITHM,
    },
    EnumField {
        path: "privateKeyType",
        def: &PRIVATE_KEY_TYPE,
    },
    EnumField {
        path: "keyOrigin",
        def: &KEY_ORIGIN,
    },
    EnumField {
        path: "keyType",
        def: &KEY_TYPE,
    },
];
