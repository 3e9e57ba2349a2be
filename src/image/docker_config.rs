//! Registry logins that `docker login` left in Docker's `config.json` (its `auths`), so that
//! `--image` checks and `--registry` pushes to registries other than Google's work when they
//! are private. Credential helpers (`credsStore`, `credHelpers`) are not run.

use super::registry::RegistryAuth;
use base64::Engine as _;
use std::path::Path;

/// The login `config_file` holds for `registry` (`host[:port]` as image references name it),
/// or `None` when it holds none (or cannot be read: then the registry is tried anonymously).
pub fn login(config_file: &Path, registry: &str) -> Option<RegistryAuth> {
    let text = std::fs::read_to_string(config_file).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    let auths = config.get("auths")?.as_object()?;
    let entry = auths
        .iter()
        .find(|(key, _)| names_registry(key, registry))
        .map(|(_, entry)| entry)?;
    let (username, password) = match entry.get("auth").and_then(|a| a.as_str()) {
        Some(encoded) if !encoded.is_empty() => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            let (username, password) = decoded.split_once(':')?;
            (username.to_string(), password.to_string())
        }
        _ => (
            entry.get("username")?.as_str()?.to_string(),
            entry.get("password")?.as_str()?.to_string(),
        ),
    };
    Some(RegistryAuth::Basic { username, password })
}

/// Whether an `auths` key (a host, or a URL such as Docker Hub's `https://index.docker.io/v1/`)
/// names `registry`.
fn names_registry(key: &str, registry: &str) -> bool {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default();
    let docker_hub = |name: &str| {
        matches!(
            name,
            "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com"
        )
    };
    host == registry || (docker_hub(host) && docker_hub(registry))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login_from(config: &str, registry: &str) -> Option<(String, String)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, config).unwrap();
        match login(&path, registry)? {
            RegistryAuth::Basic { username, password } => Some((username, password)),
            RegistryAuth::Anonymous => None,
        }
    }

    #[test]
    fn logins_are_found_by_host_and_docker_hub_by_its_url() {
        // "user:pass" and "hub:secret" in base64, as `docker login` writes them.
        let config = r#"{"auths": {
            "127.0.0.1:5000": {"auth": "dXNlcjpwYXNz"},
            "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldA=="},
            "ghcr.io": {"username": "me", "password": "token"}
        }, "credsStore": "desktop"}"#;
        let pair = |u: &str, p: &str| Some((u.to_string(), p.to_string()));
        assert_eq!(login_from(config, "127.0.0.1:5000"), pair("user", "pass"));
        assert_eq!(login_from(config, "docker.io"), pair("hub", "secret"));
        assert_eq!(login_from(config, "ghcr.io"), pair("me", "token"));
        assert_eq!(login_from(config, "quay.io"), None);
        assert_eq!(login_from("not json", "ghcr.io"), None);
        assert_eq!(
            login_from(r#"{"auths": {"ghcr.io": {"auth": "%%%"}}}"#, "ghcr.io"),
            None
        );
    }
}
