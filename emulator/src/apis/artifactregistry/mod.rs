//! Artifact Registry v1 (artifactregistry.googleapis.com): repositories create/get/list/delete
//! (LROs), Docker images get/list and tags get; operations through the shared routes. Images
//! become known when a Cloud Build build pushes one, or through `POST /_emulator/images`.
//! Cloud Run asks this store whether the image it is told to run exists.

pub mod http;
pub mod model;

use crate::json::{EnumDef, EnumField};

pub const SERVICE: &str = "artifactregistry.googleapis.com";

static FORMAT: EnumDef = EnumDef {
    name: "google.devtools.artifactregistry.v1.Repository.Format",
    values: &[
        ("FORMAT_UNSPECIFIED", 0),
        ("DOCKER", 1),
        ("MAVEN", 2),
        ("NPM", 3),
        ("APT", 5),
        ("YUM", 6),
        ("PYTHON", 8),
        ("KFP", 9),
        ("GO", 10),
        ("GENERIC", 11),
        ("RUBY", 12),
    ],
};
static MODE: EnumDef = EnumDef {
    name: "google.devtools.artifactregistry.v1.Repository.Mode",
    values: &[
        ("MODE_UNSPECIFIED", 0),
        ("STANDARD_REPOSITORY", 1),
        ("VIRTUAL_REPOSITORY", 2),
        ("REMOTE_REPOSITORY", 3),
    ],
};

pub static ENUMS: &[EnumField] = &[
    EnumField {
        path: "format",
        def: &FORMAT,
    },
    EnumField {
        path: "mode",
        def: &MODE,
    },
];
