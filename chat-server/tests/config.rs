//! Startup settings: `--help` and `--version`, every bad value refused with exit code 2 and a
//! message naming the setting, Redis AUTH (password never printed), NATS_CREDS (never printed),
//! and an unreachable Redis or NATS.

mod support;

use std::process::Output;
use std::time::Duration;

use support::{CHAT_ENV, ChatServer, Nats, Redis, chat_server_command, free_port};

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, v.to_string())).collect();
    chat_server_command(&env)
        .args(args)
        .output()
        .expect("run chat-server")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn version_and_help_work() {
    let version = run(&["--version"], &[]);
    assert!(version.status.success());
    assert_eq!(
        text(&version).trim(),
        format!("chat-server {}", env!("CARGO_PKG_VERSION"))
    );

    let help = run(&["--help"], &[]);
    assert!(help.status.success());
    let help = text(&help).split_whitespace().collect::<Vec<_>>().join(" ");
    for name in CHAT_ENV {
        assert!(
            help.contains(&format!("env: {name}")),
            "--help does not document {name}:\n{help}"
        );
    }
}

#[test]
fn bad_values_exit_2_naming_the_setting() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("PORT", "abc")], "PORT"),
        (&[("PORT", "70000")], "PORT"),
        (&[("REDISPORT", "-1")], "REDISPORT"),
        (&[("HISTORY_LIMIT", "0")], "HISTORY_LIMIT"),
        (&[("HISTORY_LIMIT", "lots")], "HISTORY_LIMIT"),
        (&[("MAX_MESSAGE_LEN", "0")], "MAX_MESSAGE_LEN"),
        (&[("REDIS_TLS", "maybe")], "REDIS_TLS"),
        (&[("RATE_LIMIT", "fast")], "RATE_LIMIT"),
        (&[("RATE_LIMIT", "0/10s")], "RATE_LIMIT"),
        (&[("RECONNECT_GRACE", "soon")], "RECONNECT_GRACE"),
        (
            &[("ALLOWED_ORIGINS", "chat.example.com")],
            "ALLOWED_ORIGINS",
        ),
        (&[("REDIS_TLS", "1")], "REDISHOST"),
        (&[("REDIS_PASSWORD", "pw")], "REDISHOST"),
        (&[("REDISHOST", "")], "REDISHOST"),
        (
            &[
                ("REDISHOST", "127.0.0.1"),
                ("REDIS_CA_CERT", "/nowhere.pem"),
            ],
            "REDIS_TLS",
        ),
        (
            &[
                ("REDISHOST", "127.0.0.1"),
                ("REDIS_TLS", "1"),
                ("REDIS_CA_CERT", "/nowhere/ca.pem"),
            ],
            "REDIS_CA_CERT",
        ),
        (&[("BUS", "kafka")], "BUS"),
        (&[("BUS", "nats")], "NATS_URL"),
        (
            &[
                ("BUS", "nats"),
                ("NATS_URL", "nats://127.0.0.1:4222"),
                ("REDISHOST", "127.0.0.1"),
            ],
            "REDISHOST",
        ),
        (&[("NATS_URL", "nats://127.0.0.1:4222")], "BUS"),
        (
            &[
                ("BUS", "nats"),
                ("NATS_URL", "nats://127.0.0.1:4222"),
                ("NATS_CREDS", "/nowhere/chat.creds"),
            ],
            "NATS_CREDS",
        ),
    ];
    for (env, setting) in cases {
        let output = run(&[], env);
        let said = text(&output);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{env:?} must exit 2, said:\n{said}"
        );
        assert!(
            said.contains(setting),
            "{env:?}: the message must name {setting}:\n{said}"
        );
        assert!(!said.contains("panicked"), "{env:?} panicked:\n{said}");
    }
}

#[test]
fn unreachable_redis_exits_1_with_a_clear_message() {
    let port = free_port().to_string();
    let output = run(
        &[],
        &[
            ("PORT", &free_port().to_string()),
            ("REDISHOST", "127.0.0.1"),
            ("REDISPORT", &port),
        ],
    );
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("cannot use Redis at 127.0.0.1:{port}")),
        "{said}"
    );
}

#[test]
fn redis_auth_works_and_the_password_is_never_printed() {
    let password = "s3cret-Passw0rd";
    let redis = Redis::start_with(&["--requirepass", password]);
    let server = ChatServer::with_redis(&redis, &[("REDIS_PASSWORD", password.into())]);
    let ready = server.get("/readyz");
    assert_eq!(ready.status, 200, "{}", ready.body);

    let wrong = run(
        &[],
        &[
            ("PORT", &free_port().to_string()),
            ("REDISHOST", "127.0.0.1"),
            ("REDISPORT", &redis.port.to_string()),
            ("REDIS_PASSWORD", "wrong-Passw0rd"),
        ],
    );
    let said = text(&wrong);
    assert_eq!(wrong.status.code(), Some(1), "{said}");
    assert!(
        !said.contains("wrong-Passw0rd"),
        "a password was printed:\n{said}"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !server.log_text().contains(password),
        "the password was logged:\n{}",
        server.log_text()
    );
}

#[test]
fn unreachable_nats_exits_1_with_a_clear_message() {
    let port = free_port().to_string();
    let url = format!("nats://127.0.0.1:{port}");
    let output = run(
        &[],
        &[
            ("PORT", &free_port().to_string()),
            ("BUS", "nats"),
            ("NATS_URL", &url),
        ],
    );
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("cannot use NATS at {url}")),
        "{said}"
    );
    assert!(
        said.contains("check NATS_URL"),
        "it says what to check:\n{said}"
    );
}

#[test]
fn nats_creds_are_used_and_never_printed() {
    let seed = nkeys::KeyPair::new_user().seed().expect("a user seed");
    let jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2lnbmF0dXJl";
    let creds = format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
    );
    let nats = Nats::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("chat.creds");
    std::fs::write(&file, &creds).expect("write the creds file");
    // As the file's text (how a Secret Manager value arrives) and as a path to the file.
    let by_text = ChatServer::with_nats(&nats, &[("NATS_CREDS", creds.clone())]);
    let by_path = ChatServer::with_nats(&nats, &[("NATS_CREDS", file.display().to_string())]);
    for server in [&by_text, &by_path] {
        let ready = server.get("/readyz");
        assert_eq!(ready.status, 200, "{}", ready.body);
        let log = server.log_text();
        assert!(
            log.contains("\"creds\":true"),
            "the creds are in use:\n{log}"
        );
        assert!(
            !log.contains(&seed) && !log.contains(jwt),
            "the creds were logged:\n{log}"
        );
    }

    // A secret pasted in the wrong form (a bare seed) is refused without being echoed.
    let url = nats.url();
    let bare = run(
        &[],
        &[("BUS", "nats"), ("NATS_URL", &url), ("NATS_CREDS", &seed)],
    );
    let said = text(&bare);
    assert_eq!(bare.status.code(), Some(2), "{said}");
    assert!(said.contains("NATS_CREDS"), "{said}");
    assert!(!said.contains(&seed), "the seed was printed:\n{said}");

    // Creds text with a broken seed: refused, and neither part is printed.
    let broken = creds.replace(&seed, "SUBROKEN");
    let refused = run(
        &[],
        &[
            ("PORT", &free_port().to_string()),
            ("BUS", "nats"),
            ("NATS_URL", &url),
            ("NATS_CREDS", &broken),
        ],
    );
    let said = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(said.contains("NATS_CREDS"), "{said}");
    assert!(!said.contains(jwt), "the JWT was printed:\n{said}");
}
