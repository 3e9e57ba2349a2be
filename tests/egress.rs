//! `--egress direct` (Direct VPC egress) through the chatctl binary against the emulator: no
//! connector, the service's one network interface on the network and its subnet; the subnet is
//! checked (exists, belongs to the network, has room for the instances) before anything is
//! created; switching between a connector and direct egress moves the service first, then
//! deletes the connector nothing uses, and with --bus nats the firewall rule, updated in place,
//! admits both ranges while the service moves and only the new one after; `down` leaves nothing.

mod common;

use common::{Emu, connector_path, firewall_path, mutating, service_path};
use serde_json::{Value, json};

async fn run(emu: &Emu, dir: &std::path::Path, env: &str, args: &[&str]) -> common::Run {
    common::run(emu.base(), dir, env, args).await
}

async fn run_ok(emu: &Emu, dir: &std::path::Path, env: &str, args: &[&str]) -> common::Run {
    common::run_ok(emu.base(), dir, env, args).await
}

/// `plan ARGS --detailed-exitcode`: its exit code (0 converged, 2 changes) and its text.
async fn plan(emu: &Emu, dir: &std::path::Path, env: &str, args: &[&str]) -> (i32, String) {
    let mut all = vec!["plan"];
    all.extend_from_slice(args);
    all.push("--detailed-exitcode");
    let out = run(emu, dir, env, &all).await;
    (
        out.code.unwrap_or(-1),
        format!("{}{}", out.stdout, out.stderr),
    )
}

async fn get(emu: &Emu, path: &str) -> (u16, Value) {
    emu.fetch(path).await
}

/// Indexes in `log` of the requests `method` whose path starts with `path`.
fn positions(log: &[Value], method: &str, path: &str) -> Vec<usize> {
    log.iter()
        .enumerate()
        .filter(|(_, r)| {
            r["method"] == method && r["path"].as_str().is_some_and(|p| p.starts_with(path))
        })
        .map(|(i, _)| i)
        .collect()
}

/// The `default` network's subnet in us-central1, which the emulator (like Google) creates.
const DEFAULT_SUBNET_RANGE: &str = "10.128.0.0/20";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_egress_creates_no_connector_and_the_service_joins_the_subnet() {
    let emu = Emu::start(301).await;
    let dir = tempfile::tempdir().unwrap();
    let env = "direct";

    let plan = run(&emu, dir.path(), env, &["plan", "--egress", "direct"]).await;
    assert!(
        plan.stdout.contains("not used (egress direct)")
            || plan.stderr.contains("not used (egress direct)"),
        "the connector is not part of the plan: {}{}",
        plan.stdout,
        plan.stderr
    );
    run_ok(&emu, dir.path(), env, &["up", "--egress", "direct"]).await;
    let log = emu.requests().await;
    assert_eq!(
        common::contract::violations(&log),
        Vec::<String>::new(),
        "every request is one the real API accepts"
    );
    assert!(
        !mutating(&log).iter().any(|r| r.contains("/connectors")),
        "no connector call: {:?}",
        mutating(&log)
    );
    let (status, service) = get(&emu, &service_path(env)).await;
    assert_eq!(status, 200);
    let vpc = &service["template"]["vpcAccess"];
    assert_eq!(
        vpc["networkInterfaces"],
        json!([{"network": "default", "subnetwork": "default"}]),
        "{vpc}"
    );
    assert_eq!(vpc["egress"], "PRIVATE_RANGES_ONLY", "{vpc}");
    assert!(vpc.get("connector").is_none(), "{vpc}");

    let status = run_ok(&emu, dir.path(), env, &["status", "--egress", "direct"]).await;
    let shown = format!("{}{}", status.stdout, status.stderr);
    assert!(
        shown.contains(DEFAULT_SUBNET_RANGE) && shown.contains("room for 10 instances"),
        "status names the subnet and its room: {shown}"
    );
    let before = emu.requests().await.len();
    run_ok(&emu, dir.path(), env, &["up", "--egress", "direct"]).await;
    assert_eq!(
        mutating(&emu.requests().await[before..]),
        Vec::<String>::new(),
        "a converged up only reads"
    );
    run_ok(&emu, dir.path(), env, &["down", "--yes"]).await;
    assert_eq!(emu.leftovers(&format!("chat-{env}")).await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_foreign_or_small_subnet_is_refused_before_anything_is_created() {
    let mut emu = Emu::start(302).await;
    emu.insert_subnet("tiny", "us-central1", "10.9.0.0/28")
        .await;
    let dir = tempfile::tempdir().unwrap();

    let cases: [(&[&str], &[&str]); 3] = [
        (
            &["--subnet", "nope"],
            &[
                "subnet nope does not exist in us-central1",
                "--egress connector",
            ],
        ),
        (
            &["--subnet", "tiny"],
            &[
                "subnet tiny (10.9.0.0/28) has 12 addresses",
                "about 32",
                "10 instances",
            ],
        ),
        // A service allowed 100 instances needs 208 addresses; a /24 has 252.
        (
            &["--subnet", "BAD_NAME"],
            &["not a Compute Engine subnet name"],
        ),
    ];
    for (i, (flags, expected)) in cases.iter().enumerate() {
        let env = format!("refused{i}");
        let before = emu.requests().await.len();
        let mut args = vec!["up", "--egress", "direct"];
        args.extend_from_slice(flags);
        let out = run(&emu, dir.path(), &env, &args).await;
        assert_ne!(
            out.code,
            Some(0),
            "{flags:?} must be refused: {}",
            out.stderr
        );
        for text in *expected {
            assert!(
                out.stderr.contains(text),
                "{flags:?}: no `{text}` in {}",
                out.stderr
            );
        }
        let changed: Vec<String> = mutating(&emu.requests().await[before..])
            .into_iter()
            .filter(|r| !r.contains(":enable") && !r.contains("/operations/"))
            .collect();
        assert!(
            !changed.iter().any(|r| {
                [
                    "/locations/us-central1/instances",
                    "/connectors",
                    "/locations/us-central1/services",
                    "/secrets",
                ]
                .iter()
                .any(|p| r.contains(p))
            }),
            "{flags:?}: nothing created: {changed:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_judges_the_subnet_as_up_would() {
    let mut emu = Emu::start(304).await;
    emu.insert_subnet("tiny", "us-central1", "10.9.0.0/28")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let doctor = |subnet: &'static str| {
        let dir = dir.path().to_path_buf();
        let emu = &emu;
        async move {
            let args = [
                "doctor", "--egress", "direct", "--subnet", subnet, "--output", "json",
            ];
            let out = run(emu, &dir, "doc", &args).await;
            let report: Value = out
                .stdout
                .lines()
                .find_map(|l| {
                    serde_json::from_str::<Value>(l)
                        .ok()
                        .filter(|v| v["type"] == "doctor")
                })
                .unwrap_or_else(|| panic!("no doctor object: {}{}", out.stdout, out.stderr));
            (out.code, report)
        }
    };
    let (code, report) = doctor("tiny").await;
    assert_eq!(code, Some(1), "{report}");
    assert_eq!(report["subnet"]["usable"], false, "{report}");
    let problems = report["problems"].to_string();
    assert!(
        problems.contains("subnet tiny (10.9.0.0/28) has 12 addresses"),
        "{problems}"
    );
    let (_, report) = doctor("default").await;
    assert_eq!(report["subnet"]["usable"], true, "{report}");
    assert_eq!(report["subnet"]["range"], DEFAULT_SUBNET_RANGE, "{report}");
    assert!(
        !report["problems"].to_string().contains("subnet"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_egress_moves_the_service_first_and_the_firewall_follows_it() {
    let emu = Emu::start(303).await;
    let dir = tempfile::tempdir().unwrap();
    let env = "egswitch";
    let nats = ["--bus", "nats"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut args = vec!["up"];
        args.extend_from_slice(&nats);
        args.extend_from_slice(extra);
        args
    };

    run_ok(&emu, dir.path(), env, &with(&[])).await;
    let (_, rule) = get(&emu, &firewall_path(env)).await;
    assert_eq!(rule["sourceRanges"], json!(["10.8.0.0/28"]), "{rule}");

    // connector → direct: plan names the connector as what goes.
    let direct = ["--bus", "nats", "--egress", "direct"];
    let (code, text) = plan(&emu, dir.path(), env, &direct).await;
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("deleted once the service has moved"),
        "{text}"
    );
    let before = emu.requests().await.len();
    run_ok(&emu, dir.path(), env, &with(&["--egress", "direct"])).await;
    let log = emu.requests().await.split_off(before);
    let service_moved = positions(&log, "PATCH", &service_path(env));
    let connector_deleted = positions(&log, "DELETE", &connector_path(env));
    let rule_updated = positions(&log, "PUT", &firewall_path(env));
    assert_eq!(service_moved.len(), 1, "one service update");
    assert_eq!(connector_deleted.len(), 1, "the connector is deleted");
    assert!(
        service_moved[0] < connector_deleted[0],
        "the service moved first"
    );
    assert_eq!(
        rule_updated.len(),
        2,
        "the rule widened, then narrowed, in place"
    );
    assert!(rule_updated[0] < service_moved[0] && connector_deleted[0] < rule_updated[1]);
    assert!(
        positions(&log, "DELETE", &firewall_path(env)).is_empty(),
        "never a moment without the rule"
    );
    let widened = &log[rule_updated[0]]["body"]["sourceRanges"];
    assert_eq!(
        widened,
        &json!([DEFAULT_SUBNET_RANGE, "10.8.0.0/28"]),
        "both while moving"
    );
    let (_, rule) = get(&emu, &firewall_path(env)).await;
    assert_eq!(
        rule["sourceRanges"],
        json!([DEFAULT_SUBNET_RANGE]),
        "{rule}"
    );
    assert_eq!(get(&emu, &connector_path(env)).await.0, 404);
    let (code, text) = plan(&emu, dir.path(), env, &direct).await;
    assert_eq!(code, 0, "converged: {text}");

    // direct → connector: the connector exists before the service moves back to it.
    let before = emu.requests().await.len();
    run_ok(&emu, dir.path(), env, &with(&[])).await;
    let log = emu.requests().await.split_off(before);
    let connector_created = positions(
        &log,
        "POST",
        "/v1/projects/chat-e2e-1/locations/us-central1/connectors",
    );
    let service_moved = positions(&log, "PATCH", &service_path(env));
    assert_eq!(connector_created.len(), 1);
    assert_eq!(service_moved.len(), 1);
    assert!(connector_created[0] < service_moved[0]);
    let (_, service) = get(&emu, &service_path(env)).await;
    let vpc = &service["template"]["vpcAccess"];
    assert!(vpc.get("networkInterfaces").is_none(), "{vpc}");
    assert!(
        vpc["connector"]
            .as_str()
            .unwrap_or("")
            .ends_with(&format!("/connectors/chat-{env}"))
    );
    let (_, rule) = get(&emu, &firewall_path(env)).await;
    assert_eq!(rule["sourceRanges"], json!(["10.8.0.0/28"]), "{rule}");
    let (code, text) = plan(&emu, dir.path(), env, &nats).await;
    assert_eq!(code, 0, "converged: {text}");

    run_ok(&emu, dir.path(), env, &["down", "--yes"]).await;
    assert_eq!(emu.leftovers(&format!("chat-{env}")).await, "");
    assert_eq!(emu.leftovers(&format!("nats-{env}")).await, "");
}
