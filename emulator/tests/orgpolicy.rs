//! Org Policy v2 as a project's description sets it: effective policies (described, implied by
//! the other fields, or the constraint's default), `get`/`list`, the permission with enforced
//! IAM, the API's enablement, bad specs refused, and `gcp.resourceLocations` refusing a create
//! in a location it does not allow, with Google's text.

mod common;

use common::*;
use serde_json::{Value, json};

fn effective(base: &str, project: &str, constraint: &str) -> String {
    format!("{base}/v2/projects/{project}/policies/{constraint}:getEffectivePolicy")
}

#[tokio::test]
async fn effective_policies_follow_the_description() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    let (status, described) = describe(
        base,
        json!({
            "projectId": "acme-eu-1",
            "defaultNetwork": false,
            "allowedPolicyMemberDomains": ["C0acme1"],
            "orgPolicies": {
                "constraints/gcp.resourceLocations":
                    {"rules": [{"values": {"allowedValues": ["in:eu-locations"]}}]},
                "iam.automaticIamGrantsForDefaultServiceAccounts": {"rules": [{"enforce": true}]},
            },
        }),
    )
    .await;
    assert_eq!(status, 200, "{described}");
    assert_eq!(described["computeDefaultServiceAccountRoles"], json!([]));
    let number = described["projectNumber"].as_str().unwrap().to_string();

    let (status, locations) =
        get(&effective(base, "acme-eu-1", "gcp.resourceLocations"), None).await;
    assert_eq!(status, 200, "{locations}");
    assert_eq!(
        locations,
        json!({"name": format!("projects/{number}/policies/gcp.resourceLocations"),
               "spec": {"rules": [{"values": {"allowedValues": ["in:eu-locations"]}}]}})
    );
    // Implied by the other fields.
    let (_, domains) = get(
        &effective(base, "acme-eu-1", "iam.allowedPolicyMemberDomains"),
        None,
    )
    .await;
    assert_eq!(
        domains["spec"]["rules"][0]["values"]["allowedValues"],
        json!(["C0acme1"])
    );
    let (_, network) = get(
        &effective(base, "acme-eu-1", "compute.skipDefaultNetworkCreation"),
        None,
    )
    .await;
    assert_eq!(network["spec"]["rules"], json!([{"enforce": true}]));
    // Not set: the constraint's default.
    let (_, os_login) = get(
        &effective(base, "acme-eu-1", "compute.requireOsLogin"),
        None,
    )
    .await;
    assert_eq!(os_login["spec"]["rules"], json!([{"enforce": false}]));
    let (_, ingress) = get(&effective(base, "acme-eu-1", "run.allowedIngress"), None).await;
    assert_eq!(ingress["spec"]["rules"], json!([{"allowAll": true}]));
    // A constraint the emulator does not model.
    let (status, _) = get(&effective(base, "acme-eu-1", "compute.noSuchThing"), None).await;
    assert_eq!(status, 404);

    let policies = format!("{base}/v2/projects/acme-eu-1/policies");
    let (status, _) = get(&format!("{policies}/run.allowedIngress"), None).await;
    assert_eq!(status, 404, "get answers only policies set on the project");
    let (_, listed) = get(&policies, None).await;
    assert_eq!(
        listed["policies"].as_array().map(Vec::len),
        Some(4),
        "{listed}"
    );

    // The policy is enforced on creates: Redis in us-central1 is refused with Google's text.
    let (status, refused) = {
        let response = post_json(
            format!("{base}/v1/projects/acme-eu-1/locations/us-central1/instances?instanceId=r1"),
            &json!({"tier": "BASIC", "memorySizeGb": 1}),
        )
        .await;
        (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap(),
        )
    };
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["status"], "FAILED_PRECONDITION");
    assert_eq!(
        refused["error"]["message"],
        "Location us-central1 violates constraint constraints/gcp.resourceLocations on the resource projects/acme-eu-1/locations/us-central1/instances/r1."
    );
    assert_eq!(
        refused["error"]["details"][0]["violations"][0]["type"],
        "constraints/gcp.resourceLocations"
    );
    let allowed = post_json(
        format!("{base}/v1/projects/acme-eu-1/locations/europe-west1/instances?instanceId=r1"),
        &json!({"tier": "BASIC", "memorySizeGb": 1, "authorizedNetwork": "projects/acme-eu-1/global/networks/mine"}),
    )
    .await;
    assert_ne!(allowed.status().as_u16(), 400, "europe-west1 is in the EU");
}

#[tokio::test]
async fn bad_policies_are_refused_at_description() {
    let emu = start(fast_config()).await;
    let base = emu.base_url();
    for (body, needle) in [
        (
            json!({"orgPolicies": {"gcp.noSuchConstraint": {"rules": []}}}),
            "not found",
        ),
        (
            json!({"orgPolicies": {"compute.requireOsLogin": {"rules": [{"values": {"allowedValues": ["x"]}}]}}}),
            "boolean",
        ),
        (
            json!({"orgPolicies": {"run.allowedIngress": {"rules": [{"enforce": true}]}}}),
            "list constraint",
        ),
        (
            json!({"orgPolicies": {"run.allowedIngress": {"rulez": []}}}),
            "not a policy spec",
        ),
        (
            json!({"defaultNetwork": true, "orgPolicies": {"compute.skipDefaultNetworkCreation": {"rules": [{"enforce": true}]}}}),
            "disagree",
        ),
    ] {
        let (status, answer) = describe(base, body).await;
        assert_eq!(status, 400, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{needle}: {message}");
    }
    // A policy implies the field: no default network.
    let (status, described) = describe(
        base,
        json!({"projectId": "nonet-op-1",
               "orgPolicies": {"compute.skipDefaultNetworkCreation": {"rules": [{"enforce": true}]}}}),
    )
    .await;
    assert_eq!(status, 200, "{described}");
    assert_eq!(described["defaultNetwork"], false);
}

#[tokio::test]
async fn reading_policies_needs_the_permission_and_the_api() {
    let emu = start(emulator::EmulatorConfig {
        enforce_api_enablement: true,
        ..fast_config()
    })
    .await;
    let base = emu.base_url();
    describe(base, json!({"projectId": "iam-op-1", "enforceIam": true})).await;
    let url = effective(base, "iam-op-1", "gcp.resourceLocations");
    let viewer = signed_in(
        base,
        "iam-op-1",
        "viewer@example.com",
        &["roles/orgpolicy.policyViewer"],
    )
    .await;
    let deployer = signed_in(
        base,
        "iam-op-1",
        "deployer@example.com",
        &["roles/run.admin"],
    )
    .await;

    // Not enabled at creation: SERVICE_DISABLED naming the Organization Policy API.
    let (status, disabled) = get(&url, Some(&viewer)).await;
    assert_eq!(status, 403, "{disabled}");
    assert!(
        disabled["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Organization Policy API has not been used"),
        "{disabled}"
    );
    let op = post_json(
        format!("{base}/v1/projects/iam-op-1/services/orgpolicy.googleapis.com:enable"),
        &json!({}),
    )
    .await;
    assert_eq!(
        op.status(),
        401,
        "enabling needs a caller with the role, too"
    );

    // Enabled by an owner; usable after the propagation window.
    let owner = signed_in(base, "iam-op-1", "owner@example.com", &["roles/owner"]).await;
    let (_, op) = post(
        &format!("{base}/v1/projects/iam-op-1/services/orgpolicy.googleapis.com:enable"),
        Some(&owner),
        json!({}),
    )
    .await;
    assert!(op["name"].is_string(), "{op}");
    let read = eventually(std::time::Duration::from_secs(10), || async {
        let (status, body) = get(&url, Some(&viewer)).await;
        (status != 403
            || body["error"]["details"]
                .to_string()
                .contains("IAM_PERMISSION_DENIED"))
        .then_some((status, body))
    })
    .await;
    assert_eq!(read.0, 200, "{}", read.1);

    let (status, denied) = get(&url, Some(&deployer)).await;
    assert_eq!(status, 403, "{denied}");
    assert_eq!(
        denied["error"]["message"],
        "Permission 'orgpolicy.policy.get' denied on resource 'projects/iam-op-1/policies/gcp.resourceLocations' (or it may not exist)."
    );
}
