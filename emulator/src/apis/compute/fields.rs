//! The request fields Compute Engine accepts on the instance, disk and firewall bodies chatctl
//! and the tests send (from the compute v1 discovery document), and the strict check that
//! refuses any other key with Google's "Unknown name" answer, nested objects included.

use serde_json::Value;

use crate::error::ApiError;

/// A message: its field names, and the nested messages of some of them.
pub struct Schema {
    pub fields: &'static [&'static str],
    pub nested: &'static [(&'static str, &'static Schema)],
}

pub static INSTANCE: Schema = Schema {
    fields: &[
        "advancedMachineFeatures",
        "canIpForward",
        "confidentialInstanceConfig",
        "cpuPlatform",
        "creationTimestamp",
        "deletionProtection",
        "description",
        "disks",
        "displayDevice",
        "fingerprint",
        "guestAccelerators",
        "hostname",
        "id",
        "instanceEncryptionKey",
        "keyRevocationActionType",
        "kind",
        "labelFingerprint",
        "labels",
        "lastStartTimestamp",
        "lastStopTimestamp",
        "lastSuspendedTimestamp",
        "localSsdEncryptionMode",
        "machineType",
        "metadata",
        "minCpuPlatform",
        "name",
        "networkInterfaces",
        "networkPerformanceConfig",
        "params",
        "privateIpv6GoogleAccess",
        "reservationAffinity",
        "resourcePolicies",
        "resourceStatus",
        "satisfiesPzi",
        "satisfiesPzs",
        "scheduling",
        "selfLink",
        "serviceAccounts",
        "shieldedInstanceConfig",
        "shieldedInstanceIntegrityPolicy",
        "sourceMachineImage",
        "sourceMachineImageEncryptionKey",
        "startRestricted",
        "status",
        "statusMessage",
        "tags",
        "workloadIdentityConfig",
        "zone",
    ],
    nested: &[
        ("disks", &ATTACHED_DISK),
        ("networkInterfaces", &NETWORK_INTERFACE),
        ("metadata", &METADATA),
        ("serviceAccounts", &SERVICE_ACCOUNT),
        ("tags", &TAGS),
    ],
};

pub static ATTACHED_DISK: Schema = Schema {
    fields: &[
        "architecture",
        "autoDelete",
        "boot",
        "deviceName",
        "diskEncryptionKey",
        "diskSizeGb",
        "forceAttach",
        "guestOsFeatures",
        "index",
        "initializeParams",
        "interface",
        "kind",
        "licenses",
        "mode",
        "savedState",
        "shieldedInstanceInitialState",
        "source",
        "type",
    ],
    nested: &[("initializeParams", &INITIALIZE_PARAMS)],
};

pub static INITIALIZE_PARAMS: Schema = Schema {
    fields: &[
        "architecture",
        "description",
        "diskName",
        "diskSizeGb",
        "diskType",
        "enableConfidentialCompute",
        "labels",
        "licenses",
        "onUpdateAction",
        "provisionedIops",
        "provisionedThroughput",
        "replicaZones",
        "resourceManagerTags",
        "resourcePolicies",
        "sourceImage",
        "sourceImageEncryptionKey",
        "sourceSnapshot",
        "sourceSnapshotEncryptionKey",
        "storagePool",
    ],
    nested: &[],
};

pub static NETWORK_INTERFACE: Schema = Schema {
    fields: &[
        "accessConfigs",
        "aliasIpRanges",
        "aliasIpv6Ranges",
        "enableVpcScopedDns",
        "fingerprint",
        "igmpQuery",
        "internalIpv6PrefixLength",
        "ipv6AccessConfigs",
        "ipv6AccessType",
        "ipv6Address",
        "kind",
        "name",
        "network",
        "networkAttachment",
        "networkIP",
        "nicType",
        "parentNicName",
        "queueCount",
        "serviceClassId",
        "stackType",
        "subnetwork",
        "vlan",
    ],
    nested: &[("accessConfigs", &ACCESS_CONFIG)],
};

pub static ACCESS_CONFIG: Schema = Schema {
    fields: &[
        "externalIpv6",
        "externalIpv6PrefixLength",
        "kind",
        "name",
        "natIP",
        "networkTier",
        "publicPtrDomainName",
        "securityPolicy",
        "setPublicPtr",
        "type",
    ],
    nested: &[],
};

pub static METADATA: Schema = Schema {
    fields: &["fingerprint", "items", "kind"],
    nested: &[("items", &METADATA_ITEM)],
};

pub static METADATA_ITEM: Schema = Schema {
    fields: &["key", "value"],
    nested: &[],
};

pub static SERVICE_ACCOUNT: Schema = Schema {
    fields: &["email", "scopes"],
    nested: &[],
};

pub static TAGS: Schema = Schema {
    fields: &["fingerprint", "items"],
    nested: &[],
};

/// A disk of `disks.insert` (the standalone persistent disk an instance attaches by `source`).
pub static DISK: Schema = Schema {
    fields: &[
        "accessMode",
        "architecture",
        "asyncPrimaryDisk",
        "asyncSecondaryDisks",
        "creationTimestamp",
        "description",
        "diskEncryptionKey",
        "enableConfidentialCompute",
        "guestOsFeatures",
        "id",
        "kind",
        "labelFingerprint",
        "labels",
        "lastAttachTimestamp",
        "lastDetachTimestamp",
        "licenseCodes",
        "licenses",
        "locationHint",
        "name",
        "options",
        "params",
        "physicalBlockSizeBytes",
        "provisionedIops",
        "provisionedThroughput",
        "region",
        "replicaZones",
        "resourcePolicies",
        "resourceStatus",
        "satisfiesPzi",
        "satisfiesPzs",
        "selfLink",
        "sizeGb",
        "sourceConsistencyGroupPolicy",
        "sourceConsistencyGroupPolicyId",
        "sourceDisk",
        "sourceDiskId",
        "sourceImage",
        "sourceImageEncryptionKey",
        "sourceImageId",
        "sourceInstantSnapshot",
        "sourceInstantSnapshotId",
        "sourceMachineImage",
        "sourceMachineImageDiskDeviceName",
        "sourceMachineImageEncryptionKey",
        "sourceMachineImageId",
        "sourceSnapshot",
        "sourceSnapshotEncryptionKey",
        "sourceSnapshotId",
        "sourceStorageObject",
        "status",
        "storagePool",
        "type",
        "users",
        "zone",
    ],
    nested: &[],
};

pub static FIREWALL: Schema = Schema {
    fields: &[
        "allowed",
        "creationTimestamp",
        "denied",
        "description",
        "destinationRanges",
        "direction",
        "disabled",
        "id",
        "kind",
        "logConfig",
        "name",
        "network",
        "params",
        "priority",
        "selfLink",
        "sourceRanges",
        "sourceServiceAccounts",
        "sourceTags",
        "targetServiceAccounts",
        "targetTags",
    ],
    nested: &[("allowed", &FIREWALL_RULE), ("denied", &FIREWALL_RULE)],
};

pub static FIREWALL_RULE: Schema = Schema {
    fields: &["IPProtocol", "ports"],
    nested: &[],
};

/// Refuses a key `schema` does not have, at any depth (arrays of messages element by element).
pub fn check(value: &Value, schema: &Schema, path: &str) -> Result<(), ApiError> {
    let Some(object) = value.as_object() else {
        return match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, item)| check(item, schema, &format!("{path}[{i}]"))),
            Value::Null => Ok(()),
            other => Err(ApiError::invalid_argument(format!(
                "Invalid value at '{path}' (TYPE_MESSAGE), {other}"
            ))),
        };
    };
    for (key, field) in object {
        if !schema.fields.contains(&key.as_str()) {
            return Err(ApiError::invalid_argument(format!(
                "Invalid JSON payload received. Unknown name \"{key}\" at '{path}': Cannot find field."
            )));
        }
        if let Some((_, inner)) = schema.nested.iter().find(|(name, _)| name == key) {
            check(field, inner, &format!("{path}.{key}"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_keys_are_refused_at_any_depth() {
        let ok = json!({"name": "a", "disks": [{"boot": true, "initializeParams": {"sourceImage": "x"}}]});
        assert!(check(&ok, &INSTANCE, "resource").is_ok());
        let deep = json!({"disks": [{"initializeParams": {"sourceImag": "x"}}]});
        let err = check(&deep, &INSTANCE, "resource").unwrap_err();
        assert!(err.message.contains("\"sourceImag\""), "{}", err.message);
        assert!(err.message.contains("resource.disks[0].initializeParams"));
    }
}
