//! Memorystore's server CA for instances with in-transit encryption: a self-signed CA made per
//! instance (when the runtime brings none) and its `serverCaCerts` entry (google.cloud.redis.v1.
//! TlsCertificate: serial number, PEM, create and expire times, SHA-1 fingerprint).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::error::ApiError;

/// How long Memorystore's server CAs are valid (Google documents 10 years).
const VALIDITY_DAYS: i64 = 3650;

/// A new self-signed CA for the instance `name`, as PEM.
pub fn generate(name: &str) -> Result<String, ApiError> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| ApiError::internal(format!("cannot make the server CA: {e}")))?;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("Google Cloud Memorystore Redis Server CA {name}"),
    );
    let key = rcgen::KeyPair::generate()
        .map_err(|e| ApiError::internal(format!("cannot make the server CA key: {e}")))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| ApiError::internal(format!("cannot sign the server CA: {e}")))?;
    Ok(cert.pem())
}

/// The `serverCaCerts` entry of a CA given as PEM.
pub fn describe(pem: &str) -> Result<Value, ApiError> {
    let der =
        der_of(pem).ok_or_else(|| ApiError::internal("the server CA is not a PEM certificate"))?;
    let fingerprint = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
    let fingerprint: String = fingerprint
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let now = jiff::Timestamp::now();
    let expires = now
        .checked_add(jiff::SignedDuration::from_hours(VALIDITY_DAYS * 24))
        .unwrap_or(now);
    Ok(json!({
        "serialNumber": serial_of(&der).unwrap_or_default(),
        "cert": pem,
        "createTime": now.to_string(),
        "expireTime": expires.to_string(),
        "sha1Fingerprint": fingerprint,
    }))
}

fn der_of(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    STANDARD.decode(body).ok().filter(|d| !d.is_empty())
}

/// One DER element at `at`: (tag, start of content, content length).
fn element(der: &[u8], at: usize) -> Option<(u8, usize, usize)> {
    let tag = *der.get(at)?;
    let first = *der.get(at + 1)?;
    if first < 0x80 {
        return Some((tag, at + 2, usize::from(first)));
    }
    let count = usize::from(first & 0x7f);
    let bytes = der.get(at + 2..at + 2 + count)?;
    let len = bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b));
    Some((tag, at + 2 + count, len))
}

/// The certificate's serial number (Certificate → TBSCertificate → [0] version → INTEGER
/// serial): decimal when it fits in 128 bits, else hexadecimal.
fn serial_of(der: &[u8]) -> Option<String> {
    let (_, cert, _) = element(der, 0)?;
    let (_, tbs, _) = element(der, cert)?;
    let (tag, start, len) = element(der, tbs)?;
    let (tag, start, len) = if tag == 0xa0 {
        element(der, start + len)?
    } else {
        (tag, start, len)
    };
    if tag != 0x02 {
        return None;
    }
    let bytes = der.get(start..start + len)?;
    let significant: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    if significant.len() <= 16 {
        let value = significant
            .iter()
            .fold(0u128, |n, b| (n << 8) | u128::from(*b));
        Some(value.to_string())
    } else {
        Some(significant.iter().map(|b| format!("{b:02x}")).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_ca_is_described_with_its_serial_and_fingerprint() {
        let pem = generate("projects/p/locations/us-central1/instances/i").unwrap();
        let entry = describe(&pem).unwrap();
        assert_eq!(entry["cert"], pem);
        assert_eq!(entry["sha1Fingerprint"].as_str().unwrap().len(), 40);
        assert!(!entry["serialNumber"].as_str().unwrap().is_empty());
    }
}
