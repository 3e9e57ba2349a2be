//! Organization Policy v2 (orgpolicy.googleapis.com), read side: a project's policies
//! (`projects.policies.get`/`list`) and effective policies (`getEffectivePolicy`), as the
//! project's description (`POST /_emulator/projects`, its `orgPolicies` and the fields that
//! imply one) sets them. `model.rs` also holds the one policy the emulator enforces on creates:
//! `gcp.resourceLocations`.

pub mod http;
pub mod model;

use crate::json::EnumField;

pub const SERVICE: &str = "orgpolicy.googleapis.com";

/// What `getEffectivePolicy` and `get` need (roles/orgpolicy.policyViewer; Google's REST
/// reference names `orgpolicy.policies.get`, but the permission roles grant is this one).
pub const GET_PERMISSION: &str = "orgpolicy.policy.get";
/// What `list` needs.
pub const LIST_PERMISSION: &str = "orgpolicy.policies.list";

/// Org Policy messages carry no enums.
pub static ENUMS: &[EnumField] = &[];
