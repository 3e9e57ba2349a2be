//! Local mode's stand-in for Memorystore's in-transit encryption: a CA made for the run and a
//! server certificate for 127.0.0.1 signed by it, written where only this user can read them,
//! and the TLS client chatctl itself uses to see that redis-server answers.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::runtime::write_private;

/// The address redis-server listens on and its certificate names.
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// One Redis instance's TLS material: the CA (published as the instance's `serverCaCerts`, so
/// the service gets it as REDIS_CA_CERT as on Google) and the files redis-server reads.
pub struct RedisTls {
    pub ca_pem: String,
    /// A TLS client that trusts only this CA, for chatctl's own readiness check.
    connector: TlsConnector,
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl RedisTls {
    /// Makes a new CA for `instance` and a server certificate for 127.0.0.1, in `dir`.
    pub fn create(dir: &Path, instance: &str) -> Result<RedisTls, String> {
        let fail = |what: &str, e: rcgen::Error| format!("cannot make Redis's {what}: {e}");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| fail("server CA", e))?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("chatctl local Redis server CA {instance}"),
        );
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = rcgen::KeyPair::generate().map_err(|e| fail("server CA key", e))?;
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key)
            .map_err(|e| fail("server CA", e))?;

        let mut server_params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| fail("server certificate", e))?;
        server_params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress(LOOPBACK));
        server_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        server_params.key_usages = vec![
            rcgen::KeyUsagePurpose::DigitalSignature,
            rcgen::KeyUsagePurpose::KeyEncipherment,
        ];
        let server_key = rcgen::KeyPair::generate().map_err(|e| fail("server key", e))?;
        let server = server_params
            .signed_by(&server_key, &ca)
            .map_err(|e| fail("server certificate", e))?;

        let tls = RedisTls {
            ca_pem: ca.pem(),
            connector: trusting(ca.der().clone())?,
            ca_file: dir.join("server-ca.pem"),
            cert_file: dir.join("server.pem"),
            key_file: dir.join("server-key.pem"),
        };
        for (path, text) in [
            (&tls.ca_file, tls.ca_pem.clone()),
            (&tls.cert_file, server.pem()),
            (&tls.key_file, server_key.serialize_pem()),
        ] {
            write_private(path, &text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(tls)
    }

    /// redis-server's directives for a TLS-only listener on `port` (the plain port is off;
    /// clients are not asked for certificates, as with Memorystore's SERVER_AUTHENTICATION).
    pub fn config(&self, port: u16) -> String {
        format!(
            "port 0\ntls-port {port}\ntls-cert-file \"{}\"\ntls-key-file \"{}\"\n\
             tls-ca-cert-file \"{}\"\ntls-auth-clients no\n",
            self.cert_file.display(),
            self.key_file.display(),
            self.ca_file.display()
        )
    }

    /// A TLS connection to 127.0.0.1:`port` that trusts only this instance's CA.
    pub async fn connect(&self, port: u16) -> Option<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect((LOOPBACK, port)).await.ok()?;
        self.connector
            .connect(ServerName::IpAddress(LOOPBACK.into()), tcp)
            .await
            .ok()
    }
}

/// A TLS client whose only root is `ca`.
fn trusting(ca: CertificateDer<'static>) -> Result<TlsConnector, String> {
    let fail = |e: rustls::Error| format!("cannot set up a TLS client for Redis: {e}");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).map_err(fail)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(fail)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}
