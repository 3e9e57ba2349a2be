//! What the Google APIs accept, per the API contract (gcp-api-contract.md §5-§14, §8): every
//! request chatctl sends must match one documented method and path shape, carry the query
//! parameters that method takes, and a body with the fields the API requires.

use serde_json::Value;

/// One documented call: method, path pattern (`{}` = one segment), allowed query keys, and a
/// check of the body.
struct Shape {
    method: &'static str,
    path: &'static str,
    query: &'static [&'static str],
    body: fn(&Value) -> Result<(), String>,
}

fn any(_: &Value) -> Result<(), String> {
    Ok(())
}

fn need(body: &Value, pointer: &str) -> Result<(), String> {
    match body.pointer(pointer) {
        Some(v) if !v.is_null() => Ok(()),
        _ => Err(format!("body lacks {pointer}: {body}")),
    }
}

/// An instance insert: name, machine type, disks, a network interface without access configs
/// (chatctl's VMs have no external IP).
fn instance_insert(b: &Value) -> Result<(), String> {
    need(b, "/name")?;
    need(b, "/machineType")?;
    need(b, "/disks/0")?;
    need(b, "/networkInterfaces/0")?;
    let external = b["networkInterfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|nic| nic.get("accessConfigs").is_some());
    if external {
        return Err(format!(
            "an instance with an external IP (accessConfigs): {b}"
        ));
    }
    Ok(())
}

fn disk_insert(b: &Value) -> Result<(), String> {
    need(b, "/name")?;
    need(b, "/sizeGb")
}

/// A firewall rule chatctl inserts names its sources and what it allows.
fn firewall_insert(b: &Value) -> Result<(), String> {
    need(b, "/name")?;
    need(b, "/sourceRanges/0")?;
    need(b, "/allowed/0")
}

fn batch_enable(b: &Value) -> Result<(), String> {
    let ids = b["serviceIds"].as_array().ok_or("serviceIds missing")?;
    if ids.is_empty() || ids.len() > 20 {
        return Err(format!("batchEnable takes 1-20 ids, got {}", ids.len()));
    }
    Ok(())
}

fn sa_create(b: &Value) -> Result<(), String> {
    let id = b["accountId"].as_str().ok_or("accountId missing")?;
    if !(6..=30).contains(&id.len()) {
        return Err(format!("accountId {id} is not 6-30 characters"));
    }
    need(b, "/serviceAccount")
}

fn set_policy(b: &Value) -> Result<(), String> {
    need(b, "/policy/etag")?;
    need(b, "/policy/bindings")
}

fn get_policy(b: &Value) -> Result<(), String> {
    match b.pointer("/options/requestedPolicyVersion") {
        Some(v) if v == 3 => Ok(()),
        _ => Err(format!("getIamPolicy should ask for version 3: {b}")),
    }
}

/// testIamPermissions: 1-100 permissions, none a wildcard.
fn test_permissions(b: &Value) -> Result<(), String> {
    let asked = b["permissions"].as_array().ok_or("permissions missing")?;
    if asked.is_empty() || asked.len() > 100 {
        return Err(format!(
            "testIamPermissions takes 1-100 permissions, got {}",
            asked.len()
        ));
    }
    match asked
        .iter()
        .find(|p| p.as_str().is_none_or(|p| p.contains('*')))
    {
        Some(bad) => Err(format!("{bad} is not a permission name")),
        None => Ok(()),
    }
}

fn redis_create(b: &Value) -> Result<(), String> {
    need(b, "/tier")?;
    need(b, "/memorySizeGb")?;
    need(b, "/labels/managed-by")
}

fn secret_create(b: &Value) -> Result<(), String> {
    need(b, "/replication")?;
    need(b, "/labels/managed-by")
}

fn secret_version(b: &Value) -> Result<(), String> {
    // The request log redacts the payload: it must be there, never its value.
    need(b, "/payload")
}

fn connector_create(b: &Value) -> Result<(), String> {
    need(b, "/minInstances")?;
    need(b, "/maxInstances")?;
    need(b, "/network")?;
    let range = b["ipCidrRange"].as_str().ok_or("ipCidrRange missing")?;
    if !range.ends_with("/28") {
        return Err(format!("connector range {range} is not a /28"));
    }
    Ok(())
}

fn run_service(b: &Value) -> Result<(), String> {
    if b.get("template").and_then(|t| t.get("timeout")) != Some(&Value::from("3600s")) {
        return Err(format!("template.timeout should be 3600s: {b}"));
    }
    // One and only one of a connector and (Direct VPC egress) network interfaces.
    let vpc = b
        .pointer("/template/vpcAccess")
        .ok_or("template.vpcAccess missing")?;
    let connector = vpc["connector"].as_str().is_some_and(|c| !c.is_empty());
    let interfaces = vpc["networkInterfaces"].as_array().map_or(0, Vec::len);
    if connector == (interfaces > 0) || interfaces > 1 {
        return Err(format!(
            "vpcAccess needs a connector or one network interface, not both: {vpc}"
        ));
    }
    need(b, "/template/serviceAccount")?;
    need(b, "/template/containers/0/image")?;
    need(b, "/labels/chatctl-env")?;
    let env = b
        .pointer("/template/containers/0/env")
        .and_then(Value::as_array)
        .ok_or("env missing")?;
    if !env.iter().any(|e| e["name"] == "REDISHOST") {
        return Err("REDISHOST missing".into());
    }
    if b.pointer("/template/sessionAffinity") != Some(&Value::Bool(true)) {
        return Err("sessionAffinity should be true".into());
    }
    Ok(())
}

fn repository_create(b: &Value) -> Result<(), String> {
    match b["format"].as_str() {
        Some("DOCKER") | Some("1") => Ok(()),
        _ if b["format"] == 1 => Ok(()),
        _ => Err(format!("repository format should be DOCKER: {b}")),
    }
}

fn build_create(b: &Value) -> Result<(), String> {
    need(b, "/source/storageSource/bucket")?;
    need(b, "/source/storageSource/object")?;
    need(b, "/steps/0/name")?;
    need(b, "/images/0")
}

fn bucket_insert(b: &Value) -> Result<(), String> {
    need(b, "/name")?;
    match b.pointer("/iamConfiguration/uniformBucketLevelAccess/enabled") {
        Some(Value::Bool(true)) => Ok(()),
        _ => Err(format!("staging bucket should have uniform access: {b}")),
    }
}

const LRO: &[&str] = &[];

fn shapes() -> Vec<Shape> {
    vec![
        Shape {
            method: "GET",
            path: "/v1/projects/{}/services:batchGet",
            query: &["names"],
            body: any,
        },
        Shape {
            method: "POST",
            path: "/v1/projects/{}/services:batchEnable",
            query: &[],
            body: batch_enable,
        },
        Shape {
            method: "GET",
            path: "/v1/operations/{}",
            query: LRO,
            body: any,
        },
        Shape {
            method: "GET",
            path: "/v1/projects/{}/serviceAccounts/{}",
            query: &[],
            body: any,
        },
        Shape {
            method: "POST",
            path: "/v1/projects/{}/serviceAccounts",
            query: &[],
            body: sa_create,
        },
        Shape {
            method: "DELETE",
            path: "/v1/projects/{}/serviceAccounts/{}",
            query: &[],
            body: any,
        },
        Shape {
            method: "POST",
            path: "/v3/projects/{}:getIamPolicy",
            query: &[],
            body: get_policy,
        },
        Shape {
            method: "POST",
            path: "/v3/projects/{}:setIamPolicy",
            query: &[],
            body: set_policy,
        },
        Shape {
            method: "POST",
            path: "/v3/projects/{}:testIamPermissions",
            query: &[],
            body: test_permissions,
        },
        Shape {
            method: "POST",
            path: "/v1/projects/{}/serviceAccounts/{}:testIamPermissions",
            query: &[],
            body: test_permissions,
        },
        Shape {
            method: "GET",
            path: "/v1/projects/{}/locations/{}/instances/{}",
            query: &[],
            body: any,
        },
        Shape {
            method: "POST",
            path: "/v1/projects/{}/locations/{}/instances",
            query: &["instanceId"],
            body: redis_create,
        },
        Shape {
            method: "PATCH",
            path: "/v1/projects/{}/locations/{}/instances/{}",
            query: &["updateMask"],
            body: any,
        },
        Shape {
            method: "DELETE",
            path: "/v1/projects/{}/locations/{}/instances/{}",
            query: &[],
            body: any,
        },
        Shape {
            method: "GET",
            path: "/v1/projects/{}/locations/{}/instances/{}/authString",
            query: &[],
            body: any,
        },
        // Org Policy v2 (discovery: orgpolicy.projects.policies.getEffectivePolicy), read by
        // the preflight of plan and up.
        Shape {
            method: "GET",
            path: "/v2/projects/{}/policies/{}:getEffectivePolicy",
            query: &[],
            body: any,
        },
        // Secret Manager v1 (discovery: secretmanager.projects.secrets.*).
        Shape {
            method: "GET",
            path: "/v1/projects/{}/secrets/{}",
            query: &[],
            body: any,
        },
        Shape {
            method: "POST",
            path: "/v1/projects/{}/secrets",
            query: &["secretId"],
            body: secret_create,
        },
        Shape {
            method: "DELETE",
            path: "/v1/projects/{}/secrets/{}",
            query: &["etag"],
            body: any,
        },
        Shape {
            method: "POST",
            path: "/v1/projects/{}/secrets/{}:addVersion",
            query: &[],
            body: secret_version,
        },
        Shape {
            method: "GET",
            path: "/v1/projects/{}/secrets/{}/versions/{}:access",
            query: &[],
            body: any,
        },
        Shape {
            method: "GET",
            path: "/v1/projects/{}/secrets/{}:getIamPolicy",
            query: &["options.requestedPolicyVersion"],
            body: any,
        },
        Shape {
            method: "POST",
            path: "/v1/projects/{}/secrets/{}:setIamPolicy",
            query: &[],
            body: set_policy,
        },
        Shape {
            method: "GET",
            path: "/v1/projects/{}/locations/{}/operations/{}",
            query: LRO,
            body: any,
        },
        Shape {
            method: "GET",
            path: "/v1/projects/{}/locations/{}/connectors",
            query: &["pageSize", "pageToken"],
            body: any,
        },
        Shape {
            method: "GET",
            path: "/v1/projects/{}/locations/{}/connectors/{}",
            query: &[],
            body: any,
        },
        Shape {
            method: "POST",
            path: "/v1/projects/{}/locations/{}/connectors",
            query: &["connectorId"],
            body: connector_create,
        },
        Shape {
            method: "PATCH",
            path: "/v1/projects/{}/locations/{}/connectors/{}",
            query: &["updateMask"],
            body: any,
        },
        Shape {
            method: "DELETE",
            path: "/v1/projects/{}/locations/{}/connectors/{}",
            query: &[],
            body: any,
        },
        Shape {
            method: "GET",
            path: "/v2/projects/{}/locations/{}/services/{}",
            query: &[],
            body: any,
        },
        Shape {
            method: "POST",
            path: "/v2/projects/{}/locations/{}/services",
            query: &["serviceId", "validateOnly"],
            body: run_service,
        },
        Shape {
            method: "PATCH",
            path: "/v2/projects/{}/locations/{}/services/{}",
            query: &["updateMask", "validateOnly", "allowMissing"],
            body: run_service,
        },
        Shape {
            method: "DELETE",
            path: "/v2/projects/{}/locations/{}/services/{}",
            query: &["validateOnly", "etag"],
            body: any,
        },
        Shape {
            method: "GET",
            path: "/v2/projects/{}/locations/{}/services/{}:getIamPolicy",
            query: &["options.requestedPolicyVersion"],
            body: any,
        },
        Shape {
            method: "POST",
            path: "/v2/projects/{}/locations/{}/services/{}:setIamPolicy",
            query: &[],
            body: set_policy,
        },
        Shape {
            method: "GET",
            path: "/v2/projects/{}/locations/{}/operations/{}",
            query: LRO,
            body: any,
        },
        // Artifact Registry v1 (§11).
        Shape {
            method: "GET",
            path: "/v1/projects/{}/locations/{}/repositories/{}",
            query: &[],
            body: any,
        },
        Shape {
            method: "POST",
            path: "/v1/projects/{}/locations/{}/repositories",
            query: &["repositoryId"],
            body: repository_create,
        },
        Shape {
            method: "GET",
            path: "/v1/projects/{}/locations/{}/repositories/{}/packages/{}/tags/{}",
            query: &[],
            body: any,
        },
        Shape {
            method: "GET",
            path: "/v1/projects/{}/locations/{}/repositories/{}/dockerImages/{}",
            query: &[],
            body: any,
        },
        // Cloud Build v1 (§13).
        Shape {
            method: "POST",
            path: "/v1/projects/{}/builds",
            query: &["parent"],
            body: build_create,
        },
        Shape {
            method: "GET",
            path: "/v1/projects/{}/builds/{}",
            query: &["name"],
            body: any,
        },
        // builds.list: the build of the same sources an interrupted up left running.
        Shape {
            method: "GET",
            path: "/v1/projects/{}/builds",
            query: &["parent", "pageSize", "pageToken", "filter"],
            body: any,
        },
        // Compute Engine v1 (§8): the network's subnets, every region, before the connector.
        Shape {
            method: "GET",
            path: "/compute/v1/projects/{}/global/networks/{}",
            query: &[],
            body: any,
        },
        Shape {
            method: "GET",
            path: "/compute/v1/projects/{}/regions/{}/subnetworks/{}",
            query: &[],
            body: any,
        },
        Shape {
            method: "GET",
            path: "/compute/v1/projects/{}/aggregated/subnetworks",
            query: &["pageToken", "maxResults", "filter", "returnPartialSuccess"],
            body: any,
        },
        // Compute Engine v1: the NATS server of --bus nats (its VM, data disk, firewall rule)
        // and the zone and global operations of their changes.
        Shape {
            method: "GET",
            path: "/compute/v1/projects/{}/zones/{}/instances/{}",
            query: &[],
            body: any,
        },
        Shape {
            method: "POST",
            path: "/compute/v1/projects/{}/zones/{}/instances",
            query: &["requestId"],
            body: instance_insert,
        },
        Shape {
            method: "DELETE",
            path: "/compute/v1/projects/{}/zones/{}/instances/{}",
            query: &["requestId"],
            body: any,
        },
        Shape {
            method: "GET",
            path: "/compute/v1/projects/{}/zones/{}/disks/{}",
            query: &[],
            body: any,
        },
        Shape {
            method: "POST",
            path: "/compute/v1/projects/{}/zones/{}/disks",
            query: &["requestId"],
            body: disk_insert,
        },
        Shape {
            method: "DELETE",
            path: "/compute/v1/projects/{}/zones/{}/disks/{}",
            query: &["requestId"],
            body: any,
        },
        Shape {
            method: "GET",
            path: "/compute/v1/projects/{}/zones/{}/operations/{}",
            query: &[],
            body: any,
        },
        Shape {
            method: "GET",
            path: "/compute/v1/projects/{}/global/firewalls/{}",
            query: &[],
            body: any,
        },
        Shape {
            method: "POST",
            path: "/compute/v1/projects/{}/global/firewalls",
            query: &["requestId"],
            body: firewall_insert,
        },
        Shape {
            method: "PUT",
            path: "/compute/v1/projects/{}/global/firewalls/{}",
            query: &["requestId"],
            body: firewall_insert,
        },
        Shape {
            method: "DELETE",
            path: "/compute/v1/projects/{}/global/firewalls/{}",
            query: &["requestId"],
            body: any,
        },
        Shape {
            method: "GET",
            path: "/compute/v1/projects/{}/global/operations/{}",
            query: &[],
            body: any,
        },
        // Cloud Storage JSON API (§12), called without the google-cloud crates' $alt.
        Shape {
            method: "GET",
            path: "/storage/v1/b",
            query: &["project", "prefix"],
            body: any,
        },
        Shape {
            method: "POST",
            path: "/storage/v1/b",
            query: &["project"],
            body: bucket_insert,
        },
        Shape {
            method: "POST",
            path: "/upload/storage/v1/b/{}/o",
            query: &["uploadType", "name", "ifGenerationMatch"],
            body: any,
        },
        // A resumable upload's bytes (google-cloud-storage's writes), sent to the session the
        // POST above opened with uploadType=resumable.
        Shape {
            method: "PUT",
            path: "/upload/storage/v1/b/{}/o",
            query: &["uploadType", "upload_id"],
            body: any,
        },
        // The environment's lock: read (metadata, then that generation's content) and deleted
        // only at the generation its holder wrote.
        Shape {
            method: "GET",
            path: "/storage/v1/b/{}/o/{}",
            query: &["alt", "generation"],
            body: any,
        },
        Shape {
            method: "DELETE",
            path: "/storage/v1/b/{}/o/{}",
            query: &["ifGenerationMatch"],
            body: any,
        },
    ]
}

fn segments_match(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.split('/').collect();
    let a: Vec<&str> = path.split('/').collect();
    p.len() == a.len()
        && p.iter().zip(&a).all(|(p, a)| {
            if *p == "{}" {
                !a.is_empty() && !a.contains(':')
            } else if let Some((_, verb)) = p.split_once("{}:") {
                a.split_once(':')
                    .is_some_and(|(id, v)| !id.is_empty() && v == verb)
            } else {
                p == a
            }
        })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Checks every logged request; returns the ones that match no documented shape, with why.
pub fn violations(requests: &[Value]) -> Vec<String> {
    let shapes = shapes();
    let mut bad = Vec::new();
    for r in requests {
        let method = r["method"].as_str().unwrap_or_default();
        let full = r["path"].as_str().unwrap_or_default();
        let (path, query) = full.split_once('?').unwrap_or((full, ""));
        let params: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        let Some(shape) = shapes
            .iter()
            .find(|s| s.method == method && segments_match(s.path, path))
        else {
            bad.push(format!(
                "{method} {full}: no documented call has this method and path"
            ));
            continue;
        };
        let storage = path.starts_with("/storage/") || path.starts_with("/upload/storage/");
        // The Compute client (discovery-based) asks for string enums and names its API version.
        let compute = path.starts_with("/compute/");
        let alt = if compute {
            "json"
        } else {
            "json;enum-encoding=int"
        };
        if !storage && !params.iter().any(|(k, v)| k == "$alt" && v == alt) {
            bad.push(format!("{method} {full}: lacks $alt={alt}"));
        }
        for (k, _) in &params {
            let system = k == "$alt" || (compute && k == "$apiVersion");
            if !system && !shape.query.contains(&k.as_str()) {
                bad.push(format!(
                    "{method} {full}: query parameter {k} is not one this call takes"
                ));
            }
        }
        let body: Value = match &r["body"] {
            Value::String(s) if !s.is_empty() => serde_json::from_str(s).unwrap_or(Value::Null),
            Value::Null => Value::Null,
            other => other.clone(),
        };
        if let Err(why) = (shape.body)(&body) {
            bad.push(format!("{method} {full}: {why}"));
        }
    }
    bad
}
