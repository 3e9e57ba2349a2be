//! The whole stack against the emulator (time scale 0.001, API enablement enforced, service
//! accounts invisible for a while after creation, as on Google): up from nothing, status,
//! a plan with no changes, an up that only reads, down leaving nothing; two environments side
//! by side; seeded faults; an up interrupted after each mutating call, then down, then up; an
//! up interrupted while Cloud Build runs, then an up that follows that build.

mod common;

use chatctl::engine::{self, Mode, Outcome, Walk};
use chatctl::resources::{self, Action};
use chatctl::stack::{ResourceId, Stack};
use common::{Emu, mutating};
use emulator::{Code, FaultConfig, ScriptedFault};
use tokio_util::sync::CancellationToken;

/// The whole stack.
fn stack() -> Stack {
    Stack::up()
}

fn down_stack() -> Stack {
    let keep: Vec<ResourceId> = stack().nodes.iter().map(|(id, _)| *id).collect();
    Stack::down().subset(&keep)
}

fn assert_all_done(walk: &Walk, what: &str) {
    for (id, result) in &walk.results {
        assert!(
            matches!(result.outcome, Outcome::Done),
            "{what}: {} ended {:?}",
            id.label(),
            result.outcome
        );
    }
}

/// The NATS server's pieces with --bus redis, the Direct VPC egress subnet with a connector,
/// and the leftovers step with nothing to clean.
fn unused_with_redis(planned: &chatctl::resources::Planned) -> bool {
    [
        "not used (bus redis)",
        "not used (egress connector)",
        "none",
    ]
    .contains(&planned.state.as_str())
}

async fn up(session: &chatctl::commands::Session) -> Walk {
    engine::walk(Mode::Up, &stack(), &session.ctx, &session.reporter).await
}

async fn down(session: &chatctl::commands::Session) -> Walk {
    engine::walk(Mode::Down, &down_stack(), &session.ctx, &session.reporter).await
}

async fn plan_changes(session: &chatctl::commands::Session) -> Vec<String> {
    let plan = engine::walk(Mode::Plan, &stack(), &session.ctx, &session.reporter).await;
    assert_all_done(&plan, "plan");
    plan.results
        .iter()
        .filter_map(|(id, r)| {
            let p = r.planned.as_ref()?;
            p.action
                .is_change()
                .then(|| format!("{}: {:?}", id.label(), p.action))
        })
        .collect()
}

#[tokio::test]
async fn up_converges_then_only_reads_then_down_leaves_nothing() {
    let emu = Emu::start(21).await;
    let session = emu.session("lifecyc").await;

    let first = up(&session).await;
    assert_all_done(&first, "first up");
    for (id, result) in &first.results {
        let planned = result.planned.as_ref().unwrap();
        if planned.state == "not needed" || unused_with_redis(planned) {
            // The build account, with a prebuilt --image; the NATS pieces with --bus redis.
            assert_eq!(planned.action, Action::NoOp, "{planned:?}");
            continue;
        }
        if *id == resources::image::ID {
            // A prebuilt --image is checked and pinned by digest, never created.
            assert_eq!(planned.action, Action::NoOp, "{planned:?}");
            assert!(
                planned
                    .name
                    .starts_with(&format!("{}@sha256:", common::IMAGE))
            );
            continue;
        }
        assert!(
            planned.action == Action::Create || planned.action != Action::NoOp,
            "{}: {planned:?}",
            id.label()
        );
    }
    if stack()
        .nodes
        .iter()
        .any(|(id, _)| *id == resources::run_service::ID)
    {
        let url = first.values.service_url.clone().expect("the service URL");
        assert!(url.starts_with("https://"), "{url}");
    }

    let status = engine::walk(Mode::Plan, &stack(), &session.ctx, &session.reporter).await;
    for (id, result) in &status.results {
        let planned = result.planned.as_ref().unwrap();
        assert!(
            matches!(
                planned.state.as_str(),
                "READY" | "ENABLED" | "BOUND" | "PUBLIC" | "EXISTS" | "not needed"
            ) || unused_with_redis(planned),
            "{}: {}",
            id.label(),
            planned.state
        );
    }
    assert_eq!(plan_changes(&session).await, Vec::<String>::new());

    let before = emu.requests().await.len();
    let again = up(&session).await;
    assert_all_done(&again, "second up");
    let log = emu.requests().await;
    assert_eq!(
        mutating(&log[before..]),
        Vec::<String>::new(),
        "a converged up only reads"
    );

    let gone = down(&session).await;
    assert_all_done(&gone, "down");
    assert_eq!(
        emu.leftovers("lifecyc").await,
        "",
        "nothing of the environment is left"
    );

    let again = down(&session).await;
    assert_all_done(&again, "second down");
    assert!(
        again.results.values().all(|r| !r.existed),
        "a second down finds nothing"
    );
    assert_eq!(
        common::contract::violations(&emu.requests().await),
        Vec::<String>::new(),
        "every request is one the real API accepts"
    );
}

#[tokio::test]
async fn two_environments_live_side_by_side() {
    let emu = Emu::start(22).await;
    let auto = |env: &str| {
        let mut s = common::settings(env);
        s.connector_range = chatctl::config::ConnectorRange::Auto;
        s
    };
    let alpha = emu
        .session_for(auto("alpha"), CancellationToken::new())
        .await;
    let beta = emu
        .session_for(auto("beta"), CancellationToken::new())
        .await;
    let (a, b) = tokio::join!(up(&alpha), up(&beta));
    assert_all_done(&a, "alpha up");
    assert_all_done(&b, "beta up");
    let range = |s: &chatctl::commands::Session, id: &'static str| {
        let ctx = s.ctx.clone();
        async move {
            chatctl::gcp::vpcaccess::get(&ctx.google, id)
                .await
                .unwrap()
                .unwrap()
                .ip_cidr_range
        }
    };
    let (ra, rb) = (
        range(&alpha, "chat-alpha").await,
        range(&beta, "chat-beta").await,
    );
    assert_ne!(ra, rb, "auto ranges do not overlap");

    assert_all_done(&down(&alpha).await, "alpha down");
    assert_eq!(emu.leftovers("alpha").await, "");
    assert_eq!(
        plan_changes(&beta).await,
        Vec::<String>::new(),
        "beta untouched by alpha's down"
    );
    assert_all_done(&down(&beta).await, "beta down");
    assert_eq!(emu.leftovers("beta").await, "");
}

#[tokio::test]
async fn seeded_faults_converge_and_clean_up() {
    for seed in [31, 32, 33] {
        let faults = FaultConfig {
            error_rate: 0.1,
            error_codes: vec![429, 500, 503],
            scripted: vec![ScriptedFault {
                method: "setIamPolicy".into(),
                status: Code::Aborted,
                message: Some("There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.".into()),
                times: 1,
                after: false,
            }],
            ..FaultConfig::default()
        };
        let emu = Emu::start_with(seed, faults).await;
        let env = format!("fault{seed}");
        let session = emu.session(&env).await;
        assert_all_done(&up(&session).await, &format!("up, seed {seed}"));
        assert_all_done(&down(&session).await, &format!("down, seed {seed}"));
        emu.set_faults(&FaultConfig::default()).await;
        assert_eq!(emu.leftovers(&env).await, "", "seed {seed}");
        let aborted = emu
            .requests()
            .await
            .iter()
            .filter(|r| {
                r["path"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(":setIamPolicy")
            })
            .count();
        assert!(
            aborted >= 2,
            "seed {seed}: the aborted policy write was redone ({aborted} writes)"
        );
        assert_eq!(
            common::contract::violations(&emu.requests().await),
            Vec::<String>::new(),
            "seed {seed}"
        );
    }
}

/// Runs `up` and drops it (like a killed process) once it has made `cut` mutating calls;
/// false when it finished first (retried calls make the count vary a little from run to run).
async fn cut_up(emu: &Emu, session: &chatctl::commands::Session, cut: usize) -> bool {
    let before = mutating(&emu.requests().await).len();
    let run = up(session);
    tokio::pin!(run);
    loop {
        tokio::select! {
            walk = &mut run => {
                assert_all_done(&walk, "an up that was not cut in time");
                return false;
            }
            _ = tokio::time::sleep(std::time::Duration::from_millis(1)) => {
                if mutating(&emu.requests().await).len() - before >= cut {
                    return true;
                }
            }
        }
    }
}

#[tokio::test]
async fn an_up_cut_after_each_mutating_call_is_cleaned_by_down_and_finished_by_up() {
    let emu = Emu::start(41).await;
    let total = {
        let before = mutating(&emu.requests().await).len();
        let session = emu.session("cutcount").await;
        assert_all_done(&up(&session).await, "reference up");
        let n = mutating(&emu.requests().await).len() - before;
        assert_all_done(&down(&session).await, "reference down");
        n
    };
    assert!(total >= 5, "a full up makes {total} mutating calls");
    let mut cuts = 0;
    for cut in 1..total {
        let env = format!("cut{cut}");
        let session = emu.session(&env).await;
        cuts += usize::from(cut_up(&emu, &session, cut).await);
        assert_all_done(
            &down(&emu.session(&env).await).await,
            &format!("down after cut {cut}"),
        );
        assert_eq!(
            emu.leftovers(&env).await,
            "",
            "cut {cut}: down left something"
        );

        cut_up(&emu, &session, cut).await;
        let session = emu.session(&env).await;
        assert_all_done(&up(&session).await, &format!("up after cut {cut}"));
        assert_eq!(
            plan_changes(&session).await,
            Vec::<String>::new(),
            "cut {cut}"
        );
        assert_all_done(&down(&session).await, &format!("final down, cut {cut}"));
        assert_eq!(emu.leftovers(&env).await, "", "cut {cut}");
    }
    assert!(
        cuts + 2 >= total,
        "only {cuts} of {} ups were cut",
        total - 1
    );
}

#[test]
fn the_contract_check_rejects_what_the_apis_would_refuse() {
    let alt = "%24alt=json%3Benum-encoding%3Dint";
    let ok = serde_json::json!({"method": "GET", "path": format!("/v1/projects/p/locations/r/instances/x?{alt}"), "body": ""});
    assert!(common::contract::violations(&[ok]).is_empty());
    let bad = [
        serde_json::json!({"method": "GET", "path": "/v1/projects/p/locations/r/instances/x", "body": ""}),
        serde_json::json!({"method": "PUT", "path": format!("/v1/projects/p/locations/r/instances/x?{alt}"), "body": ""}),
        serde_json::json!({"method": "POST", "path": format!("/v1/projects/p/locations/r/connectors?connectorId=c&{alt}"),
                           "body": r#"{"network":"default","ipCidrRange":"10.8.0.0/20"}"#}),
        serde_json::json!({"method": "GET", "path": format!("/v1/projects/p/locations/r/instances/x?view=FULL&{alt}"), "body": ""}),
    ];
    for request in bad {
        assert!(
            !common::contract::violations(std::slice::from_ref(&request)).is_empty(),
            "{request}"
        );
    }
}

#[tokio::test]
async fn a_failed_image_build_deploys_nothing_and_the_next_up_converges() {
    let emu = Emu::start(23).await;
    let env = "badbuild";
    let mut settings = common::settings(env);
    settings.image = None; // the default: build the embedded sources with Cloud Build
    emu.set_faults(&FaultConfig {
        scripted: vec![ScriptedFault {
            method: "builds.create".into(),
            status: Code::PermissionDenied,
            message: Some("The caller does not have permission".into()),
            times: 1,
            after: false,
        }],
        ..FaultConfig::default()
    })
    .await;
    let session = emu
        .session_for(settings.clone(), CancellationToken::new())
        .await;
    let failed = up(&session).await;
    let image = &failed.results[&resources::image::ID];
    let Outcome::Failed(error) = &image.outcome else {
        panic!("the image should fail: {:?}", image.outcome);
    };
    let message = format!("{error:#}");
    assert!(
        message.contains("Cloud Build") && message.contains("roles/cloudbuild.builds.editor"),
        "the error says what failed and which role is needed: {message}"
    );
    for id in [resources::run_service::ID, resources::public_access::ID] {
        assert!(
            matches!(
                failed.results[&id].outcome,
                Outcome::Skipped(resources::image::ID)
            ),
            "{}: {:?}",
            id.label(),
            failed.results[&id].outcome
        );
    }
    let log = emu.requests().await;
    assert!(
        !log.iter()
            .any(|r| r["method"] == "POST"
                && r["path"].as_str().unwrap_or_default().starts_with("/v2/")),
        "no Cloud Run service was created"
    );

    // The fault is spent: the next up builds, deploys by digest and converges.
    let session = emu.session_for(settings, CancellationToken::new()).await;
    let fixed = up(&session).await;
    assert_all_done(&fixed, "up after the failed build");
    let image = fixed.values.image.expect("the built image");
    assert!(
        image.contains("/cloud-run-source-deploy/chat-server:src-"),
        "{image}"
    );
    assert!(image.contains("@sha256:"), "{image}");
    assert_eq!(plan_changes(&session).await, Vec::<String>::new());
    assert_all_done(&down(&session).await, "down");
    assert_eq!(emu.leftovers(env).await, "");
}

/// Cloud Build builds.create calls in the log.
fn builds_created(log: &[serde_json::Value]) -> usize {
    log.iter()
        .filter(|r| r["method"] == "POST" && common::bare_path(r).ends_with("/builds"))
        .count()
}

/// The id of the first build chatctl read with builds.get (it follows the build it started).
fn followed_build(log: &[serde_json::Value]) -> Option<String> {
    let prefix = format!("/v1/projects/{}/builds/", common::PROJECT);
    log.iter()
        .filter(|r| r["method"] == "GET")
        .find_map(|r| common::bare_path(r).strip_prefix(&prefix).map(String::from))
}

#[tokio::test]
async fn an_up_interrupted_during_the_build_is_resumed_not_built_twice() {
    // Slower time: the build takes 5.5 s and Redis 8 s, so the interrupt lands mid-build and
    // the build is still running when the next up looks for it.
    let emu = Emu::start_scaled(24, FaultConfig::default(), 0.03).await;
    let env = "bldresume";
    let mut settings = common::settings(env);
    settings.image = None; // the default: build the embedded sources with Cloud Build
    let cancel = CancellationToken::new();
    let session = emu.session_for(settings.clone(), cancel.clone()).await;
    let run = up(&session);
    tokio::pin!(run);
    let began = std::time::Instant::now();
    let build_id = loop {
        tokio::select! {
            walk = &mut run => panic!(
                "the up ended before it followed a build: {:?}",
                walk.results[&resources::image::ID].outcome
            ),
            _ = tokio::time::sleep(std::time::Duration::from_millis(10)) => {
                if let Some(id) = followed_build(&emu.requests().await) {
                    break id;
                }
                assert!(
                    began.elapsed() < std::time::Duration::from_secs(60),
                    "the up never started its build"
                );
            }
        }
    };
    cancel.cancel(); // Ctrl-C
    let first = run.await;
    assert!(first.interrupted());
    let Outcome::Interrupted(message) = &first.results[&resources::image::ID].outcome else {
        panic!(
            "the image step should be interrupted: {:?}",
            first.results[&resources::image::ID].outcome
        );
    };
    assert!(
        message.contains(&format!("Cloud Build build {build_id} keeps running")),
        "the message names the build: {message}"
    );

    let session = emu.session_for(settings, CancellationToken::new()).await;
    let second = up(&session).await;
    assert_all_done(&second, "the up after the interrupt");
    let image = second.results[&resources::image::ID]
        .planned
        .as_ref()
        .unwrap();
    assert!(
        matches!(&image.action, Action::Resume { state } if state == "QUEUED" || state == "WORKING"),
        "the image step resumes the running build: {image:?}"
    );
    assert!(image.name.contains("/chat-server:src-"), "{image:?}");
    let log = emu.requests().await;
    assert_eq!(builds_created(&log), 1, "one build in all");
    let deployed = second.values.image.expect("the built image");
    assert!(
        deployed.contains(":src-") && deployed.contains("@sha256:"),
        "{deployed}"
    );
    assert_eq!(plan_changes(&session).await, Vec::<String>::new());

    assert_all_done(&down(&session).await, "down");
    assert_eq!(emu.leftovers(env).await, "");
}

#[tokio::test]
async fn a_source_build_waits_out_the_apis_it_just_enabled() {
    // A project where nothing is enabled yet, and slower time: the APIs this up enables keep
    // answering SERVICE_DISABLED for 1 s after the enable (20 s on Google), while the image
    // step, which starts as soon as the APIs are reported enabled, already reads its repository.
    // (At 1 % the window was 0.2 s, which a loaded machine can miss.)
    let emu = Emu::start_scaled(24, FaultConfig::default(), 0.05).await;
    let env = "freshapi";
    let mut settings = common::settings(env);
    settings.image = None;
    settings.project = "fresh-project-24".into();
    // A build account of the user's: the image step then needs no account of chatctl's and
    // starts right after the enable.
    settings.build_service_account =
        Some("builder@fresh-project-24.iam.gserviceaccount.com".into());
    let session = emu.session_for(settings, CancellationToken::new()).await;
    // The user's build account exists (IAM is the only API enabled for that).
    let google = &session.ctx.google;
    chatctl::gcp::serviceusage::enable(google, &["iam.googleapis.com".to_string()])
        .await
        .expect("enable IAM");
    chatctl::gcp::iam::create(google, "builder", "builder", "the user's build account")
        .await
        .expect("create the build account");
    let walk = up(&session).await;
    assert_all_done(&walk, "up right after enabling the APIs");
    let log = emu.requests().await;
    // The image step's first call: is there an image of these sources already?
    let tag_reads = log
        .iter()
        .filter(|r| {
            r["method"] == "GET"
                && r["path"].as_str().unwrap_or_default().starts_with(
                    "/v1/projects/fresh-project-24/locations/us-central1/repositories/cloud-run-source-deploy/packages/chat-server/tags/",
                )
        })
        .count();
    assert!(
        tag_reads >= 3,
        "the first Artifact Registry read was refused as SERVICE_DISABLED and retried, then \
         apply read again ({tag_reads} reads)"
    );
    assert_all_done(&down(&session).await, "down");
    assert_eq!(emu.leftovers(env).await, "");
}

/// Runs the chatctl binary against the emulator (anonymous, no gcloud files).
fn run_chatctl(base: &str, home: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = common::chatctl(base, home, "secure")
        .args(args)
        .output()
        .expect("run chatctl");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

async fn get_json(emu: &Emu, url: impl reqwest::IntoUrl) -> serde_json::Value {
    emu.http
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The default `up`: Redis with AUTH and TLS, the AUTH string only in Secret Manager, the server
/// CA in the service; after Google rotates the CA, the next `up` gives the service both CAs;
/// `--no-redis-auth` then moves the service off the password and removes the secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_has_auth_and_tls_and_its_password_only_travels_through_secret_manager() {
    let emu = Emu::start(44).await;
    let base = emu.base().to_string();
    let home = tempfile::tempdir().unwrap();
    let home_path = home.path().to_path_buf();
    let cli = move |args: &'static [&'static str]| {
        let (base, home) = (base.clone(), home_path.clone());
        async move {
            let all = args.to_vec();
            tokio::task::spawn_blocking(move || {
                let (code, text) = run_chatctl(&base, &home, &all);
                assert_eq!(code, Some(0), "chatctl {all:?}:\n{text}");
                text
            })
            .await
            .unwrap()
        }
    };
    let mut output = String::new();
    output += &cli(&["up", "--yes"]).await;
    output += &cli(&["up", "--yes", "--output", "json"]).await;
    output += &cli(&["plan"]).await;
    output += &cli(&["plan", "--output", "json"]).await;
    output += &cli(&["status", "--output", "json"]).await;

    let project = format!("{}/v1/projects/{}", emu.base(), common::PROJECT);
    let redis = format!("{project}/locations/us-central1/instances/chat-secure");
    let instance: serde_json::Value = get_json(&emu, &redis).await;
    assert_eq!(instance["authEnabled"], true, "{instance}");
    assert_eq!(instance["transitEncryptionMode"], "SERVER_AUTHENTICATION");
    assert_eq!(instance["port"], 6378);
    let ca = instance["serverCaCerts"][0]["cert"]
        .as_str()
        .unwrap()
        .to_string();
    let auth: serde_json::Value = get_json(&emu, format!("{redis}/authString")).await;
    let auth = auth["authString"]
        .as_str()
        .expect("an AUTH string")
        .to_string();

    let secret = format!("{project}/secrets/chat-redis-auth-secure");
    let found: serde_json::Value = get_json(&emu, &secret).await;
    assert_eq!(found["labels"]["chatctl-env"], "secure", "{found}");
    let latest: serde_json::Value =
        get_json(&emu, format!("{secret}/versions/latest:access")).await;
    use base64::Engine;
    let stored = base64::engine::general_purpose::STANDARD
        .decode(latest["payload"]["data"].as_str().unwrap())
        .unwrap();
    assert_eq!(stored, auth.as_bytes(), "the secret holds the AUTH string");
    let policy: serde_json::Value = get_json(&emu, format!("{secret}:getIamPolicy")).await;
    let identity = format!(
        "serviceAccount:chat-identity-secure@{}.iam.gserviceaccount.com",
        common::PROJECT
    );
    assert_eq!(
        policy["bindings"],
        serde_json::json!([{ "role": "roles/secretmanager.secretAccessor", "members": [identity] }]),
        "chat-identity reads this secret, and only it is granted here"
    );

    let service: serde_json::Value = get_json(
        &emu,
        format!(
            "{}/v2/projects/{}/locations/us-central1/services/chat-secure",
            emu.base(),
            common::PROJECT
        ),
    )
    .await;
    let env = &service["template"]["containers"][0]["env"];
    let var = |name: &str| {
        env.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {env}"))
    };
    assert_eq!(
        var("REDIS_PASSWORD")["valueSource"]["secretKeyRef"],
        serde_json::json!({ "secret": "chat-redis-auth-secure", "version": "1" })
    );
    assert_eq!(var("REDIS_TLS")["value"], "1");
    assert_eq!(var("REDISPORT")["value"], "6378");
    assert_eq!(
        var("REDIS_CA_CERT")["value"].as_str().unwrap().trim(),
        ca.trim()
    );

    let log = serde_json::to_string(&emu.requests().await).unwrap();
    assert!(
        !log.contains(&auth),
        "the AUTH string is in the request log"
    );
    assert!(
        !output.contains(&auth),
        "the AUTH string is in chatctl's output"
    );
    assert!(!service.to_string().contains(&auth));

    // Google rotates the server CA: both CAs are listed, and the next `up` hands both to the
    // service (a new revision), so instances trust the server before and after it moves.
    let rotated = emu
        .http
        .post(format!("{}/_emulator/redis/rotate-server-ca", emu.base()))
        .json(&serde_json::json!({ "name": format!("projects/{}/locations/us-central1/instances/chat-secure", common::PROJECT) }))
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 200, "{}", rotated.text().await.unwrap());
    let instance: serde_json::Value = get_json(&emu, &redis).await;
    let new_ca = instance["serverCaCerts"][1]["cert"]
        .as_str()
        .expect("a second server CA after the rotation")
        .to_string();
    assert_ne!(new_ca.trim(), ca.trim());
    let plan = cli(&["plan"]).await;
    assert!(
        plan.contains("run-service"),
        "plan shows the service update: {plan}"
    );
    cli(&["up", "--yes"]).await;
    let service: serde_json::Value = get_json(
        &emu,
        format!(
            "{}/v2/projects/{}/locations/us-central1/services/chat-secure",
            emu.base(),
            common::PROJECT
        ),
    )
    .await;
    let cas = service["template"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "REDIS_CA_CERT")
        .and_then(|e| e["value"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(
        cas.contains(ca.trim()) && cas.contains(new_ca.trim()),
        "after the rotation the service trusts both CAs: {cas}"
    );

    // Turning AUTH off (in place) moves the service off the password first, then the secret,
    // which nothing reads any more, goes.
    let before = emu.requests().await.len();
    cli(&["up", "--yes", "--no-redis-auth"]).await;
    let log = emu.requests().await.split_off(before);
    let at = |method: &str, path: &str| {
        log.iter()
            .position(|r| {
                r["method"] == method && r["path"].as_str().is_some_and(|p| p.contains(path))
            })
            .unwrap_or_else(|| panic!("no {method} {path}"))
    };
    let service_moved = at("PATCH", "/services/chat-secure");
    let secret_deleted = at("DELETE", "/secrets/chat-redis-auth-secure");
    assert!(
        service_moved < secret_deleted,
        "the service stops reading it first"
    );
    let instance: serde_json::Value = get_json(&emu, &redis).await;
    assert!(
        !instance["authEnabled"].as_bool().unwrap_or(false),
        "AUTH off: {instance}"
    );
    let gone = emu.http.get(&secret).send().await.unwrap();
    assert_eq!(gone.status(), 404, "the unused secret is removed");
    // Exit 0 with --detailed-exitcode: nothing left to change.
    cli(&["plan", "--no-redis-auth", "--detailed-exitcode"]).await;

    cli(&["down", "--yes"]).await;
    let gone = emu.http.get(&secret).send().await.unwrap();
    assert_eq!(gone.status(), 404, "down removes the secret");
}

#[tokio::test]
async fn an_instance_without_tls_plans_a_replace_and_up_says_what_to_do() {
    let emu = Emu::start(45).await;
    let mut settings = common::settings("oldtls");
    settings.redis_tls = false;
    let old = emu.session_for(settings, CancellationToken::new()).await;
    assert_all_done(&up(&old).await, "up without TLS");

    let session = emu.session("oldtls").await;
    let plan = engine::walk(Mode::Plan, &stack(), &session.ctx, &session.reporter).await;
    let redis = plan.results[&resources::redis::ID].planned.clone().unwrap();
    let Action::Replace { changes } = &redis.action else {
        panic!("TLS cannot be turned on in place: {redis:?}");
    };
    assert!(
        changes.iter().any(|c| c.path == "transitEncryptionMode"),
        "{changes:?}"
    );
    let again = up(&session).await;
    let Outcome::Failed(error) = &again.results[&resources::redis::ID].outcome else {
        panic!("up must not leave it silently");
    };
    let error = format!("{error:#}");
    assert!(error.contains("--no-redis-tls"), "{error}");
    assert!(error.contains("chatctl down"), "{error}");
}

/// A connector's machine type and instance bounds change in place: one PATCH with an update
/// mask naming them, no delete, the connector READY with the new values. A new range cannot
/// change in place: `plan` shows a replace and `up` stops, naming what to do.
#[tokio::test]
async fn a_connector_scaling_change_is_patched_in_place_and_a_new_range_is_refused() {
    let emu = Emu::start(46).await;
    let first = emu.session("scale").await;
    assert_all_done(&up(&first).await, "first up");
    let before = emu.requests().await.len();

    let mut settings = common::settings("scale");
    settings.overrides.connector =
        serde_json::json!({ "maxInstances": 5, "machineType": "e2-standard-4" });
    let scaled = emu
        .session_for(settings.clone(), CancellationToken::new())
        .await;
    let plan = engine::walk(Mode::Plan, &stack(), &scaled.ctx, &scaled.reporter).await;
    let connector = plan.results[&resources::connector::ID]
        .planned
        .clone()
        .unwrap();
    let Action::Update { changes } = &connector.action else {
        panic!("a scaling change is an update in place: {connector:?}");
    };
    let mut paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["machineType", "maxInstances"]);

    assert_all_done(&up(&scaled).await, "up with new bounds");
    let log = emu.requests().await;
    let changed = mutating(&log[before..]);
    let connector_calls: Vec<&String> = changed
        .iter()
        .filter(|r| r.contains("/connectors/"))
        .collect();
    assert_eq!(connector_calls.len(), 1, "one call: {changed:?}");
    assert!(
        connector_calls[0].starts_with("PATCH ")
            && connector_calls[0].contains("updateMask=")
            && connector_calls[0].contains("maxInstances")
            && connector_calls[0].contains("machineType")
            && !connector_calls[0].contains("minInstances"),
        "{connector_calls:?}"
    );
    let found: serde_json::Value = get_json(
        &emu,
        format!(
            "{}/v1/projects/{}/locations/us-central1/connectors/chat-scale",
            emu.base(),
            common::PROJECT
        ),
    )
    .await;
    assert_eq!(found["state"], "READY", "{found}");
    assert_eq!(found["maxInstances"], 5, "{found}");
    assert_eq!(found["machineType"], "e2-standard-4", "{found}");
    assert!(
        plan_changes(&scaled).await.is_empty(),
        "converged after the patch"
    );

    settings.connector_range = chatctl::config::ConnectorRange::Fixed("10.8.0.16/28".into());
    let moved = emu.session_for(settings, CancellationToken::new()).await;
    let plan = engine::walk(Mode::Plan, &stack(), &moved.ctx, &moved.reporter).await;
    let connector = plan.results[&resources::connector::ID]
        .planned
        .clone()
        .unwrap();
    assert!(
        matches!(connector.action, Action::Replace { .. }),
        "a new range is a replace: {connector:?}"
    );
    let before = emu.requests().await.len();
    let walk = up(&moved).await;
    let Outcome::Failed(error) = &walk.results[&resources::connector::ID].outcome else {
        panic!("up must not leave a new range unapplied silently");
    };
    let error = format!("{error:#}");
    assert!(
        error.contains("ipCidrRange") && error.contains("chatctl down"),
        "{error}"
    );
    let changed = mutating(&emu.requests().await[before..]);
    assert!(
        !changed.iter().any(|r| r.contains("/connectors/")),
        "nothing sent to the connector: {changed:?}"
    );
}
