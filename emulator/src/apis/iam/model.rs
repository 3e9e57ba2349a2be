//! Service accounts and their keys: ID rules, the visibility window after creation, lookup by
//! email or unique ID.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::ApiError;
use crate::policy::Policy;

/// How long a new service account stays invisible (IAM docs: "60 seconds or more"), scaled.
pub const VISIBILITY_LAG: Duration = Duration::from_secs(60);

/// A service account as stored.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccount {
    pub name: String,
    pub project_id: String,
    pub unique_id: String,
    pub email: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub etag: String,
    pub oauth2_client_id: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    #[serde(skip)]
    pub visible_at: Instant,
    #[serde(skip)]
    pub keys: Vec<Key>,
    /// The account's own IAM policy (who may act as it, manage it).
    #[serde(skip)]
    pub policy: Policy,
}

/// A key: only its public half is kept.
#[derive(Clone, Debug)]
pub struct Key {
    pub id: String,
    pub public_key_pem: String,
    /// `USER_PROVIDED` (uploaded) or `GOOGLE_PROVIDED` (created here).
    pub origin: &'static str,
    pub valid_after: String,
}

/// Google allows 10 user-managed keys per service account.
pub const MAX_KEYS: usize = 10;

impl Key {
    /// The ServiceAccountKey JSON (no key material).
    pub fn to_json(&self, account_name: &str) -> serde_json::Value {
        serde_json::json!({
            "name": format!("{account_name}/keys/{}", self.id),
            "validAfterTime": self.valid_after,
            "validBeforeTime": "9999-12-31T23:59:59Z",
            "keyAlgorithm": "KEY_ALG_RSA_2048",
            "keyOrigin": self.origin,
            "keyType": "USER_MANAGED",
        })
    }
}

impl ServiceAccount {
    /// Adds a key, enforcing the per-account limit.
    pub fn add_key(&mut self, key: Key) -> Result<(), ApiError> {
        if self.keys.len() >= MAX_KEYS {
            return Err(ApiError::failed_precondition(format!(
                "Precondition check failed: service account {} already has {MAX_KEYS} keys; delete one first.",
                self.email
            )));
        }
        self.keys.push(key);
        Ok(())
    }
}

/// Service accounts by email.
#[derive(Default, Serialize)]
pub struct Store {
    accounts: BTreeMap<String, ServiceAccount>,
}

impl Store {
    /// Whether the account exists and its creation has propagated.
    pub fn is_visible_email(&self, email: &str) -> bool {
        self.accounts
            .get(email)
            .is_some_and(|a| Instant::now() >= a.visible_at)
    }

    /// The IAM policy of an existing account (visible or not: the policy is the account's).
    pub fn policy_of(&self, email: &str) -> Option<&Policy> {
        self.accounts.get(email).map(|a| &a.policy)
    }

    /// The PEM public key of key `kid` of a visible account.
    pub fn public_key_pem(&self, email: &str, kid: &str) -> Option<String> {
        let account = self
            .accounts
            .get(email)
            .filter(|_| self.is_visible_email(email))?;
        account
            .keys
            .iter()
            .find(|k| k.id == kid)
            .map(|k| k.public_key_pem.clone())
    }

    /// Records a new account; ALREADY_EXISTS even while the existing one is still invisible.
    pub fn create(&mut self, account: ServiceAccount) -> Result<ServiceAccount, ApiError> {
        if self.accounts.contains_key(&account.email) {
            let id = account.email.split('@').next().unwrap_or_default();
            return Err(ApiError::already_exists(format!(
                "Service account {id} already exists within project projects/{}.",
                account.project_id
            )));
        }
        self.accounts.insert(account.email.clone(), account.clone());
        Ok(account)
    }

    /// Looks an account up by email or unique ID, as the caller sees it now (invisible
    /// accounts are absent). `project` `-` means any project.
    pub fn find(&self, project: &str, email_or_id: &str) -> Option<&ServiceAccount> {
        self.accounts
            .values()
            .filter(|a| project == "-" || a.project_id == project)
            .filter(|a| Instant::now() >= a.visible_at)
            .find(|a| a.email == email_or_id || a.unique_id == email_or_id)
    }

    pub fn find_mut(&mut self, project: &str, email_or_id: &str) -> Option<&mut ServiceAccount> {
        self.accounts
            .values_mut()
            .filter(|a| project == "-" || a.project_id == project)
            .filter(|a| Instant::now() >= a.visible_at)
            .find(|a| a.email == email_or_id || a.unique_id == email_or_id)
    }

    /// An account by email, visible or not (control calls).
    pub fn find_mut_any(&mut self, email: &str) -> Option<&mut ServiceAccount> {
        self.accounts.get_mut(email)
    }

    /// Visible accounts of a project, by email.
    pub fn list(&self, project: &str) -> Vec<ServiceAccount> {
        self.accounts
            .values()
            .filter(|a| a.project_id == project && Instant::now() >= a.visible_at)
            .cloned()
            .collect()
    }

    pub fn remove(&mut self, email: &str) -> Option<ServiceAccount> {
        self.accounts.remove(email)
    }
}
