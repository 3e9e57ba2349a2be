//! Authentication: the OAuth2 token endpoint (`POST /token`: JWT-bearer grant of a
//! service-account key, refresh-token grant of an emulator-issued user) and the bearer check
//! every API call passes unless anonymous callers are allowed.
//!
//! Accepted bearers: access tokens issued by `/token`, and self-signed service-account JWTs
//! (what google-cloud-auth's `service_account` credentials send). Either way the JWT's `iss` must
//! be a visible service account of an emulated project and its RS256 signature must verify
//! against the public key of the key named by `kid`, registered through IAM
//! `serviceAccounts.keys.upload` or created by `serviceAccounts.keys.create`.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::Emu;
use crate::world::World;

/// Lifetime of issued access tokens (Google's: 3599 s). Real time, not scaled.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3599);
/// Longest JWT lifetime Google accepts.
const MAX_JWT_LIFETIME: u64 = 3600;
/// Clock skew tolerated on `iat`/`exp`.
const LEEWAY: u64 = 300;

/// Issued access tokens and registered user refresh tokens.
#[derive(Default)]
pub struct Tokens {
    access: HashMap<String, Issued>,
    users: HashMap<String, User>,
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
fn verify_jwt(world: &World, token: &str) -> Result<Claims, String> {
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
    if !world.iam.is_visible_email(&claims.iss) {
        return Err(format!(
            "Invalid JWT: no service account {} exists in the emulated projects",
            claims.iss
        ));
    }
    let kid = header
        .kid
        .ok_or("Invalid JWT: the header has no kid (private_key_id)")?;
    let pem = world.iam.public_key_pem(&claims.iss, &kid).ok_or_else(|| {
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

fn unauthenticated(reason: &str, message: &str) -> ApiError {
    ApiError::unauthenticated(message).with_error_info(
        reason,
        "googleapis.com",
        json!({ "method": "", "service": "" }),
    )
}

/// Checks the caller's `Authorization` header; returns the principal (an email) on success.
/// With `allow_anonymous`, any caller passes.
pub fn authenticate(emu: &Emu, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    if emu.config().allow_anonymous {
        return Ok(None);
    }
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthenticated(
            "CREDENTIALS_MISSING",
            "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        ));
    };
    let invalid = || {
        unauthenticated(
            "ACCESS_TOKEN_TYPE_UNSUPPORTED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        )
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(invalid)?;
    emu.world(|w| {
        if let Some(issued) = w.tokens.access.get(token) {
            return if issued.expires_at > SystemTime::now() {
                Ok(Some(issued.principal.clone()))
            } else {
                Err(unauthenticated(
                    "ACCESS_TOKEN_EXPIRED",
                    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
                ))
            };
        }
        if token.split('.').count() != 3 {
            return Err(invalid());
        }
        let claims = verify_jwt(w, token).map_err(|reason| {
            tracing::info!(%reason, "rejected a bearer JWT");
            invalid()
        })?;
        let self_signed_ok = claims.sub.as_deref().is_none_or(|s| s == claims.iss)
            && (claims.scope.is_some() || claims.aud.is_some());
        if self_signed_ok {
            Ok(Some(claims.iss))
        } else {
            Err(invalid())
        }
    })
}

/// An OAuth2 error response (`{"error":"invalid_grant","error_description":..}`).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// `POST /token`: form-encoded (or JSON, as google-cloud-auth sends refresh grants).
pub fn token_endpoint(emu: &Emu, headers: &HeaderMap, body: &[u8]) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let fields: HashMap<String, String> = if is_json {
        match serde_json::from_slice::<HashMap<String, Value>>(body) {
            Ok(map) => map
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
                .collect(),
            Err(_) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The body is not valid JSON.",
                );
            }
        }
    } else {
        match serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) {
            Ok(pairs) => pairs.into_iter().collect(),
            Err(_) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "The body is not form-encoded.",
                );
            }
        }
    };
    let field = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
    let principal = match field("grant_type") {
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => emu.world(|w| {
            let claims = verify_jwt(w, field("assertion"))?;
            if !claims.aud.as_deref().is_some_and(|a| a.ends_with("/token")) {
                return Err("Invalid JWT: the aud claim must be the token endpoint URL".to_string());
            }
            if claims.scope.as_deref().is_none_or(str::is_empty) {
                return Err("Invalid JWT: no scope claim (e.g. https://www.googleapis.com/auth/cloud-platform)".to_string());
            }
            Ok(claims.iss)
        }),
        "refresh_token" => emu.world(|w| match w.tokens.users.get(field("refresh_token")) {
            Some(user)
                if user.client_id == field("client_id")
                    && user.client_secret == field("client_secret") =>
            {
                Ok(user.email.clone())
            }
            Some(_) => Err("The OAuth client was not found.".to_string()),
            None => Err("Token has been expired or revoked.".to_string()),
        }),
        "" => {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "Missing required parameter: grant_type");
        }
        other => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("Invalid grant_type: {other}"),
            );
        }
    };
    match principal {
        Ok(principal) => {
            let token = format!("ya29.emulator-{}", emu.random_hex(24));
            emu.world(|w| {
                w.tokens.access.insert(
                    token.clone(),
                    Issued {
                        principal,
                        expires_at: SystemTime::now() + TOKEN_LIFETIME,
                    },
                )
            });
            axum::Json(json!({
                "access_token": token,
                "expires_in": TOKEN_LIFETIME.as_secs(),
                "token_type": "Bearer",
                "scope": "https://www.googleapis.com/auth/cloud-platform",
            }))
            .into_response()
        }
        Err(description) => oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", &description),
    }
}

/// `POST /_emulator/users {"email":"dev@example.com"}`: registers a user and answers an
/// `authorized_user` credentials file (what `gcloud auth application-default login` writes)
/// whose refresh token this emulator's `/token` accepts.
pub fn register_user(emu: &Emu, body: &[u8]) -> Result<Value, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct NewUser {
        email: String,
    }
    let user: NewUser = crate::json::parse_body(body, &[])?;
    if !user.email.contains('@') {
        return Err(ApiError::invalid_argument("email must be an email address"));
    }
    let client_id = format!("{}.apps.googleusercontent.com", emu.random_hex(8));
    let client_secret = emu.random_hex(12);
    let refresh_token = format!("1//emulator-{}", emu.random_hex(24));
    emu.world(|w| {
        w.tokens.users.insert(
            refresh_token.clone(),
            User {
                email: user.email.clone(),
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
            },
        )
    });
    Ok(json!({
        "type": "authorized_user",
        "client_id": client_id,
        "client_secret": client_secret,
        "refresh_token": refresh_token,
        "token_uri": format!("{}/token", emu.base_url()),
    }))
}
