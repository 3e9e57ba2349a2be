//! `--bus nats` on Google Cloud, through the chatctl binary against the emulator: `up` creates
//! the NATS server's VM (Container-Optimized OS, no external IP), its data disk, the firewall
//! rule admitting the connector's /28 to port 4222, and the credentials secret the service reads
//! as NATS_URL through secretKeyRef; the password shows nowhere (output, JSON, service spec, VM
//! metadata); a second `up` changes nothing, `plan` lists every piece, `down` removes them.
//! Switching redis → nats → redis moves the service first and deletes the old bus after.

mod common;

use base64::Engine as _;
use common::{Emu, PROJECT, connector_path, firewall_path, service_path};
use serde_json::Value;

use common::{run, run_ok};

async fn get(emu: &Emu, path: &str) -> Value {
    let (status, body) = emu.fetch(path).await;
    assert!((200..300).contains(&status), "GET {path}: {status} {body}");
    body
}

async fn status_of(emu: &Emu, path: &str) -> u16 {
    emu.fetch(path).await.0
}

const ZONE: &str = "us-central1-a";

fn vm_path(env: &str) -> String {
    format!("/compute/v1/projects/{PROJECT}/zones/{ZONE}/instances/chat-nats-{env}")
}
fn disk_path(env: &str) -> String {
    format!("/compute/v1/projects/{PROJECT}/zones/{ZONE}/disks/chat-nats-data-{env}")
}
fn secret_path(env: &str) -> String {
    format!("/v1/projects/{PROJECT}/secrets/chat-nats-auth-{env}")
}
fn redis_path(env: &str) -> String {
    format!("/v1/projects/{PROJECT}/locations/us-central1/instances/chat-{env}")
}

/// The NATS URL the secret holds, and its password.
async fn stored_url(emu: &Emu, env: &str) -> (String, String) {
    let version = get(emu, &format!("{}/versions/latest:access", secret_path(env))).await;
    let data = version["payload"]["data"].as_str().expect("payload");
    let url = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
    )
    .unwrap();
    let password = url
        .strip_prefix("nats://chat:")
        .and_then(|rest| rest.split_once('@'))
        .map(|(pw, _)| pw.to_string())
        .unwrap_or_else(|| panic!("not a NATS URL with a password"));
    (url, password)
}

fn env_var<'a>(service: &'a Value, name: &str) -> Option<&'a Value> {
    service["template"]["containers"][0]["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
}

/// The index in the request log of the first request `method` whose path starts with `path`.
fn first(log: &[Value], method: &str, path: &str) -> Option<usize> {
    log.iter().position(|r| {
        r["method"] == method && r["path"].as_str().is_some_and(|p| p.starts_with(path))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_with_nats_creates_the_vm_disk_firewall_and_secret_and_down_removes_them() {
    let emu = Emu::start(131).await;
    let dir = tempfile::tempdir().unwrap();
    let base = emu.base().to_string();
    let env = "natsup";

    let up = run_ok(
        &base,
        dir.path(),
        env,
        &["up", "--bus", "nats", "--output", "json"],
    )
    .await;

    // The VM: e2-small, Container-Optimized OS, the data disk, no external IP, labelled, tagged.
    let vm = get(&emu, &vm_path(env)).await;
    assert_eq!(vm["status"], "RUNNING");
    assert!(
        vm["machineType"]
            .as_str()
            .unwrap()
            .ends_with("/machineTypes/e2-small")
    );
    let nic = &vm["networkInterfaces"][0];
    assert!(
        nic["accessConfigs"].as_array().is_none_or(Vec::is_empty),
        "no external IP: {nic}"
    );
    let ip = nic["networkIP"]
        .as_str()
        .expect("an internal IP")
        .to_string();
    assert_eq!(vm["labels"]["managed-by"], "chatctl");
    assert_eq!(vm["labels"]["chatctl-env"], env);
    assert_eq!(vm["tags"]["items"][0], format!("chat-nats-{env}"));
    assert_eq!(
        vm["serviceAccounts"][0]["email"],
        format!("chat-identity-{env}@{PROJECT}.iam.gserviceaccount.com")
    );
    let disks = vm["disks"].as_array().unwrap();
    assert!(
        disks[0]["source"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/disks/chat-nats-{env}")),
        "the boot disk: {}",
        disks[0]
    );
    assert!(
        disks[1]["source"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/disks/chat-nats-data-{env}"))
    );
    assert_eq!(
        disks[1]["autoDelete"], false,
        "the data disk outlives the VM"
    );
    let script = vm["metadata"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == "startup-script")
        .expect("a startup script")["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        script.contains(" nats:2.10 ") && script.contains("-js"),
        "{script}"
    );
    assert!(script.contains(&format!(
        "secrets/chat-nats-auth-{env}/versions/latest:access"
    )));
    let boot = get(
        &emu,
        &format!("/compute/v1/projects/{PROJECT}/zones/{ZONE}/disks/chat-nats-{env}"),
    )
    .await;
    assert!(boot["sourceImage"].as_str().unwrap().contains("cos-cloud"));

    // The data disk, labelled, in use by the VM.
    let disk = get(&emu, &disk_path(env)).await;
    assert_eq!(disk["labels"]["chatctl-env"], env);
    assert!(
        disk["users"][0]
            .as_str()
            .unwrap()
            .ends_with(&format!("/instances/chat-nats-{env}"))
    );

    // The firewall rule: tcp:4222 from the connector's range only, to the VM's tag.
    let connector = get(&emu, &connector_path(env)).await;
    let range = connector["ipCidrRange"].as_str().unwrap();
    let rule = get(&emu, &firewall_path(env)).await;
    assert_eq!(rule["sourceRanges"], serde_json::json!([range]));
    assert_eq!(
        rule["allowed"],
        serde_json::json!([{"IPProtocol": "tcp", "ports": ["4222"]}])
    );
    assert_eq!(
        rule["targetTags"],
        serde_json::json!([format!("chat-nats-{env}")])
    );
    assert_eq!(rule["direction"], "INGRESS");
    assert!(
        rule["description"]
            .as_str()
            .unwrap()
            .starts_with(&format!("managed-by=chatctl chatctl-env={env}"))
    );

    // The secret: the URL of the VM with a generated password; only chat-identity may read it.
    let secret = get(&emu, &secret_path(env)).await;
    assert_eq!(secret["labels"]["chatctl-env"], env);
    let (url, password) = stored_url(&emu, env).await;
    assert_eq!(url, format!("nats://chat:{password}@{ip}:4222"));
    assert!(password.len() >= 32);
    let policy = get(&emu, &format!("{}:getIamPolicy", secret_path(env))).await;
    assert_eq!(
        policy["bindings"],
        serde_json::json!([{
            "role": "roles/secretmanager.secretAccessor",
            "members": [format!("serviceAccount:chat-identity-{env}@{PROJECT}.iam.gserviceaccount.com")],
        }])
    );

    // The service: BUS=nats, NATS_URL from the secret by pinned version, no Redis variables.
    let service = get(&emu, &service_path(env)).await;
    assert_eq!(env_var(&service, "BUS").unwrap()["value"], "nats");
    let nats_url = env_var(&service, "NATS_URL").expect("NATS_URL");
    assert!(
        nats_url.get("value").is_none(),
        "not a plain value: {nats_url}"
    );
    assert_eq!(
        nats_url["valueSource"]["secretKeyRef"]["secret"],
        format!("chat-nats-auth-{env}")
    );
    assert_eq!(nats_url["valueSource"]["secretKeyRef"]["version"], "1");
    assert!(env_var(&service, "REDISHOST").is_none());
    assert_eq!(
        status_of(&emu, &redis_path(env)).await,
        404,
        "no Redis with --bus nats"
    );

    // The password is nowhere but in the secret.
    let plan = run_ok(
        &base,
        dir.path(),
        env,
        &["plan", "--bus", "nats", "--detailed-exitcode"],
    )
    .await;
    let status = run_ok(
        &base,
        dir.path(),
        env,
        &["status", "--bus", "nats", "--output", "json"],
    )
    .await;
    for (what, text) in [
        ("up stdout", &up.stdout),
        ("up stderr", &up.stderr),
        ("plan", &plan.stderr),
        ("status", &status.stdout),
        ("service", &service.to_string()),
        ("vm", &vm.to_string()),
    ] {
        assert!(!text.contains(&password), "the password shows in {what}");
    }
    // plan lists every piece, with nothing to do (exit 0 above).
    for name in [
        format!("chat-nats-{env}"),
        format!("chat-nats-data-{env}"),
        format!("chat-nats-allow-{env}"),
        format!("chat-nats-auth-{env}"),
    ] {
        assert!(
            plan.stderr.contains(&name),
            "plan names {name}: {}",
            plan.stderr
        );
    }

    // A second up changes nothing: it only reads.
    let before = emu.requests().await.len();
    run_ok(&base, dir.path(), env, &["up", "--bus", "nats"]).await;
    let after = emu.requests().await;
    let changes = common::mutating(&after[before..]);
    assert!(changes.is_empty(), "a converged up changed {changes:?}");

    // down removes the VM, its disks, the rule and the secret.
    run_ok(&base, dir.path(), env, &["down", "--yes"]).await;
    for path in [
        vm_path(env),
        disk_path(env),
        firewall_path(env),
        secret_path(env),
        service_path(env),
    ] {
        assert_eq!(status_of(&emu, &path).await, 404, "{path} is left");
    }
    assert_eq!(emu.leftovers(&format!("chat-nats-{env}")).await, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_the_bus_moves_the_service_first_then_deletes_the_old_one() {
    let emu = Emu::start(132).await;
    let dir = tempfile::tempdir().unwrap();
    let base = emu.base().to_string();
    let env = "switch";

    run_ok(&base, dir.path(), env, &["up"]).await;
    assert_eq!(status_of(&emu, &redis_path(env)).await, 200);

    // redis → nats: plan says what goes, up moves the service before deleting Redis.
    let plan = run(
        &base,
        dir.path(),
        env,
        &["plan", "--bus", "nats", "--detailed-exitcode"],
    )
    .await;
    assert_eq!(plan.code, Some(2), "changes: {}", plan.stderr);
    assert!(
        plan.stderr.contains(&format!("chat-redis-auth-{env}")),
        "{}",
        plan.stderr
    );
    let before = emu.requests().await.len();
    run_ok(&base, dir.path(), env, &["up", "--bus", "nats"]).await;
    let log = emu.requests().await.split_off(before);
    let service_moved = first(&log, "PATCH", &service_path(env)).expect("the service is updated");
    let redis_deleted = first(&log, "DELETE", &redis_path(env)).expect("Redis is deleted");
    let auth_deleted = first(
        &log,
        "DELETE",
        &format!("/v1/projects/{PROJECT}/secrets/chat-redis-auth-{env}"),
    )
    .expect("Redis's AUTH secret is deleted");
    assert!(
        service_moved < redis_deleted,
        "the service moved off Redis before Redis went"
    );
    assert!(service_moved < auth_deleted);
    let service = get(&emu, &service_path(env)).await;
    assert_eq!(env_var(&service, "BUS").unwrap()["value"], "nats");
    assert_eq!(status_of(&emu, &redis_path(env)).await, 404);
    let converged = run(
        &base,
        dir.path(),
        env,
        &["plan", "--bus", "nats", "--detailed-exitcode"],
    )
    .await;
    assert_eq!(converged.code, Some(0), "{}", converged.stderr);

    // nats → redis: the service moves back to Redis, then the NATS pieces go.
    let before = emu.requests().await.len();
    run_ok(&base, dir.path(), env, &["up", "--bus", "redis"]).await;
    let log = emu.requests().await.split_off(before);
    let service_moved = first(&log, "PATCH", &service_path(env)).expect("the service is updated");
    let vm_deleted = first(&log, "DELETE", &vm_path(env)).expect("the VM is deleted");
    let disk_deleted = first(&log, "DELETE", &disk_path(env)).expect("the disk is deleted");
    assert!(service_moved < vm_deleted && vm_deleted < disk_deleted);
    assert!(first(&log, "DELETE", &firewall_path(env)).is_some());
    assert!(first(&log, "DELETE", &secret_path(env)).is_some());
    let service = get(&emu, &service_path(env)).await;
    assert!(env_var(&service, "REDISHOST").is_some());
    assert!(env_var(&service, "NATS_URL").is_none());
    let converged = run(&base, dir.path(), env, &["plan", "--detailed-exitcode"]).await;
    assert_eq!(converged.code, Some(0), "{}", converged.stderr);

    run_ok(&base, dir.path(), env, &["down", "--yes"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_vm_that_is_not_ours_is_refused_and_left_alone() {
    let emu = Emu::start(133).await;
    let dir = tempfile::tempdir().unwrap();
    let base = emu.base().to_string();
    let env = "taken";
    let session = emu.session(env).await;
    chatctl::gcp::serviceusage::enable(&session.ctx.google, &["compute.googleapis.com".into()])
        .await
        .expect("enable Compute Engine");
    // Someone else's disk under the name chatctl derives (once the enable has propagated).
    let disks = format!(
        "{}/compute/v1/projects/{PROJECT}/zones/{ZONE}/disks",
        emu.base()
    );
    let body = serde_json::json!({"name": format!("chat-nats-data-{env}"), "sizeGb": "10"});
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let created = emu.http.post(&disks).json(&body).send().await.unwrap();
        if created.status().is_success() {
            break;
        }
        let answer = created.text().await.unwrap_or_default();
        assert!(
            answer.contains("SERVICE_DISABLED") && std::time::Instant::now() < deadline,
            "{answer}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let up = run(&base, dir.path(), env, &["up", "--bus", "nats"]).await;
    assert_eq!(up.code, Some(1), "{}", up.stderr);
    assert!(
        up.stderr.contains(&format!("chat-nats-data-{env}"))
            && up.stderr.contains("not managed by chatctl"),
        "{}",
        up.stderr
    );
    assert_eq!(
        status_of(&emu, &vm_path(env)).await,
        404,
        "no VM without its disk"
    );
    let down = run(&base, dir.path(), env, &["down", "--yes"]).await;
    assert_eq!(down.code, Some(1), "{}", down.stderr);
    assert!(down.stderr.contains("left alone"), "{}", down.stderr);
    assert_eq!(
        status_of(&emu, &disk_path(env)).await,
        200,
        "not ours: kept"
    );
}

#[test]
fn the_graph_orders_disk_vm_secret_then_service_and_the_leftovers_after_the_service() {
    use chatctl::resources::{
        connector, leftovers, nats_auth, nats_disk, nats_firewall, nats_vm, run_service,
    };
    use chatctl::stack::{ResourceId, Stack};
    let after = |stack: &Stack, id: ResourceId| -> Vec<ResourceId> {
        stack.edges(id).iter().map(|e| e.target()).collect()
    };
    let up = Stack::up();
    assert!(after(&up, nats_vm::ID).contains(&nats_disk::ID));
    assert!(
        after(&up, nats_auth::ID).contains(&nats_vm::ID),
        "its value is the VM's URL"
    );
    assert!(
        after(&up, nats_firewall::ID).contains(&connector::ID),
        "its range is the connector's"
    );
    for needed in [nats_vm::ID, nats_auth::ID, nats_firewall::ID] {
        assert!(after(&up, run_service::ID).contains(&needed), "{needed}");
    }
    assert_eq!(after(&up, leftovers::ID), [run_service::ID]);

    let down = Stack::down();
    assert!(
        after(&down, nats_disk::ID).contains(&nats_vm::ID),
        "the VM lets go of its disk first"
    );
    for used in [nats_vm::ID, nats_auth::ID, nats_firewall::ID] {
        assert!(after(&down, used).contains(&run_service::ID), "{used}");
    }
    assert!(
        !down.nodes.iter().any(|(n, _)| *n == leftovers::ID),
        "down deletes each piece itself"
    );
}

/// `up --bus nats` then `down` through the engine, under `faults`; what went wrong, if anything.
async fn converge_nats(seed: u64, faults: emulator::FaultConfig) -> Vec<String> {
    use chatctl::engine::{self, Mode, Outcome};
    use chatctl::stack::Stack;
    let emu = Emu::start_with(seed, faults).await;
    let env = format!("natsf{seed}");
    let mut settings = common::settings(&env);
    settings.bus = chatctl::config::Bus::Nats;
    let session = emu
        .session_for(settings, tokio_util::sync::CancellationToken::new())
        .await;
    let mut problems = Vec::new();
    for (mode, stack) in [(Mode::Up, Stack::up()), (Mode::Down, Stack::down())] {
        let walk = engine::walk(mode, &stack, &session.ctx, &session.reporter).await;
        for (id, result) in &walk.results {
            if !matches!(result.outcome, Outcome::Done) {
                problems.push(format!("seed {seed} {mode:?} {id}: {:?}", result.outcome));
            }
        }
    }
    emu.set_faults(&emulator::FaultConfig::default()).await;
    let left = emu.leftovers(&format!("nats-{env}")).await;
    if !left.is_empty() {
        problems.push(format!("seed {seed}: down left {left}"));
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nats_pieces_converge_and_go_under_transient_faults() {
    use futures::StreamExt;
    let problems: Vec<String> = futures::stream::iter(1..=20u64)
        .map(|seed| {
            converge_nats(
                seed,
                emulator::FaultConfig {
                    error_rate: 0.15,
                    error_codes: vec![429, 500, 503],
                    latency_ms: 1,
                    ..emulator::FaultConfig::default()
                },
            )
        })
        .buffer_unordered(4)
        .flat_map(futures::stream::iter)
        .collect()
        .await;
    assert!(problems.is_empty(), "{problems:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_whose_answers_are_lost_are_adopted_and_the_password_version_is_not_doubled() {
    let lost = |method: &str| emulator::ScriptedFault {
        method: method.into(),
        status: emulator::Code::Unavailable,
        message: None,
        times: 1,
        after: true,
    };
    let faults = emulator::FaultConfig {
        scripted: vec![
            lost("disks.insert"),
            lost("instances.insert"),
            lost("firewalls.insert"),
            lost("secrets.addVersion"),
        ],
        ..emulator::FaultConfig::default()
    };
    let emu = Emu::start_with(134, faults).await;
    let dir = tempfile::tempdir().unwrap();
    let env = "lostnats";
    run_ok(emu.base(), dir.path(), env, &["up", "--bus", "nats"]).await;
    let versions = get(&emu, &format!("{}/versions", secret_path(env))).await;
    assert_eq!(
        versions["versions"].as_array().map_or(0, Vec::len),
        1,
        "one password version: {versions}"
    );
    let converged = run(
        emu.base(),
        dir.path(),
        env,
        &["plan", "--bus", "nats", "--detailed-exitcode"],
    )
    .await;
    assert_eq!(converged.code, Some(0), "{}", converged.stderr);
    run_ok(emu.base(), dir.path(), env, &["down", "--yes"]).await;
    assert_eq!(emu.leftovers(&format!("nats-{env}")).await, "");
}

/// Polls `path` until its status is `want` (at most 10 s).
async fn wait_status(emu: &Emu, path: &str, want: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while status_of(emu, path).await != want {
        assert!(
            std::time::Instant::now() < deadline,
            "{path} never answered {want}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_with_an_external_ip_is_replaced_keeping_the_disk_and_the_password() {
    let emu = Emu::start(135).await;
    let dir = tempfile::tempdir().unwrap();
    let base = emu.base().to_string();
    let env = "drift";
    run_ok(&base, dir.path(), env, &["up", "--bus", "nats"]).await;
    let (_, password) = stored_url(&emu, env).await;

    // Someone recreates the VM by hand, with an external IP and without the data disk.
    let deleted = emu
        .http
        .delete(format!("{}{}", emu.base(), vm_path(env)))
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());
    wait_status(&emu, &vm_path(env), 404).await;
    let by_hand = serde_json::json!({
        "name": format!("chat-nats-{env}"),
        "machineType": format!("zones/{ZONE}/machineTypes/e2-small"),
        "labels": {"managed-by": "chatctl", "chatctl-env": env},
        "disks": [{"boot": true, "autoDelete": true, "initializeParams": {
            "sourceImage": "projects/cos-cloud/global/images/family/cos-stable"}}],
        "networkInterfaces": [{"network": "global/networks/default", "accessConfigs": [{}]}],
    });
    let created = emu
        .http
        .post(format!(
            "{}/compute/v1/projects/{PROJECT}/zones/{ZONE}/instances",
            emu.base()
        ))
        .json(&by_hand)
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{:?}", created.text().await);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while get(&emu, &vm_path(env)).await["status"] != "RUNNING" {
        assert!(
            std::time::Instant::now() < deadline,
            "the hand-made VM never ran"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let plan = run(
        &base,
        dir.path(),
        env,
        &["plan", "--bus", "nats", "--detailed-exitcode"],
    )
    .await;
    assert_eq!(plan.code, Some(2), "{}", plan.stderr);
    assert!(plan.stderr.contains("accessConfigs"), "{}", plan.stderr);
    assert!(plan.stderr.contains("replace"), "{}", plan.stderr);

    run_ok(&base, dir.path(), env, &["up", "--bus", "nats"]).await;
    let vm = get(&emu, &vm_path(env)).await;
    let nic = &vm["networkInterfaces"][0];
    assert!(
        nic["accessConfigs"].as_array().is_none_or(Vec::is_empty),
        "{nic}"
    );
    assert!(
        vm["disks"][1]["source"]
            .as_str()
            .is_some_and(|s| s.ends_with(&format!("/disks/chat-nats-data-{env}"))),
        "the data disk is attached again: {}",
        vm["disks"]
    );
    let (url, kept) = stored_url(&emu, env).await;
    assert_eq!(kept, password, "the password survives the new VM");
    assert!(
        url.contains(&format!("@{}:4222", nic["networkIP"].as_str().unwrap())),
        "the URL names the new VM"
    );
    let converged = run(
        &base,
        dir.path(),
        env,
        &["plan", "--bus", "nats", "--detailed-exitcode"],
    )
    .await;
    assert_eq!(converged.code, Some(0), "{}", converged.stderr);
    run_ok(&base, dir.path(), env, &["down", "--yes"]).await;
}
