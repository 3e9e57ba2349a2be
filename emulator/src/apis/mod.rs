//! One module per Google API: `mod.rs` holds its `SERVICE` and enum tables, `model.rs` its
//! resources and rules (no HTTP), `http.rs` its method table (`API`) and handlers.

use crate::json::EnumField;
use crate::router::{Api, Route};

pub mod artifactregistry;
pub mod cloudbuild;
pub mod compute;
pub mod iam;
pub mod logging;
pub mod orgpolicy;
pub mod redis;
pub mod resourcemanager;
pub mod run;
pub mod secretmanager;
pub mod serviceusage;
pub mod storage;
pub mod vpcaccess;

/// Every API's method table, the emulator-only endpoints of some APIs included.
static APIS: &[&Api] = &[
    &redis::http::API,
    &redis::http::EMULATOR_API,
    &iam::http::API,
    &resourcemanager::http::API,
    &serviceusage::http::API,
    &vpcaccess::http::API,
    &run::http::API,
    &secretmanager::http::API,
    &artifactregistry::http::API,
    &artifactregistry::http::EMULATOR_API,
    &cloudbuild::http::API,
    &cloudbuild::http::EMULATOR_API,
    &storage::http::API,
    &compute::http::API,
    &compute::vms_http::API,
    &logging::http::API,
    &orgpolicy::http::API,
];

/// Every API route (the shared operation routes are the core's: `ops::http`).
pub fn routes() -> impl Iterator<Item = Route> {
    APIS.iter().flat_map(|api| api.routes())
}

/// The enum table of a service, for answering its operations.
pub fn enums_of(service: &str) -> &'static [EnumField] {
    match service {
        redis::SERVICE => redis::ENUMS,
        iam::SERVICE => iam::ENUMS,
        serviceusage::SERVICE => serviceusage::ENUMS,
        vpcaccess::SERVICE => vpcaccess::ENUMS,
        run::SERVICE => run::ENUMS,
        secretmanager::SERVICE => secretmanager::ENUMS,
        artifactregistry::SERVICE => artifactregistry::ENUMS,
        cloudbuild::SERVICE => cloudbuild::ENUMS,
        logging::SERVICE => logging::ENUMS,
        _ => &[],
    }
}
