//! Authentication's store and rules: issued access tokens, registered users (refresh-token
//! grant) and the verification of service-account JWTs. The HTTP half (`POST /token`, the bearer
//! check every API call passes unless anonymous callers are allowed, `POST /_emulator/users`) is
//! in `auth/http.rs`.
//!
//! Accepted bearers: access tokens issued by `/token`, and self-signed service-account JWTs
//! (what google-cloud-auth's `service_account` credentials send). Either way the JWT's `iss` must
//! be a visible service account of an emulated project and its RS256 signature must verify
//! against the public key of the key named by `kid`, registered through IAM
//! `serviceAccounts.keys.upload` or created by `serviceAccounts.keys.create`.

pub mod http;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::apis::iam::model::Store as ServiceAccounts;

/// Lifetime of issued access tokens (Google's: 3599 s). Real time, not scaled.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3599);
/// Longest JWT lifetime Google accepts.
const MAX_JWT_LIFETIME: u64 = 3600;
/// Clock skew tolerated on `iat`/`exp`.
const LEEWAY: u64 = 300;

/// Issued access tokens and registered user refresh tokens.
#[derive(Default)]
pub struct Tokens {
    access: HashMap<String, Issued>,
    users: HashMap<String, User>,
    /// The customer (Workspace / Cloud Identity account, `C0...`) of registered users, for
    /// Domain Restricted Sharing.
    customers: HashMap<String, String>,
}

struct Issued {
    principal: String,
    expires_at: SystemTime,
}

/// An authorized user (refresh-token grant), registered through `POST /_emulator/users`.
#[derive(Clone)]
struct User {
    email: String,
    client_id: String,
    client_secret: String,
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: Option<String>,
    aud: Option<String>,
    scope: Option<String>,
    iat: Option<u64>,
    exp: u64,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Verifies a service-account JWT against the registered key named by its `kid`.
/// Returns the claims; the error text says what is wrong (never the token itself).
fn verify_jwt(accounts: &ServiceAccounts, token: &str) -> Result<Claims, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("Invalid JWT: {e}"))?;
    if header.alg != Algorithm::RS256 {
        return Err(format!(
            "Invalid JWT: unsupported algorithm {:?}; use RS256",
            header.alg
        ));
    }
    let payload = token
        .split('.')
        .nth(1)
        .ok_or("Invalid JWT: not three segments")?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| "Invalid JWT: the claims are not base64url".to_string())?;
    let claims: Claims =
        serde_json::from_slice(&bytes).map_err(|e| format!("Invalid JWT claims: {e}"))?;
    if !accounts.is_visible_email(&claims.iss) {
        return Err(format!(
            "Invalid JWT: no service account {} exists in the emulated projects",
            claims.iss
        ));
    }
    let kid = header
        .kid
        .ok_or("Invalid JWT: the header has no kid (private_key_id)")?;
    let pem = accounts.public_key_pem(&claims.iss, &kid).ok_or_else(|| {
        format!(
            "Invalid JWT Signature: key {kid} is not a key of {}",
            claims.iss
        )
    })?;
    let key = DecodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|e| format!("stored key {kid} is unusable: {e}"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_aud = false;
    validation.leeway = LEEWAY;
    validation.set_required_spec_claims(&["exp", "iss"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.".to_string(),
        _ => "Invalid JWT Signature.".to_string(),
    })?;
    if let Some(iat) = claims.iat
        && (claims.exp.saturating_sub(iat) > MAX_JWT_LIFETIME + LEEWAY || iat > now_secs() + LEEWAY)
    {
        return Err("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.".to_string());
    }
    Ok(claims)
}

/// What a bearer token is worth.
pub enum Bearer {
    /// A valid token of this principal (an email).
    Principal(String),
    /// An access token this emulator issued, now expired.
    Expired,
    /// Not a token this emulator accepts; the reason is for the log, never the token itself.
    Invalid(String),
}

impl Tokens {
    /// Checks a bearer: an access token issued by `/token`, or a self-signed service-account
    /// JWT (with a `scope` or an `aud`, and no `sub` other than its `iss`).
    pub fn check_bearer(&self, accounts: &ServiceAccounts, token: &str) -> Bearer {
        if let Some(issued) = self.access.get(token) {
            return if issued.expires_at > SystemTime::now() {
                Bearer::Principal(issued.principal.clone())
            } else {
                Bearer::Expired
            };
        }
        if token.split('.').count() != 3 {
            return Bearer::Invalid("neither an issued access token nor a JWT".to_string());
        }
        let claims = match verify_jwt(accounts, token) {
            Ok(claims) => claims,
            Err(reason) => return Bearer::Invalid(reason),
        };
        let self_signed_ok = claims.sub.as_deref().is_none_or(|s| s == claims.iss)
            && (claims.scope.is_some() || claims.aud.is_some());
        if self_signed_ok {
            Bearer::Principal(claims.iss)
        } else {
            Bearer::Invalid("a JWT for another subject, or with neither scope nor aud".to_string())
        }
    }

    /// The JWT-bearer grant: the principal of a service-account JWT addressed to the token
    /// endpoint with a scope; the error says what is wrong.
    pub fn jwt_grant(accounts: &ServiceAccounts, assertion: &str) -> Result<String, String> {
        let claims = verify_jwt(accounts, assertion)?;
        if !claims.aud.as_deref().is_some_and(|a| a.ends_with("/token")) {
            return Err("Invalid JWT: the aud claim must be the token endpoint URL".to_string());
        }
        if claims.scope.as_deref().is_none_or(str::is_empty) {
            return Err(
                "Invalid JWT: no scope claim (e.g. https://www.googleapis.com/auth/cloud-platform)"
                    .to_string(),
            );
        }
        Ok(claims.iss)
    }

    /// The refresh-token grant: the email of the user the refresh token was issued to.
    pub fn refresh_grant(
        &self,
        refresh_token: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Result<String, String> {
        match self.users.get(refresh_token) {
            Some(user) if user.client_id == client_id && user.client_secret == client_secret => {
                Ok(user.email.clone())
            }
            Some(_) => Err("The OAuth client was not found.".to_string()),
            None => Err("Token has been expired or revoked.".to_string()),
        }
    }

    /// Records a new access token of `principal`, valid for [`TOKEN_LIFETIME`].
    pub fn issue(&mut self, token: String, principal: String) {
        self.access.insert(
            token,
            Issued {
                principal,
                expires_at: SystemTime::now() + TOKEN_LIFETIME,
            },
        );
    }

    /// The customer ID a user was registered with, if any.
    pub fn customer_of(&self, email: &str) -> Option<&str> {
        self.customers.get(email).map(String::as_str)
    }

    /// Records the customer a user belongs to.
    pub fn set_customer(&mut self, email: &str, customer: String) {
        self.customers.insert(email.to_string(), customer);
    }

    /// Registers a user whose refresh token the refresh grant then accepts.
    pub fn register_user(
        &mut self,
        refresh_token: String,
        email: String,
        client_id: String,
        client_secret: String,
    ) {
        self.users.insert(
            refresh_token,
            User {
                email,
                client_id,
                client_secret,
            },
        );
    }
}
