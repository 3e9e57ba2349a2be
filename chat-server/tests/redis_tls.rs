//! REDIS_TLS=1 with REDIS_CA_CERT (Memorystore in-transit encryption), against a real
//! redis-server serving TLS with a certificate from a throwaway CA made by the test.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use support::{ChatServer, Redis, chat_server_command, free_port, run_node_suite};

struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// A CA and a server certificate for 127.0.0.1, written as PEM files under `dir`.
fn make_pki(dir: &Path) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "chat-server test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
        .expect("CA cert");

    let server_key = KeyPair::generate().expect("server key");
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("server params");
    params.distinguished_name.push(DnType::CommonName, "redis");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let cert = params.signed_by(&server_key, &ca).expect("server cert");

    let pki = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("redis.pem"),
        key: dir.join("redis-key.pem"),
    };
    std::fs::write(&pki.ca, ca.pem()).expect("write CA");
    std::fs::write(&pki.cert, cert.pem()).expect("write cert");
    std::fs::write(&pki.key, server_key.serialize_pem()).expect("write key");
    pki
}

#[test]
fn two_instances_chat_over_redis_tls_with_a_private_ca() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = make_pki(dir.path());
    let redis = Redis::start_tls(&pki.cert, &pki.key, &pki.ca);
    let ca_pem = std::fs::read_to_string(&pki.ca).expect("read CA");
    // One instance names the CA file, the other gets the PEM text itself (both forms are accepted).
    let a = ChatServer::with_redis(
        &redis,
        &[
            ("REDIS_TLS", "1".into()),
            ("REDIS_CA_CERT", pki.ca.display().to_string()),
        ],
    );
    let b = ChatServer::with_redis(
        &redis,
        &[("REDIS_TLS", "true".into()), ("REDIS_CA_CERT", ca_pem)],
    );
    for server in [&a, &b] {
        let ready = server.get("/readyz");
        assert_eq!(ready.status, 200, "{}\n{}", ready.body, server.log_text());
    }
    let env = vec![
        ("CHAT_URL_A", a.url()),
        ("CHAT_URL_B", b.url()),
        ("CHAT_GRACE_MS", "10000".into()),
    ];
    run_node_suite("cross-instance.test.mjs", &env, Duration::from_secs(60));
}

#[test]
fn an_untrusted_redis_certificate_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = make_pki(dir.path());
    let redis = Redis::start_tls(&pki.cert, &pki.key, &pki.ca);
    let other = tempfile::tempdir().expect("temp dir");
    let stranger = make_pki(other.path());
    let output = chat_server_command(&[
        ("PORT", free_port().to_string()),
        ("REDISHOST", "127.0.0.1".into()),
        ("REDISPORT", redis.port.to_string()),
        ("REDIS_TLS", "1".into()),
        ("REDIS_CA_CERT", stranger.ca.display().to_string()),
    ])
    .output()
    .expect("run chat-server");
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a certificate from another CA must not be trusted:\n{said}"
    );
    assert!(said.contains("cannot use Redis"), "{said}");
}
