//! Serverless VPC Access v1 (vpcaccess.googleapis.com): connectors create/get/list/delete;
//! operations through the shared operation routes. A /28 that overlaps a subnet or another
//! connector, or a missing max instances/throughput, fails inside the finished operation.

pub mod http;
pub mod model;

use crate::json::{EnumDef, EnumField};

pub const SERVICE: &str = "vpcaccess.googleapis.com";

static STATE: EnumDef = EnumDef {
    name: "google.cloud.vpcaccess.v1.Connector.State",
    values: &[
        ("STATE_UNSPECIFIED", 0),
        ("READY", 1),
        ("CREATING", 2),
        ("DELETING", 3),
        ("ERROR", 4),
        ("UPDATING", 5),
    ],
};

pub static ENUMS: &[EnumField] = &[EnumField {
    path: "state",
    def: &STATE,
}];
