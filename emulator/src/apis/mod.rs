//! One module per Google API: each keeps its resource models and rules (`model.rs`) apart from
//! its HTTP surface (`http.rs`), and exposes `SERVICE`, `ENUMS` and `routes()`.

use crate::json::EnumField;
use crate::router::Route;

pub mod artifactregistry;
pub mod cloudbuild;
pub mod compute;
pub mod iam;
pub mod redis;
pub mod resourcemanager;
pub mod run;
pub mod serviceusage;
pub mod storage;
pub mod vpcaccess;

/// Every API route, shared operation routes included.
pub fn routes() -> Vec<Route> {
    let mut routes = crate::ops::routes();
    routes.extend(redis::routes());
    routes.extend(iam::routes());
    routes.extend(resourcemanager::routes());
    routes.extend(serviceusage::routes());
    routes.extend(vpcaccess::routes());
    routes.extend(run::routes());
    routes.extend(artifactregistry::routes());
    routes.extend(cloudbuild::routes());
    routes.extend(storage::routes());
    routes.extend(compute::routes());
    routes
}

/// The enum table of a service, for answering its operations.
pub fn enums_of(service: &str) -> &'static [EnumField] {
    match service {
        redis::SERVICE => redis::ENUMS,
        iam::SERVICE => iam::ENUMS,
        serviceusage::SERVICE => serviceusage::ENUMS,
        vpcaccess::SERVICE => vpcaccess::ENUMS,
        run::SERVICE => run::ENUMS,
        artifactregistry::SERVICE => artifactregistry::ENUMS,
        cloudbuild::SERVICE => cloudbuild::ENUMS,
        _ => &[],
    }
}
