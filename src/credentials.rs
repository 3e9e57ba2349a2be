//! Google credentials, checked once before any API call: where application default credentials
//! are looked for (GOOGLE_APPLICATION_CREDENTIALS, gcloud's file, the metadata server) and one
//! bounded token fetch, so that missing, unreadable, expired or revoked credentials end the
//! command at once with what was looked for and how to fix it (exit 3), never mid-run. No
//! secret from a credentials file is ever part of a message.

use std::path::Path;
use std::time::Duration;

use google_cloud_auth::credentials::Credentials;
use serde_json::Value;

use crate::config::{ConfigError, Environment};

/// The longest the check waits for a token (from a token endpoint, STS or the metadata server).
pub const CHECK_WITHIN: Duration = Duration::from_secs(15);

/// What to do when there are no usable credentials.
const FIX: &str = "To fix it: on your own machine, run `gcloud auth application-default login`; \
                   with a service-account key or a credential configuration file, set \
                   GOOGLE_APPLICATION_CREDENTIALS to its path; in CI, use workload identity \
                   federation (examples/ shows GitHub Actions, GitLab and Cloud Build).";

/// The fields of a credentials file whose values must never be printed.
const SECRET_FIELDS: &[&str] = &[
    "private_key",
    "private_key_id",
    "refresh_token",
    "client_secret",
];

/// A credentials file as far as chatctl reads it: its `type` and the values never to print.
struct CredentialsFile {
    kind: String,
    secrets: Vec<String>,
}

impl CredentialsFile {
    /// Reads `path`; the error says what is wrong with it, in words that follow its path.
    fn read(path: &Path) -> Result<Self, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err("does not exist".into());
            }
            Err(e) => return Err(format!("cannot be read ({e})")),
        };
        // serde_json's messages name a line and column, never the text itself.
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| format!("is not a JSON credentials file ({e})"))?;
        let kind = json
            .get("type")
            .and_then(Value::as_str)
            .ok_or("has no `type` field, so it is not a Google credentials file")?;
        let secrets = SECRET_FIELDS
            .iter()
            .filter_map(|field| json.get(*field)?.as_str())
            .filter(|value| value.len() >= 4)
            .map(str::to_string)
            .collect();
        Ok(CredentialsFile {
            kind: kind.to_string(),
            secrets,
        })
    }

    /// What kind of credentials the file holds, for people.
    fn describe(&self) -> String {
        match self.kind.as_str() {
            "authorized_user" => {
                "user credentials, as `gcloud auth application-default login` writes".into()
            }
            "service_account" => "a service-account key".into(),
            "external_account" => "a workload identity federation configuration".into(),
            "impersonated_service_account" => "service-account impersonation credentials".into(),
            other => format!("`{other}` credentials"),
        }
    }
}

/// The credentials file application default credentials are read from, if any:
/// GOOGLE_APPLICATION_CREDENTIALS when set, else gcloud's file when it exists.
fn adc_file(environment: &Environment) -> Option<&Path> {
    environment.credentials_file.as_deref().or(environment
        .gcloud_adc_file
        .as_deref()
        .filter(|path| path.is_file()))
}

/// Where the metadata server is looked for.
fn metadata_server(environment: &Environment) -> String {
    match &environment.metadata_host {
        Some(host) => format!("the metadata server at {host} (GCE_METADATA_HOST)"),
        None => "the metadata server (metadata.google.internal, present only on Google Cloud: \
                 Compute Engine, GKE, Cloud Run, Cloud Build)"
            .into(),
    }
}

/// Everything application default credentials looked for, one place a line, with what was
/// found there.
fn looked_for(environment: &Environment) -> String {
    let found = |path: &Path| match CredentialsFile::read(path) {
        Ok(file) => format!("holds {}", file.describe()),
        Err(why) => why,
    };
    let mut places = Vec::new();
    match &environment.credentials_file {
        Some(path) => {
            places.push(format!(
                "GOOGLE_APPLICATION_CREDENTIALS={}: {}",
                path.display(),
                found(path)
            ));
        }
        None => {
            places.push("GOOGLE_APPLICATION_CREDENTIALS: not set".to_string());
            match &environment.gcloud_adc_file {
                Some(path) => places.push(format!(
                    "{} (gcloud's application default credentials): {}",
                    path.display(),
                    found(path)
                )),
                None => places.push(
                    "gcloud's application_default_credentials.json: neither HOME nor \
                     CLOUDSDK_CONFIG is set, so it cannot be found"
                        .into(),
                ),
            }
            if adc_file(environment).is_none() {
                places.push(metadata_server(environment));
            }
        }
    }
    places
        .iter()
        .map(|place| format!("\n  - {place}"))
        .collect()
}

/// Before the credentials are built: the file they will come from must exist and be a JSON
/// credentials file, or the error names it, everything looked for and the fix.
pub fn inspect(environment: &Environment) -> Result<(), ConfigError> {
    let Some(path) = adc_file(environment) else {
        return Ok(());
    };
    match CredentialsFile::read(path) {
        Ok(_) => Ok(()),
        Err(why) => Err(ConfigError(format!(
            "the Google credentials file {} {why}. Looked for credentials in:{}\n{FIX}",
            path.display(),
            looked_for(environment)
        ))),
    }
}

/// The credentials could not be built from what was found: `err` is google-cloud-auth's reason.
pub fn unusable(environment: &Environment, err: &dyn std::fmt::Display) -> ConfigError {
    ConfigError(redact(
        environment,
        format!(
            "cannot use the Google credentials: {err}. Looked for credentials in:{}\n{FIX}",
            looked_for(environment)
        ),
    ))
}

/// Fetches the authentication headers once, within [`CHECK_WITHIN`]: Ok when a token came (or
/// none is needed: the anonymous credentials of an emulator), else the error says what was
/// looked for, what answered and what to do.
pub async fn check(
    credentials: &Credentials,
    environment: &Environment,
) -> Result<(), ConfigError> {
    let fetched =
        tokio::time::timeout(CHECK_WITHIN, credentials.headers(http::Extensions::new())).await;
    let (transient, detail) = match fetched {
        Ok(Ok(_)) => return Ok(()),
        Ok(Err(e)) => (e.is_transient(), chain(&e)),
        Err(_) => (
            true,
            format!("no answer within {}s", CHECK_WITHIN.as_secs()),
        ),
    };
    let message = match adc_file(environment) {
        None => format!(
            "no Google credentials: none were found, and {} did not give a token ({detail}). \
             Looked for credentials in:{}\n{FIX}",
            metadata_server(environment),
            looked_for(environment)
        ),
        Some(path) if transient => format!(
            "cannot get an access token for the Google credentials in {}: {detail}. The token \
             service did not answer: check the network (a proxy or firewall may block \
             oauth2.googleapis.com or sts.googleapis.com) and run the command again.",
            path.display()
        ),
        Some(path) => {
            let kind = CredentialsFile::read(path)
                .map(|f| f.kind)
                .unwrap_or_default();
            let what = if kind == "authorized_user" {
                "They have expired or been revoked (a password change or an admin's session \
                 policy does that): run `gcloud auth application-default login` again."
            } else {
                "Check that the key, service account or workload identity provider still exists \
                 and is enabled."
            };
            format!(
                "the Google credentials in {} were refused: {detail}. {what} Looked for \
                 credentials in:{}\n{FIX}",
                path.display(),
                looked_for(environment)
            )
        }
    };
    Err(ConfigError(redact(environment, message)))
}

/// What google-cloud-auth adds to each level of its errors, which says nothing here.
const NOISE: &[&str] = &[
    "Fetching the token resulted in transient errors. Subsequent calls with this credential \
     might succeed.",
    "Request to fetch the token failed. Subsequent calls with this credential will also fail.",
    " but future attempts may succeed",
    " and future attempts will not succeed",
    "cannot create the authentication headers",
];

/// An error and its sources, joined without the repeated boilerplate (google-cloud-auth puts
/// the token service's answer in a source).
fn chain(err: &dyn std::error::Error) -> String {
    let mut links: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(cause) = next {
        let mut text = cause.to_string();
        for noise in NOISE {
            text = text.replace(noise, "");
        }
        let text = text.trim().trim_end_matches(':').trim().to_string();
        if !text.is_empty() && !links.iter().any(|l| l.contains(&text)) {
            links.push(text);
        }
        next = cause.source();
    }
    links.join(": ")
}

/// `message` with every secret of the credentials file in use replaced.
fn redact(environment: &Environment, mut message: String) -> String {
    let Some(file) = adc_file(environment).and_then(|path| CredentialsFile::read(path).ok()) else {
        return message;
    };
    for secret in &file.secrets {
        message = message.replace(secret.as_str(), "[redacted]");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(dir: &Path) -> Environment {
        Environment {
            gcloud_adc_file: Some(
                dir.join("gcloud")
                    .join("application_default_credentials.json"),
            ),
            metadata_host: Some("127.0.0.1:9".into()),
            ..Environment::default()
        }
    }

    #[test]
    fn with_nothing_configured_every_place_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let said = looked_for(&environment(dir.path()));
        assert!(
            said.contains("GOOGLE_APPLICATION_CREDENTIALS: not set"),
            "{said}"
        );
        assert!(
            said.contains("application_default_credentials.json"),
            "{said}"
        );
        assert!(said.contains("does not exist"), "{said}");
        assert!(said.contains("metadata server at 127.0.0.1:9"), "{said}");
        assert!(
            inspect(&environment(dir.path())).is_ok(),
            "nothing to read yet"
        );
    }

    #[test]
    fn a_broken_file_is_named_without_its_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.json");
        let mut env = environment(dir.path());
        env.credentials_file = Some(key.clone());
        let err = inspect(&env).unwrap_err();
        assert!(err.0.contains("key.json does not exist"), "{err}");
        assert!(!err.0.contains("metadata server"), "not tried: {err}");
        std::fs::write(&key, "{\"private_key\": \"-----BEGIN SECRET").unwrap();
        let err = inspect(&env).unwrap_err();
        assert!(err.0.contains("is not a JSON credentials file"), "{err}");
        assert!(!err.0.contains("BEGIN SECRET"), "{err}");
        std::fs::write(
            &key,
            r#"{"type":"authorized_user","refresh_token":"1//s3cr3t"}"#,
        )
        .unwrap();
        assert!(inspect(&env).is_ok());
        let err = unusable(&env, &"token 1//s3cr3t refused");
        assert!(!err.0.contains("s3cr3t"), "{err}");
        assert!(err.0.contains("holds user credentials"), "{err}");
    }
}
