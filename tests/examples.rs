//! Every file in examples/ parses: the chatctl.yaml examples as configuration (and their
//! overrides render into valid Cloud Run, Redis and connector resources), the CI pipelines as
//! YAML whose chatctl command lines use only flags that exist, with --output json, and --yes
//! for down. The pipelines fail when chatctl fails (pipefail wherever its output is piped),
//! give pull requests from forks no credentials, write GitLab's credentials file inside the job,
//! run Cloud Build as a named account, and install a pinned release or use chatctl's image
//! instead of compiling. The release workflow (.github/workflows/release.yml) builds every
//! target and packs completions and the man page; in every workflow, each action is pinned to a
//! full-length commit or to an allowed major tag.

use std::path::{Path, PathBuf};

use serde_json::Value;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("examples/ exists") {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn all_examples() -> Vec<PathBuf> {
    let mut out = Vec::new();
    files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        &mut out,
    );
    out.sort();
    out
}

/// Every string scalar in a YAML document.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// chatctl command lines inside shell scripts: from `chatctl ` to the end of the command.
fn command_lines(script: &str) -> Vec<Vec<String>> {
    let script = script.replace("\\\n", " ");
    let mut found = Vec::new();
    for line in script.lines() {
        let mut rest = line;
        while let Some(at) = rest.find("chatctl ") {
            let before = rest[..at].chars().last();
            let tail = &rest[at..];
            rest = &rest[at + 8..];
            if matches!(before, Some(c) if c.is_alphanumeric() || c == '-' || c == '/' || c == '_')
            {
                continue;
            }
            let end = tail.find(['|', '>', ';', ')', '&']).unwrap_or(tail.len());
            let cleaned = templating_removed(&tail[..end]);
            let words =
                shlex::split(&cleaned).unwrap_or_else(|| panic!("unbalanced quotes in {line}"));
            found.push(words);
        }
    }
    found
}

/// `${{ expr }}` (GitHub) becomes a plain word; `$VAR` and `${VAR}` stay as they are.
fn templating_removed(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .map(|e| start + e + 2)
            .unwrap_or(rest.len());
        out.push_str("VALUE");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Cloud Build steps whose entrypoint is chatctl: the args are the command line.
fn cloud_build_lines(doc: &Value) -> Vec<Vec<String>> {
    let Some(steps) = doc.get("steps").and_then(Value::as_array) else {
        return Vec::new();
    };
    steps
        .iter()
        .filter(|s| {
            s["entrypoint"]
                .as_str()
                .is_some_and(|e| e == "chatctl" || e.ends_with("/chatctl"))
        })
        .map(|s| {
            let mut words = vec!["chatctl".to_string()];
            words.extend(
                s["args"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string()),
            );
            words
        })
        .collect()
}

#[test]
fn ci_examples_use_real_flags_json_output_and_yes() {
    let mut checked = 0;
    for path in all_examples() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("chatctl.") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: Value = serde_norway::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
        let mut scripts = Vec::new();
        strings(&doc, &mut scripts);
        let mut lines: Vec<Vec<String>> = scripts.iter().flat_map(|s| command_lines(s)).collect();
        lines.extend(cloud_build_lines(&doc));
        assert!(
            !lines.is_empty(),
            "{} runs no chatctl command",
            path.display()
        );
        for words in &lines {
            let matches = chatctl::cli::command()
                .try_get_matches_from(words)
                .unwrap_or_else(|e| {
                    panic!(
                        "{}: `{}` does not parse:\n{e}",
                        path.display(),
                        words.join(" ")
                    )
                });
            let (sub, args) = matches.subcommand().expect("a subcommand");
            if matches!(sub, "up" | "down") {
                let json = words.iter().any(|w| w == "json" || w == "--output=json");
                assert!(
                    json,
                    "{}: `{}` lacks --output json",
                    path.display(),
                    words.join(" ")
                );
            }
            if sub == "down" {
                assert!(
                    args.get_flag("yes"),
                    "{}: `{}` lacks --yes",
                    path.display(),
                    words.join(" ")
                );
            }
            checked += 1;
        }
        let subcommands: Vec<&str> = lines.iter().map(|w| w[1].as_str()).collect();
        if !name.contains("cloudbuild") {
            assert!(
                subcommands.contains(&"up") && subcommands.contains(&"down"),
                "{}: {subcommands:?}",
                path.display()
            );
        }
    }
    assert!(checked >= 5, "only {checked} command lines found");
}

#[test]
fn config_examples_parse_and_render_into_valid_resources() {
    let mut checked = 0;
    for path in all_examples() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("chatctl.") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let file = chatctl::config::FileConfig::parse(&text, &path).unwrap();
        let global = chatctl::cli::GlobalArgs {
            config: Some(path.clone()),
            ..Default::default()
        };
        let settings = chatctl::config::resolve(&global, &Default::default(), &|_| None)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(file.project.is_some(), "{} names a project", path.display());
        let vars: chatctl::templates::Vars = [
            "serviceAccountEmail",
            "connector",
            "image",
            "redisHost",
            "redisPort",
            "tier",
            "project",
            "network",
            "env",
            "ipCidrRange",
            "region",
        ]
        .into_iter()
        .map(|k| (k, "10.0.0.0/28".to_string()))
        .collect();
        let service: chatctl::resources::Rendered<google_cloud_run_v2::model::Service> =
            chatctl::resources::render(
                "service",
                chatctl::templates::RUN_SERVICE,
                &vars,
                &settings.overrides.service,
                None,
            )
            .unwrap();
        let _: chatctl::resources::Rendered<google_cloud_vpcaccess_v1::model::Connector> =
            chatctl::resources::render(
                "connector",
                chatctl::templates::VPC_CONNECTOR,
                &vars,
                &settings.overrides.connector,
                None,
            )
            .unwrap();
        let mut redis_vars = vars.clone();
        redis_vars.insert("tier", "STANDARD_HA".into());
        let _: chatctl::resources::Rendered<google_cloud_redis_v1::model::Instance> =
            chatctl::resources::render(
                "redis",
                chatctl::templates::REDIS_INSTANCE,
                &redis_vars,
                &settings.overrides.redis,
                None,
            )
            .unwrap();
        let template = service.message.template.expect("a revision template");
        assert_eq!(
            template.containers.len(),
            1,
            "overrides merge into chat-server's container"
        );
        if name.ends_with(".ha.yaml") {
            assert_eq!(settings.tier, chatctl::config::Tier::Standard);
            assert_eq!(template.scaling.unwrap().min_instance_count, 2);
        }
        checked += 1;
    }
    assert!(checked >= 2, "minimal and HA examples");
}

/// The oldest major version of each action the GitHub example may use (late 2026's current).
/// The actions a workflow may use by major tag, and that tag (the current major version);
/// any other action, or another version, must be pinned to a full-length commit.
const ALLOWED_ACTION_MAJORS: &[(&str, &str)] = &[
    ("actions/checkout", "v7"),
    ("actions/upload-artifact", "v4"),
    ("actions/download-artifact", "v4"),
    ("google-github-actions/auth", "v3"),
    ("docker/setup-qemu-action", "v3"),
    ("docker/setup-buildx-action", "v3"),
    ("docker/login-action", "v3"),
    ("docker/build-push-action", "v6"),
];

/// The GitHub Actions workflows: the repository's own (.github/workflows) and the examples'.
fn workflow_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    files(&root.join(".github/workflows"), &mut out);
    files(&root.join("examples/github-actions"), &mut out);
    out.retain(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"));
    out.sort();
    out
}

/// Every `uses:` of a workflow's steps.
fn uses_of(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for job in doc["jobs"].as_object().expect("jobs").values() {
        for step in job["steps"].as_array().into_iter().flatten() {
            if let Some(uses) = step["uses"].as_str() {
                out.push(uses.to_string());
            }
        }
    }
    out
}

/// Why `uses` is not pinned as allowed, if it is not.
fn unpinned(uses: &str) -> Option<String> {
    let Some((action, version)) = uses.split_once('@') else {
        return Some(format!("{uses}: no version"));
    };
    let commit = version.len() == 40 && version.chars().all(|c| c.is_ascii_hexdigit());
    let owner_repo: String = action.splitn(3, '/').take(2).collect::<Vec<_>>().join("/");
    let allowed = ALLOWED_ACTION_MAJORS
        .iter()
        .any(|(a, major)| *a == owner_repo && *major == version);
    (!commit && !allowed).then(|| {
        format!("{uses}: pin a full-length commit or a major tag of ALLOWED_ACTION_MAJORS")
    })
}

#[test]
fn workflow_actions_are_pinned_to_a_commit_or_an_allowed_major_tag() {
    assert_eq!(unpinned("actions/checkout@v7"), None);
    assert_eq!(unpinned(&format!("someone/thing@{}", "a".repeat(40))), None);
    for bad in [
        "actions/checkout@v6",
        "actions/checkout@main",
        "someone/thing@v1",
        "x/y",
    ] {
        assert!(unpinned(bad).is_some(), "{bad} passed");
    }
    let mut checked = 0;
    for path in workflow_files() {
        for uses in uses_of(&read_yaml(&path)) {
            if let Some(problem) = unpinned(&uses) {
                panic!("{}: {problem}", path.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} actions found");
}

#[test]
fn the_release_workflow_builds_every_target_packs_completions_and_man_and_pushes_an_image() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/workflows/release.yml");
    let doc = read_yaml(&path);
    let tags = doc["on"]["push"]["tags"].to_string();
    assert!(tags.contains("v[0-9]"), "runs on version tags: {tags}");
    let targets: Vec<&str> = doc["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_array()
        .expect("a target matrix")
        .iter()
        .filter_map(|t| t["target"].as_str())
        .collect();
    for target in [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
    ] {
        assert!(targets.contains(&target), "{target} is not built");
    }
    let mut scripts = Vec::new();
    strings(&doc, &mut scripts);
    let lines: Vec<Vec<String>> = scripts.iter().flat_map(|s| command_lines(s)).collect();
    let mut shells = Vec::new();
    for words in &lines {
        let matches = chatctl::cli::command()
            .try_get_matches_from(words)
            .unwrap_or_else(|e| panic!("`{}` does not parse:\n{e}", words.join(" ")));
        if let Some(("completion", args)) = matches.subcommand() {
            shells.push(args.get_one::<clap_complete::Shell>("shell").copied());
        }
    }
    assert_eq!(shells.len(), 5, "completions for every shell: {shells:?}");
    assert!(
        lines.iter().any(|w| w[1] == "man"),
        "the man page is packed"
    );
    let all = scripts.join("\n");
    for needle in ["sha256sum", "SHA256SUMS", "gh release create", "extras/man"] {
        assert!(all.contains(needle), "release.yml lacks {needle}");
    }
    let image = &doc["jobs"]["image"]["steps"];
    assert!(
        image.to_string().contains("linux/amd64,linux/arm64"),
        "the container image is multi-platform"
    );
    let dockerfile =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("release/Dockerfile"))
            .expect("release/Dockerfile");
    assert!(dockerfile.contains("COPY ${TARGETARCH}/chatctl /usr/local/bin/chatctl"));
}

#[test]
fn ci_examples_install_a_pinned_release_or_use_the_image_and_never_compile() {
    for path in all_examples() {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("cargo install"),
            "{} compiles chatctl: install a release or use the image",
            path.display()
        );
    }
    let github = std::fs::read_to_string(example("github-actions/preview.yml")).unwrap();
    assert!(
        github.contains("sha256sum --check")
            && github.contains("releases/download/v$CHATCTL_VERSION"),
        "the GitHub example verifies the pinned release's checksum"
    );
    let gitlab = read_yaml(&example("gitlab/.gitlab-ci.yml"));
    assert_eq!(gitlab[".chatctl"]["image"], "$CHATCTL_IMAGE");
    let cloud_build = read_yaml(&example("cloud-build/cloudbuild.yaml"));
    for step in cloud_build["steps"].as_array().expect("steps") {
        assert_eq!(step["name"], "${_CHATCTL_IMAGE}", "{step}");
    }
}

/// Whether `script` pipes a chatctl command into another command.
fn pipes_chatctl(script: &str) -> bool {
    script.lines().any(|line| {
        line.find("chatctl ")
            .is_some_and(|at| line[at..].contains(" | "))
    })
}

fn read_yaml(path: &Path) -> Value {
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
}

fn example(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(relative)
}

#[test]
fn github_actions_fail_with_chatctl_and_skip_forks() {
    let path = example("github-actions/preview.yml");
    let doc = read_yaml(&path);
    let bash_by_default = doc["defaults"]["run"]["shell"] == "bash";
    let fork_guard = "github.event.pull_request.head.repo.full_name == github.repository";
    let mut piped = 0;
    let mut authenticated = 0;
    for (job_name, job) in doc["jobs"].as_object().expect("jobs") {
        let job_bash = bash_by_default || job["defaults"]["run"]["shell"] == "bash";
        let job_if = job["if"].as_str().unwrap_or_default();
        for step in job["steps"].as_array().expect("steps") {
            if let Some(uses) = step["uses"].as_str() {
                let (action, _) = uses.split_once('@').expect("a pinned version");
                if action == "google-github-actions/auth" {
                    let step_if = step["if"].as_str().unwrap_or_default();
                    assert!(
                        job_if.contains(fork_guard) || step_if.contains(fork_guard),
                        "{job_name}: the OIDC step would run for pull requests from forks"
                    );
                    authenticated += 1;
                }
            }
            let Some(script) = step["run"].as_str() else {
                continue;
            };
            if pipes_chatctl(script) {
                let bash = job_bash || step["shell"] == "bash";
                assert!(
                    bash || script.contains("pipefail"),
                    "{job_name}: `{script}` pipes chatctl without pipefail: a failed chatctl \
                     would pass"
                );
                piped += 1;
            }
        }
    }
    assert!(
        piped >= 1 && authenticated >= 2,
        "{piped} piped, {authenticated} auth steps"
    );
}

#[test]
fn gitlab_writes_its_credentials_inside_the_job_and_fails_with_chatctl() {
    let doc = read_yaml(&example("gitlab/.gitlab-ci.yml"));
    let mut scripts = Vec::new();
    strings(&doc, &mut scripts);
    let piping: Vec<&String> = scripts.iter().filter(|s| pipes_chatctl(s)).collect();
    assert!(!piping.is_empty(), "the example pipes up's JSON into tee");
    for script in piping {
        assert!(
            script.contains("pipefail"),
            "`{script}` pipes chatctl without pipefail"
        );
    }
    let setting = scripts
        .iter()
        .find(|s| s.contains("GOOGLE_APPLICATION_CREDENTIALS="))
        .expect("the job sets GOOGLE_APPLICATION_CREDENTIALS");
    assert!(
        setting.contains("mktemp") && setting.contains("$GITLAB_OIDC_TOKEN"),
        "the credentials file is written inside the job from the ID token:\n{setting}"
    );
}

#[test]
fn cloud_build_runs_as_a_named_service_account_with_its_logs_routed() {
    let doc = read_yaml(&example("cloud-build/cloudbuild.yaml"));
    let account = doc["serviceAccount"].as_str().expect("serviceAccount");
    assert!(
        account.starts_with("projects/") && account.contains("/serviceAccounts/"),
        "{account}"
    );
    // Cloud Build refuses a user-specified account whose logs would go to the default bucket.
    let logging = doc["options"]["logging"].as_str().unwrap_or_default();
    assert!(
        matches!(logging, "CLOUD_LOGGING_ONLY" | "GCS_ONLY" | "NONE")
            || doc["logsBucket"].is_string(),
        "logging: {logging:?}"
    );
}
