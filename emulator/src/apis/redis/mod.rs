//! Memorystore for Redis v1 (redis.googleapis.com): instances create/get/list/patch/delete,
//! getAuthString; operations through the shared operation routes.

pub mod http;
pub mod model;
pub mod server_ca;

use crate::json::{EnumDef, EnumField};

pub const SERVICE: &str = "redis.googleapis.com";

static TIER: EnumDef = EnumDef {
    name: "google.cloud.redis.v1.Instance.Tier",
    values: &[("TIER_UNSPECIFIED", 0), ("BASIC", 1), ("STANDARD_HA", 3)],
};
static STATE: EnumDef = EnumDef {
    name: "google.cloud.redis.v1.Instance.State",
    values: &[
        ("STATE_UNSPECIFIED", 0),
        ("CREATING", 1),
        ("READY", 2),
        ("UPDATING", 3),
        ("DELETING", 4),
        ("REPAIRING", 5),
        ("MAINTENANCE", 6),
        ("IMPORTING", 8),
        ("FAILING_OVER", 9),
    ],
};
static CONNECT_MODE: EnumDef = EnumDef {
    name: "google.cloud.redis.v1.Instance.ConnectMode",
    values: &[
        ("CONNECT_MODE_UNSPECIFIED", 0),
        ("DIRECT_PEERING", 1),
        ("PRIVATE_SERVICE_ACCESS", 2),
    ],
};
static TRANSIT: EnumDef = EnumDef {
    name: "google.cloud.redis.v1.Instance.TransitEncryptionMode",
    values: &[
        ("TRANSIT_ENCRYPTION_MODE_UNSPECIFIED", 0),
        ("SERVER_AUTHENTICATION", 1),
        ("DISABLED", 2),
    ],
};
static READ_REPLICAS: EnumDef = EnumDef {
    name: "google.cloud.redis.v1.Instance.ReadReplicasMode",
    values: &[
        ("READ_REPLICAS_MODE_UNSPECIFIED", 0),
        ("READ_REPLICAS_DISABLED", 1),
        ("READ_REPLICAS_ENABLED", 2),
    ],
};
static SUSPENSION: EnumDef = EnumDef {
    name: "google.cloud.redis.v1.Instance.SuspensionReason",
    values: &[
        ("SUSPENSION_REASON_UNSPECIFIED", 0),
        ("CUSTOMER_MANAGED_KEY_ISSUE", 1),
    ],
};
static PERSISTENCE_MODE: EnumDef = EnumDef {
    name: "google.cloud.redis.v1.PersistenceConfig.PersistenceMode",
    values: &[
        ("PERSISTENCE_MODE_UNSPECIFIED", 0),
        ("DISABLED", 1),
        ("RDB", 2),
    ],
};
static SNAPSHOT_PERIOD: EnumDef = EnumDef {
    name: "google.cloud.redis.v1.PersistenceConfig.SnapshotPeriod",
    values: &[
        ("SNAPSHOT_PERIOD_UNSPECIFIED", 0),
        ("ONE_HOUR", 3),
        ("SIX_HOURS", 4),
        ("TWELVE_HOURS", 5),
        ("TWENTY_FOUR_HOURS", 6),
    ],
};
static DAY_OF_WEEK: EnumDef = EnumDef {
    name: "google.type.DayOfWeek",
    values: &[
        ("DAY_OF_WEEK_UNSPECIFIED", 0),
        ("MONDAY", 1),
        ("TUESDAY", 2),
        ("WEDNESDAY", 3),
        ("THURSDAY", 4),
        ("FRIDAY", 5),
        ("SATURDAY", 6),
        ("SUNDAY", 7),
    ],
};

/// Where Redis messages carry enums.
pub static ENUMS: &[EnumField] = &[
    EnumField {
        path: "tier",
        def: &TIER,
    },
    EnumField {
        path: "state",
        def: &STATE,
    },
    EnumField {
        path: "connectMode",
        def: &CONNECT_MODE,
    },
    EnumField {
        path: "transitEncryptionMode",
        def: &TRANSIT,
    },
    EnumField {
        path: "readReplicasMode",
        def: &READ_REPLICAS,
    },
    EnumField {
        path: "suspensionReasons",
        def: &SUSPENSION,
    },
    EnumField {
        path: "persistenceConfig.persistenceMode",
        def: &PERSISTENCE_MODE,
    },
    EnumField {
        path: "persistenceConfig.rdbSnapshotPeriod",
        def: &SNAPSHOT_PERIOD,
    },
    EnumField {
        path: "weeklyMaintenanceWindow.day",
        def: &DAY_OF_WEEK,
    },
];
