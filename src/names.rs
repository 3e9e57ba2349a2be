//! Resource names of one environment, derived from its name and checked against each API's
//! naming rules before any call is made (no state file: any machine derives the same names).

use std::collections::BTreeMap;

/// Longest environment name: the service account id `chat-identity-NAME` must fit in 30.
pub const MAX_ENV_LEN: usize = 16;

/// Label keys chatctl puts on everything that takes labels.
pub const LABEL_MANAGED_BY: &str = "managed-by";
pub const LABEL_ENV: &str = "chatctl-env";
pub const MANAGED_BY_VALUE: &str = "chatctl";

/// Every name chatctl uses for one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub env: String,
    pub redis_instance: String,
    pub connector: String,
    pub service_account_id: String,
    /// The account Cloud Build runs the image's build as (`--build source`).
    pub build_account_id: String,
    pub run_service: String,
    /// The Secret Manager secret holding Redis's AUTH string.
    pub redis_auth_secret: String,
    /// --bus nats: the Compute Engine instance running the NATS server (also its network tag).
    pub nats_vm: String,
    /// Its persistent disk (the JetStream store).
    pub nats_disk: String,
    /// The firewall rule admitting the connector's range to port 4222 of the VM.
    pub nats_firewall: String,
    /// The Secret Manager secret holding the NATS URL with the generated credentials.
    pub nats_auth_secret: String,
    /// The staging bucket's object that is the environment's lock (`crate::lock`).
    pub lock_object: String,
}

/// The environment's service accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account {
    /// The chat service's identity (Cloud Run runs as it).
    Identity,
    /// Cloud Build's: builds the chat-server image (`roles/run.builder`).
    Builder,
}

impl Names {
    /// Derives and validates the names of environment `env`.
    pub fn derive(env: &str) -> Result<Self, String> {
        validate_env(env)?;
        let names = Names {
            env: env.to_string(),
            redis_instance: format!("chat-{env}"),
            connector: format!("chat-{env}"),
            service_account_id: format!("chat-identity-{env}"),
            build_account_id: format!("chat-builder-{env}"),
            run_service: format!("chat-{env}"),
            redis_auth_secret: format!("chat-redis-auth-{env}"),
            nats_vm: format!("chat-nats-{env}"),
            nats_disk: format!("chat-nats-data-{env}"),
            nats_firewall: format!("chat-nats-allow-{env}"),
            nats_auth_secret: format!("chat-nats-auth-{env}"),
            lock_object: format!("chatctl-lock-{env}.json"),
        };
        check(&names.redis_instance, "Memorystore instance id", 1, 40)?;
        check(&names.connector, "VPC Access connector id", 2, 25)?;
        check(&names.service_account_id, "service account id", 6, 30)?;
        check(&names.build_account_id, "service account id", 6, 30)?;
        check(&names.run_service, "Cloud Run service name", 1, 49)?;
        check(&names.nats_vm, "Compute Engine instance name", 1, 63)?;
        check(&names.nats_disk, "Compute Engine disk name", 1, 63)?;
        check(&names.nats_firewall, "firewall rule name", 1, 63)?;
        Ok(names)
    }

    /// The labels that mark a resource as belonging to this environment.
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
            (LABEL_ENV.to_string(), self.env.clone()),
        ])
    }

    /// The id of one of the environment's service accounts.
    pub fn account_id(&self, account: Account) -> &str {
        match account {
            Account::Identity => &self.service_account_id,
            Account::Builder => &self.build_account_id,
        }
    }

    /// Firewall rules take no labels: their description carries the same marks.
    pub fn firewall_description(&self) -> String {
        format!(
            "{LABEL_MANAGED_BY}={MANAGED_BY_VALUE} {LABEL_ENV}={}: NATS clients from the \
             connector's range",
            self.env
        )
    }

    /// Service accounts take no labels: their description carries the same marks.
    pub fn account_description(&self, account: Account) -> String {
        let role = match account {
            Account::Identity => "identity of the chat service",
            Account::Builder => "builds the chat-server image",
        };
        format!(
            "{LABEL_MANAGED_BY}={MANAGED_BY_VALUE} {LABEL_ENV}={}: {role}",
            self.env
        )
    }

    pub fn account_email(&self, account: Account, project: &str) -> String {
        let (domain, id) = match project.split_once(':') {
            Some((domain, id)) => (format!(".{domain}"), id),
            None => (String::new(), project),
        };
        format!(
            "{}@{id}{domain}.iam.gserviceaccount.com",
            self.account_id(account)
        )
    }

    /// The chat service's identity, the account Cloud Run runs as.
    pub fn service_account_email(&self, project: &str) -> String {
        self.account_email(Account::Identity, project)
    }
}

fn validate_env(env: &str) -> Result<(), String> {
    let hint = "use lowercase letters, digits and hyphens, starting with a letter and not ending \
                with a hyphen, e.g. `default`, `staging` or `pr-123`";
    if env.is_empty() {
        return Err(format!("the environment name is empty: {hint}"));
    }
    if env.len() > MAX_ENV_LEN {
        return Err(format!(
            "the environment name `{env}` has {} characters; at most {MAX_ENV_LEN} fit in every \
             derived name (the service account id `chat-identity-{env}` may have 30)",
            env.len()
        ));
    }
    if !is_dns_label(env) {
        return Err(format!("the environment name `{env}` is not valid: {hint}"));
    }
    Ok(())
}

/// `^[a-z]([-a-z0-9]*[a-z0-9])?$`: the rule every one of our APIs shares.
fn is_dns_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes[0].is_ascii_lowercase()
        && bytes[bytes.len() - 1] != b'-'
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

fn check(name: &str, what: &str, min: usize, max: usize) -> Result<(), String> {
    if name.len() < min || name.len() > max || !is_dns_label(name) {
        return Err(format!(
            "derived {what} `{name}` breaks the API's rule ({min}-{max} characters, lowercase \
             letters, digits and hyphens, starting with a letter): choose a shorter --env"
        ));
    }
    Ok(())
}

/// Validates a service account email, e.g. `builder@my-project.iam.gserviceaccount.com`.
pub fn validate_service_account_email(email: &str) -> Result<(), String> {
    // The ID part: chatctl's accounts have 6-30 characters, Google's own (the Compute Engine
    // default `NUMBER-compute@developer…`) may start with a digit.
    let valid = email.split_once('@').is_some_and(|(id, domain)| {
        (1..=63).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && domain.ends_with(".gserviceaccount.com")
            && domain
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{email}` is not a service account email, e.g. \
             builder@my-project.iam.gserviceaccount.com"
        ))
    }
}

/// Validates a Compute Engine network or subnet name (`what`): 1-63 lowercase letters, digits
/// and hyphens, starting with a letter, not ending with a hyphen.
pub fn validate_network_name(what: &str, name: &str) -> Result<(), String> {
    if (1..=63).contains(&name.len()) && is_dns_label(name) {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a Compute Engine {what} name (1-63 lowercase letters, digits and \
             hyphens, starting with a letter): pass its name, e.g. --{what} default"
        ))
    }
}

/// Validates a project ID (6-30 characters, optionally `domain:` prefixed).
pub fn validate_project(project: &str) -> Result<(), String> {
    let id = project.rsplit(':').next().unwrap_or(project);
    if (6..=30).contains(&id.len()) && is_dns_label(id) {
        Ok(())
    } else {
        Err(format!(
            "`{project}` is not a Google Cloud project ID (6-30 lowercase letters, digits and \
             hyphens, starting with a letter); pass the ID, not the display name or number"
        ))
    }
}

/// Validates an Artifact Registry repository ID (1-63 lowercase letters, digits and hyphens,
/// starting with a letter, not ending with a hyphen).
pub fn validate_repository(repository: &str) -> Result<(), String> {
    if (1..=63).contains(&repository.len()) && is_dns_label(repository) {
        Ok(())
    } else {
        Err(format!(
            "`{repository}` is not an Artifact Registry repository ID (1-63 lowercase letters, \
             digits and hyphens, starting with a letter), e.g. cloud-run-source-deploy"
        ))
    }
}

/// Validates a Cloud Storage bucket name (3-63 lowercase letters, digits, `-`, `_` and `.`,
/// starting and ending with a letter or digit, not starting with `goog`).
pub fn validate_bucket(bucket: &str) -> Result<(), String> {
    let alphanumeric = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let ok = (3..=63).contains(&bucket.len())
        && bucket.starts_with(alphanumeric)
        && bucket.ends_with(alphanumeric)
        && bucket.chars().all(|c| alphanumeric(c) || "-_.".contains(c))
        && !bucket.starts_with("goog");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{bucket}` is not a Cloud Storage bucket name (3-63 lowercase letters, digits, `-`, \
             `_` and `.`, starting and ending with a letter or digit), e.g. my-project_cloudbuild"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_env_names_fit_every_api() {
        let names = Names::derive("default").unwrap();
        assert_eq!(names.connector, "chat-default");
        assert_eq!(names.service_account_id, "chat-identity-default");
        assert_eq!(
            names.service_account_email("my-project"),
            "chat-identity-default@my-project.iam.gserviceaccount.com"
        );
    }

    #[test]
    fn longest_env_is_accepted_and_one_more_is_refused() {
        let longest = "a".repeat(MAX_ENV_LEN);
        assert!(Names::derive(&longest).is_ok());
        let err = Names::derive(&format!("{longest}b")).unwrap_err();
        assert!(err.contains("at most 16"), "{err}");
    }

    #[test]
    fn bad_env_names_are_refused_with_a_hint() {
        for bad in ["", "Prod", "1st", "pr_1", "trailing-", "a.b"] {
            let err = Names::derive(bad).unwrap_err();
            assert!(err.contains("environment name"), "{bad}: {err}");
        }
    }

    #[test]
    fn project_rules() {
        assert!(validate_project("my-project-1").is_ok());
        assert!(validate_project("example.com:my-project").is_ok());
        assert!(validate_project("My Project").is_err());
        assert!(validate_project("12345").is_err());
    }

    #[test]
    fn repository_and_bucket_rules() {
        assert!(validate_repository("cloud-run-source-deploy").is_ok());
        assert!(validate_repository("Chat").is_err());
        assert!(validate_repository("chat-").is_err());
        assert!(validate_bucket("my-project_cloudbuild").is_ok());
        assert!(validate_bucket("ab").is_err());
        assert!(validate_bucket("Bucket").is_err());
        assert!(validate_bucket("google-things").is_err());
        assert!(validate_bucket("-x-").is_err());
    }
}
