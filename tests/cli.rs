//! chatctl as a user runs it: the binary's help, its refusals and exit codes, and `init`.
//! Commands that must not reach any API are pointed at an emulator whose request log proves it.

mod common;

use std::process::{Command, Output, Stdio};

use common::Emu;

fn chatctl(args: &[&str], endpoint: Option<&str>, dir: &std::path::Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatctl"));
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .env_remove("CHATCTL_PROJECT")
        .env_remove("GOOGLE_CLOUD_PROJECT")
        .env_remove("CLOUDSDK_CORE_PROJECT")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env("CLOUDSDK_CONFIG", dir.join("no-gcloud"))
        .env("HOME", dir);
    match endpoint {
        Some(e) => cmd.env("CHATCTL_API_ENDPOINT", e),
        None => cmd.env_remove("CHATCTL_API_ENDPOINT"),
    };
    cmd.output().expect("run chatctl")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[test]
fn help_documents_every_flag_its_env_var_and_the_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let top = chatctl(&["--help"], None, dir.path());
    assert!(top.status.success());
    let top = text(&top.stdout);
    for needle in [
        "CHATCTL_PROJECT",
        "CHATCTL_REGION",
        "CHATCTL_ENV",
        "CHATCTL_CONFIG",
        "CHATCTL_OUTPUT",
        "CHATCTL_API_ENDPOINT",
        "Exit codes",
        "130",
        "flags > CHATCTL_*",
    ] {
        assert!(
            top.contains(needle),
            "top-level help lacks {needle}:\n{top}"
        );
    }
    let up = text(&chatctl(&["up", "--help"], None, dir.path()).stdout);
    for needle in [
        "--image",
        "CHATCTL_IMAGE",
        "--build",
        "CHATCTL_BUILD",
        "--repository",
        "CHATCTL_REPOSITORY",
        "--registry",
        "CHATCTL_REGISTRY",
        "--staging-bucket",
        "CHATCTL_STAGING_BUCKET",
        "--tier",
        "--connector-range",
        "CHATCTL_CONNECTOR_RANGE",
        "--no-allow-unauthenticated",
        "--timeout",
    ] {
        assert!(up.contains(needle), "up --help lacks {needle}:\n{up}");
    }
    let down = text(&chatctl(&["down", "--help"], None, dir.path()).stdout);
    assert!(
        down.contains("--yes") && down.contains("CHATCTL_YES"),
        "{down}"
    );
    let plan = text(&chatctl(&["plan", "--help"], None, dir.path()).stdout);
    assert!(plan.contains("--detailed-exitcode"), "{plan}");
    let emulator = text(&chatctl(&["emulator", "--help"], None, dir.path()).stdout);
    for needle in [
        "--listen",
        "--time-scale",
        "--allow-anonymous",
        "--seed",
        "--enforce-api-enablement",
    ] {
        assert!(
            emulator.contains(needle),
            "emulator --help lacks {needle}:\n{emulator}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_before_any_api_call() {
    let emu = Emu::start(11).await;
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["up", "--project", "chat-e2e-1", "--build", "local"],
            3,
            "--registry",
        ),
        (
            vec![
                "up",
                "--project",
                "chat-e2e-1",
                "--build",
                "local",
                "--registry",
                "Not A Registry",
            ],
            3,
            "--registry",
        ),
        (
            vec![
                "up",
                "--project",
                "chat-e2e-1",
                "--repository",
                "Chat_Images",
            ],
            3,
            "repository ID",
        ),
        (
            vec![
                "up",
                "--project",
                "chat-e2e-1",
                "--staging-bucket",
                "goog-bucket",
            ],
            3,
            "bucket name",
        ),
        (
            vec![
                "up",
                "--project",
                "chat-e2e-1",
                "--image",
                "x/y:z",
                "--build",
                "source",
            ],
            3,
            "cannot be used with",
        ),
        (
            vec![
                "up",
                "--project",
                "chat-e2e-1",
                "--env",
                "Bad_Name",
                "--image",
                "x/y:z",
            ],
            3,
            "environment name",
        ),
        (
            vec![
                "up",
                "--project",
                "chat-e2e-1",
                "--env",
                "much-too-long-env-name",
                "--image",
                "x/y:z",
            ],
            3,
            "at most 16",
        ),
        (
            vec![
                "up",
                "--project",
                "chat-e2e-1",
                "--connector-range",
                "10.8.0.0/20",
                "--image",
                "x/y:z",
            ],
            3,
            "/28",
        ),
        (
            vec!["plan", "--project", "No Such Project"],
            3,
            "project ID",
        ),
        (vec!["up", "--image", "x/y:z"], 3, "no project"),
        // Durations and scales out of range are refused, never a panic.
        (
            vec![
                "plan",
                "--project",
                "chat-e2e-1",
                "--timeout",
                "99999999999999999999",
            ],
            3,
            "from 1s to 24h",
        ),
        (
            vec!["down", "--project", "chat-e2e-1", "--timeout", "25h"],
            3,
            "from 1s to 24h",
        ),
        (
            vec!["status", "--project", "chat-e2e-1", "--timeout", "1e300h"],
            3,
            "--timeout",
        ),
        (vec!["emulator", "--time-scale", "1e300"], 3, "at most 100"),
        (vec!["emulator", "--time-scale", "NaN"], 3, "above 0"),
        (vec!["emulator", "--time-scale=-1"], 3, "above 0"),
        (vec!["up", "--bogus-flag"], 3, "--bogus-flag"),
        // A region without Cloud Run, Memorystore or Serverless VPC Access, or a typo of one.
        (
            vec![
                "up",
                "--project",
                "chat-e2e-1",
                "--region",
                "mars-east9",
                "--image",
                "x/y:z",
            ],
            3,
            "not a region where Cloud Run, Memorystore for Redis and Serverless VPC Access",
        ),
        (
            vec!["plan", "--project", "chat-e2e-1", "--region", "us-centrl1"],
            3,
            "did you mean --region us-central1?",
        ),
        (
            vec!["init", "--region", "europe-west7"],
            3,
            "did you mean --region europe-west1?",
        ),
        (vec!["down", "--project", "chat-e2e-1"], 4, "--yes"),
    ];
    for (args, code, needle) in cases {
        let base = emu.base().to_string();
        let path = dir.path().to_path_buf();
        let owned: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let out = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
            chatctl(&refs, Some(&base), &path)
        })
        .await
        .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: stderr lacks {needle:?}:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert!(emu.requests().await.is_empty(), "no API call was made");
}

#[test]
fn init_writes_a_commented_config_that_chatctl_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = chatctl(
        &["init", "--project", "chat-e2e-1", "--env", "pr-7"],
        None,
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(dir.path().join("chatctl.yaml")).unwrap();
    assert!(
        written.contains("project: chat-e2e-1") && written.contains("env: \"pr-7\""),
        "{written}"
    );
    assert!(
        written
            .lines()
            .filter(|l| l.trim_start().starts_with('#'))
            .count()
            > 10,
        "commented"
    );
    let parsed =
        chatctl::config::FileConfig::parse(&written, std::path::Path::new("chatctl.yaml")).unwrap();
    assert_eq!(parsed.env.as_deref(), Some("pr-7"));

    let again = chatctl(&["init"], None, dir.path());
    assert_eq!(again.status.code(), Some(3), "refuses to overwrite");
    assert!(text(&again.stderr).contains("--force"));
    let forced = chatctl(&["init", "--force"], None, dir.path());
    assert!(forced.status.success());
}

#[test]
fn the_config_file_sits_between_the_environment_and_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("chatctl.yaml"),
        "project: from-file-1\nenv: fromfile\n",
    )
    .unwrap();
    let global = |project: Option<&str>, env_name: Option<&str>| chatctl::cli::GlobalArgs {
        project: project.map(Into::into),
        env_name: env_name.map(Into::into),
        config: Some(dir.path().join("chatctl.yaml")),
        ..Default::default()
    };
    let stack = chatctl::cli::StackArgs::default();
    let none = |_: &str| None;
    let from_file = chatctl::config::resolve(&global(None, None), &stack, &none).unwrap();
    assert_eq!(from_file.project, "from-file-1");
    assert_eq!(from_file.names.env, "fromfile");
    assert_eq!(from_file.region, "us-central1", "default");
    let flags = chatctl::config::resolve(&global(Some("from-flag-1"), Some("flag")), &stack, &none)
        .unwrap();
    assert_eq!(flags.project, "from-flag-1");
    assert_eq!(flags.names.env, "flag");
    // CHATCTL_* variables reach clap's fields exactly like flags; the ambient ones rank below the file.
    let ambient = |k: &str| (k == "GOOGLE_CLOUD_PROJECT").then(|| "ambient-1".to_string());
    assert_eq!(
        chatctl::config::resolve(&global(None, None), &stack, &ambient)
            .unwrap()
            .project,
        "from-file-1"
    );
}

#[test]
fn man_prints_a_roff_man_page_of_every_subcommand_and_version_prints_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let man = chatctl(&["man"], None, dir.path());
    assert!(man.status.success(), "{}", text(&man.stderr));
    let page = text(&man.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH chatctl"),
        "not roff: {page:.200}"
    );
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH SUBCOMMANDS"] {
        assert!(page.contains(section), "man page lacks {section}");
    }
    for word in [
        "chatctl\\-up",
        "chatctl\\-doctor",
        "chatctl\\-completion",
        "\\-\\-region",
    ] {
        assert!(page.contains(word), "man page lacks {word}");
    }
    let version = chatctl(&["--version"], None, dir.path());
    assert!(version.status.success());
    assert_eq!(
        text(&version.stdout).trim(),
        format!("chatctl {}", env!("CARGO_PKG_VERSION"))
    );
}

/// Under `--output json` a failure is one JSON object on stdout besides the text on stderr:
/// a bad flag value (usage), a configuration error and missing credentials.
#[test]
fn failures_under_json_output_are_one_json_error_object_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "tier: [not, a, tier]\n").unwrap();
    let cases: [(&[&str], u8, &str); 4] = [
        (&["up", "--output", "json", "--tier", "golden"], 3, "golden"),
        (
            &[
                "--output=json",
                "plan",
                "--project",
                "p1",
                "--region",
                "mars-1",
            ],
            3,
            "mars-1",
        ),
        (
            &[
                "plan",
                "--output",
                "json",
                "--project",
                "p1",
                "--config",
                "bad.yaml",
            ],
            3,
            "bad.yaml",
        ),
        (
            &["status", "--output", "json", "--project", "chat-json-1"],
            3,
            "missing.json",
        ),
    ];
    for (args, code, needle) in cases {
        // A credentials file that does not exist: refused before any call (nothing listens on :9).
        let out = Command::new(env!("CARGO_BIN_EXE_chatctl"))
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .env_remove("CHATCTL_PROJECT")
            .env_remove("CHATCTL_OUTPUT")
            .env_remove("GCE_METADATA_HOST")
            .env(
                "GOOGLE_APPLICATION_CREDENTIALS",
                dir.path().join("missing.json"),
            )
            .env("CHATCTL_API_ENDPOINT", "http://127.0.0.1:9")
            .env("CLOUDSDK_CONFIG", dir.path().join("no-gcloud"))
            .env("HOME", dir.path())
            .output()
            .expect("run chatctl");
        assert_eq!(
            out.status.code(),
            Some(i32::from(code)),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let stdout = text(&out.stdout);
        let lines: Vec<serde_json::Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON lines only"))
            .collect();
        let errors = lines.iter().filter(|l| l["type"] == "error").count();
        assert_eq!(errors, 1, "{args:?}: one error object on stdout: {stdout}");
        let error = lines.last().expect("a line");
        assert_eq!(error["type"], "error", "{error}");
        assert_eq!(error["exitCode"], code, "{error}");
        let message = error["message"].as_str().expect("a message");
        assert!(
            message.contains(needle)
                || error["detail"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(needle),
            "{args:?}: {error}"
        );
        assert!(!text(&out.stderr).is_empty(), "the text stays on stderr");
        if args[0] == "status" {
            // It said which project and region it chose, and where each came from.
            assert_eq!(lines[0]["type"], "context", "{stdout}");
            assert_eq!(lines[0]["project"], "chat-json-1");
            assert_eq!(lines[0]["project_source"], "--project or CHATCTL_PROJECT");
            assert_eq!(lines[0]["region_source"], "chatctl's default");
        }
    }
    // Without --output json, stdout stays empty.
    let human = chatctl(&["up", "--tier", "golden"], None, dir.path());
    assert_eq!(human.status.code(), Some(3));
    assert!(human.stdout.is_empty());
}
