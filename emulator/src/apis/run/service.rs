//! The Cloud Run v2 resource as sent and stored: google.cloud.run.v2.Service and the parts of
//! its revision template the rules look into (scaling, VPC access, containers, env, ports).
//! Every field of the real messages is accepted (clients echo what they read); the parts the
//! emulator does not interpret stay JSON values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// google.cloud.run.v2.Service, as sent and stored (enums as names). Output-only fields are
/// accepted (clients echo what they read) and recomputed.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Service {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expire_time: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub creator: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub last_modifier: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_stage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary_authorization: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<RevisionTemplate>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaling: Option<Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub invoker_iam_disabled: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub default_uri_disabled: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub iap_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_region_settings: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_audiences: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal_condition: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub latest_ready_revision: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub latest_created_revision: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub traffic_statuses: Vec<Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uri: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub satisfies_pzs: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub threat_detection_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_config: Option<Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reconciling: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub etag: String,
}

/// google.cloud.run.v2.RevisionTemplate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RevisionTemplate {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub revision: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaling: Option<RevisionScaling>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_access: Option<VpcAccess>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub service_account: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<Container>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_environment: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub encryption_key: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub max_instance_request_concurrency: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_mesh: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_key_revocation_action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_key_shutdown_duration: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub session_affinity: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub health_check_disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_zonal_redundancy_disabled: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RevisionScaling {
    #[serde(skip_serializing_if = "is_zero")]
    pub min_instance_count: i32,
    #[serde(skip_serializing_if = "is_zero")]
    pub max_instance_count: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct VpcAccess {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub connector: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub network_interfaces: Vec<Value>,
}

/// google.cloud.run.v2.Container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Container {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_code: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub base_image_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_info: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct EnvVar {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_source: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ContainerPort {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub container_port: i32,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}
