//! Cloud Run Admin v2 (run.googleapis.com): services create/get/list/patch (allowMissing)/
//! delete, getIamPolicy/setIamPolicy; operations (get/list/wait) through the shared v2 routes.
//! Operations carry the Service as metadata and as response (delete answers the Service too).
//! A rollout takes about 45 s × time scale and ends by telling the runtime hook.

pub mod http;
pub mod model;
mod references;
mod rollout;
mod service;

use crate::json::{EnumDef, EnumField};

pub const SERVICE: &str = "run.googleapis.com";
/// The `@type` name of the Service, the metadata and response of every operation.
const SERVICE_TYPE: &str = "google.cloud.run.v2.Service";

static INGRESS: EnumDef = EnumDef {
    name: "google.cloud.run.v2.IngressTraffic",
    values: &[
        ("INGRESS_TRAFFIC_UNSPECIFIED", 0),
        ("INGRESS_TRAFFIC_ALL", 1),
        ("INGRESS_TRAFFIC_INTERNAL_ONLY", 2),
        ("INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER", 3),
        ("INGRESS_TRAFFIC_NONE", 4),
    ],
};
static LAUNCH_STAGE: EnumDef = EnumDef {
    name: "google.api.LaunchStage",
    values: &[
        ("LAUNCH_STAGE_UNSPECIFIED", 0),
        ("UNIMPLEMENTED", 6),
        ("PRELAUNCH", 7),
        ("EARLY_ACCESS", 1),
        ("ALPHA", 2),
        ("BETA", 3),
        ("GA", 4),
        ("DEPRECATED", 5),
    ],
};
static EXECUTION_ENVIRONMENT: EnumDef = EnumDef {
    name: "google.cloud.run.v2.ExecutionEnvironment",
    values: &[
        ("EXECUTION_ENVIRONMENT_UNSPECIFIED", 0),
        ("EXECUTION_ENVIRONMENT_GEN1", 1),
        ("EXECUTION_ENVIRONMENT_GEN2", 2),
    ],
};
static EGRESS: EnumDef = EnumDef {
    name: "google.cloud.run.v2.VpcAccess.VpcEgress",
    values: &[
        ("VPC_EGRESS_UNSPECIFIED", 0),
        ("ALL_TRAFFIC", 1),
        ("PRIVATE_RANGES_ONLY", 2),
    ],
};
static REVOCATION: EnumDef = EnumDef {
    name: "google.cloud.run.v2.EncryptionKeyRevocationAction",
    values: &[
        ("ENCRYPTION_KEY_REVOCATION_ACTION_UNSPECIFIED", 0),
        ("PREVENT_NEW", 1),
        ("SHUTDOWN", 2),
    ],
};
static CONDITION_STATE: EnumDef = EnumDef {
    name: "google.cloud.run.v2.Condition.State",
    values: &[
        ("STATE_UNSPECIFIED", 0),
        ("CONDITION_PENDING", 1),
        ("CONDITION_RECONCILING", 2),
        ("CONDITION_FAILED", 3),
        ("CONDITION_SUCCEEDED", 4),
    ],
};
static SEVERITY: EnumDef = EnumDef {
    name: "google.cloud.run.v2.Condition.Severity",
    values: &[
        ("SEVERITY_UNSPECIFIED", 0),
        ("ERROR", 1),
        ("WARNING", 2),
        ("INFO", 3),
    ],
};
static COMMON_REASON: EnumDef = EnumDef {
    name: "google.cloud.run.v2.Condition.CommonReason",
    values: &[
        ("COMMON_REASON_UNDEFINED", 0),
        ("UNKNOWN", 1),
        ("REVISION_FAILED", 3),
        ("PROGRESS_DEADLINE_EXCEEDED", 4),
        ("CONTAINER_MISSING", 6),
        ("CONTAINER_PERMISSION_DENIED", 7),
        ("CONTAINER_IMAGE_UNAUTHORIZED", 8),
        ("CONTAINER_IMAGE_AUTHORIZATION_CHECK_FAILED", 9),
        ("ENCRYPTION_KEY_PERMISSION_DENIED", 10),
        ("ENCRYPTION_KEY_CHECK_FAILED", 11),
        ("SECRETS_ACCESS_CHECK_FAILED", 12),
        ("WAITING_FOR_OPERATION", 13),
        ("IMMEDIATE_RETRY", 14),
        ("POSTPONED_RETRY", 15),
        ("INTERNAL", 16),
        ("VPC_NETWORK_NOT_FOUND", 17),
    ],
};
static REVISION_REASON: EnumDef = EnumDef {
    name: "google.cloud.run.v2.Condition.RevisionReason",
    values: &[
        ("REVISION_REASON_UNDEFINED", 0),
        ("PENDING", 1),
        ("RESERVE", 2),
        ("RETIRED", 3),
        ("RETIRING", 4),
        ("RECREATING", 5),
        ("HEALTH_CHECK_CONTAINER_ERROR", 6),
        ("CUSTOMIZED_PATH_RESPONSE_PENDING", 7),
        ("MIN_INSTANCES_NOT_PROVISIONED", 8),
        ("ACTIVE_REVISION_LIMIT_REACHED", 9),
        ("NO_DEPLOYMENT", 10),
        ("HEALTH_CHECK_SKIPPED", 11),
        ("MIN_INSTANCES_WARMING", 12),
    ],
};
static EXECUTION_REASON: EnumDef = EnumDef {
    name: "google.cloud.run.v2.Condition.ExecutionReason",
    values: &[
        ("EXECUTION_REASON_UNDEFINED", 0),
        ("JOB_STATUS_SERVICE_POLLING_ERROR", 1),
        ("NON_ZERO_EXIT_CODE", 2),
        ("CANCELLED", 3),
        ("CANCELLING", 4),
        ("DELETED", 5),
        ("DELAYED_START_PENDING", 6),
    ],
};
static TRAFFIC_TYPE: EnumDef = EnumDef {
    name: "google.cloud.run.v2.TrafficTargetAllocationType",
    values: &[
        ("TRAFFIC_TARGET_ALLOCATION_TYPE_UNSPECIFIED", 0),
        ("TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", 1),
        ("TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", 2),
    ],
};
static SCALING_MODE: EnumDef = EnumDef {
    name: "google.cloud.run.v2.ServiceScaling.ScalingMode",
    values: &[
        ("SCALING_MODE_UNSPECIFIED", 0),
        ("AUTOMATIC", 1),
        ("MANUAL", 2),
    ],
};
/// Where Cloud Run messages (Service, Condition, traffic) carry enums.
pub static ENUMS: &[EnumField] = &[
    EnumField {
        path: "ingress",
        def: &INGRESS,
    },
    EnumField {
        path: "launchStage",
        def: &LAUNCH_STAGE,
    },
    EnumField {
        path: "executionEnvironment",
        def: &EXECUTION_ENVIRONMENT,
    },
    EnumField {
        path: "vpcAccess.egress",
        def: &EGRESS,
    },
    EnumField {
        path: "encryptionKeyRevocationAction",
        def: &REVOCATION,
    },
    EnumField {
        path: "conditions.state",
        def: &CONDITION_STATE,
    },
    EnumField {
        path: "terminalCondition.state",
        def: &CONDITION_STATE,
    },
    EnumField {
        path: "severity",
        def: &SEVERITY,
    },
    EnumField {
        path: "reason",
        def: &COMMON_REASON,
    },
    EnumField {
        path: "revisionReason",
        def: &REVISION_REASON,
    },
    EnumField {
        path: "executionReason",
        def: &EXECUTION_REASON,
    },
    EnumField {
        path: "traffic.type",
        def: &TRAFFIC_TYPE,
    },
    EnumField {
        path: "trafficStatuses.type",
        def: &TRAFFIC_TYPE,
    },
    EnumField {
        path: "scaling.scalingMode",
        def: &SCALING_MODE,
    },
];
