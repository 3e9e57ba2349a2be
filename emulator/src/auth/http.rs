//! The HTTP half of authentication: `POST /token` (OAuth2: JWT-bearer grant of a
//! service-account key, refresh-token grant of an emulator-issued user), the bearer check every
//! API call passes unless anonymous callers are allowed, and `POST /_emulator/users`.

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Bearer, TOKEN_LIFETIME, Tokens};
use crate::error::ApiError;
use crate::state::Emu;

/// What Google answers for a token it does not accept.
const INVALID_CREDENTIALS: &str = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";

fn unauthenticated(reason: &str, message: &str) -> ApiError {
    ApiError::unauthenticated(message).with_error_info(
        reason,
        "googleapis.com",
        json!({ "method": "", "service": "" }),
    )
}

/// Checks the caller's `Authorization` header; returns the principal (an email) on success.
/// With `allow_anonymous`, any caller passes, and a bearer this emulator accepts still names
/// its principal (projects that enforce IAM judge it).
pub fn authenticate(emu: &Emu, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    if emu.config().allow_anonymous {
        let principal = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(
                |token| match emu.world(|w| w.tokens.check_bearer(&w.iam, token.trim())) {
                    Bearer::Principal(principal) => Some(principal),
                    _ => None,
                },
            );
        return Ok(principal);
    }
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(missing_credentials());
    };
    let invalid = || unauthenticated("ACCESS_TOKEN_TYPE_UNSUPPORTED", INVALID_CREDENTIALS);
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(invalid)?;
    match emu.world(|w| w.tokens.check_bearer(&w.iam, token)) {
        Bearer::Principal(principal) => Ok(Some(principal)),
        Bearer::Expired => Err(unauthenticated("ACCESS_TOKEN_EXPIRED", INVALID_CREDENTIALS)),
        Bearer::Invalid(reason) => {
            tracing::info!(%reason, "rejected a bearer token");
            Err(invalid())
        }
    }
}

/// 401 for a call that carries no credentials.
pub fn missing_credentials() -> ApiError {
    unauthenticated(
        "CREDENTIALS_MISSING",
        "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
    )
}

/// An OAuth2 error response (`{"error":"invalid_grant","error_description":..}`).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// The fields of a token request: form-encoded, or JSON (as google-cloud-auth sends refresh
/// grants). The error is the `invalid_request` description.
fn token_request_fields(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<HashMap<String, String>, &'static str> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return serde_json::from_slice::<HashMap<String, Value>>(body)
            .map(|map| {
                map.into_iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
                    .collect()
            })
            .map_err(|_| "The body is not valid JSON.");
    }
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .map(|pairs| pairs.into_iter().collect())
        .map_err(|_| "The body is not form-encoded.")
}

/// `POST /token`.
pub fn token_endpoint(emu: &Emu, headers: &HeaderMap, body: &[u8]) -> Response {
    let fields = match token_request_fields(headers, body) {
        Ok(fields) => fields,
        Err(description) => {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description);
        }
    };
    let field = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
    let principal = match field("grant_type") {
        "urn:ietf:params:oauth:grant-type:jwt-bearer" => {
            emu.world(|w| Tokens::jwt_grant(&w.iam, field("assertion")))
        }
        "refresh_token" => emu.world(|w| {
            w.tokens.refresh_grant(
                field("refresh_token"),
                field("client_id"),
                field("client_secret"),
            )
        }),
        "" => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter: grant_type",
            );
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
            emu.world(|w| w.tokens.issue(token.clone(), principal));
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
/// whose refresh token this emulator's `/token` accepts. Optional: `quotaProjectId` (written
/// into the file as `quota_project_id`, which google-cloud-auth sends as
/// `x-goog-user-project`) and `customerId` (the user's organisation, for Domain Restricted
/// Sharing).
pub fn register_user(emu: &Emu, body: &[u8]) -> Result<Value, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct NewUser {
        email: String,
        #[serde(default)]
        quota_project_id: Option<String>,
        #[serde(default)]
        customer_id: Option<String>,
    }
    let user: NewUser = crate::json::parse_body(body, &[])?;
    if !user.email.contains('@') {
        return Err(ApiError::invalid_argument("email must be an email address"));
    }
    if let Some(customer) = user.customer_id {
        emu.world(|w| w.tokens.set_customer(&user.email, customer));
    }
    let client_id = format!("{}.apps.googleusercontent.com", emu.random_hex(8));
    let client_secret = emu.random_hex(12);
    let refresh_token = format!("1//emulator-{}", emu.random_hex(24));
    emu.world(|w| {
        w.tokens.register_user(
            refresh_token.clone(),
            user.email,
            client_id.clone(),
            client_secret.clone(),
        )
    });
    let mut credentials = json!({
        "type": "authorized_user",
        "client_id": client_id,
        "client_secret": client_secret,
        "refresh_token": refresh_token,
        "token_uri": format!("{}/token", emu.base_url()),
    });
    if let Some(quota_project) = user.quota_project_id {
        credentials["quota_project_id"] = json!(quota_project);
    }
    Ok(credentials)
}
