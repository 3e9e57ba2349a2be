//! Startup settings: `--help` and `--version`, every bad value refused with exit code 2 and a
//! message naming the setting, Redis AUTH (password never printed), and an unreachable Redis.

mod support;

use std::process::Output;
use std::time::Duration;

use support::{CHAT_ENV, ChatServer, Redis, chat_server_command, free_port};

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
