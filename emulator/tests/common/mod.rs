//! Shared test helpers: start an emulator on a free loopback port and build official Google
//! clients against it (anonymous credentials, fast LRO polling).
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use emulator::{Emulator, EmulatorConfig, EmulatorHandle, NoRuntime};
use google_cloud_auth::credentials::{Credentials, anonymous};
use google_cloud_gax::error::rpc::Code;
use google_cloud_gax::exponential_backoff::{ExponentialBackoff, ExponentialBackoffBuilder};
use serde_json::Value;

/// Fast, anonymous, seeded: what most tests want.
pub fn fast_config() -> EmulatorConfig {
    EmulatorConfig {
        time_scale: 0.001,
        allow_anonymous: true,
        seed: Some(42),
        ..EmulatorConfig::default()
    }
}

pub async fn start(config: EmulatorConfig) -> EmulatorHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free loopback port");
    Emulator::start(listener, config, Arc::new(NoRuntime))
        .await
        .expect("start the emulator")
}

pub fn anonymous() -> Credentials {
    anonymous::Builder::new().build()
}

/// LRO polling every few milliseconds instead of Google's 1 s → 60 s.
pub fn fast_polling() -> ExponentialBackoff {
    ExponentialBackoffBuilder::new()
        .with_initial_delay(Duration::from_millis(5))
        .with_maximum_delay(Duration::from_millis(50))
        .build()
        .expect("valid backoff")
}

/// The status code a client decoded from an error.
pub fn code_of(error: &google_cloud_gax::error::Error) -> Code {
    match error.status() {
        Some(status) => status.code,
        None => panic!("expected a service error with a status, got: {error:?}"),
    }
}

/// The ErrorInfo reason of a service error, if any.
pub fn reason_of(error: &google_cloud_gax::error::Error) -> Option<String> {
    error.status()?.details.iter().find_map(|d| match d {
        google_cloud_gax::error::rpc::StatusDetails::ErrorInfo(info) => Some(info.reason.clone()),
        _ => None,
    })
}

/// A raw HTTP client for the emulator's own endpoints and JSON checks.
pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// Retries `attempt` every 20 ms until it returns `Some`, for at most `limit` (bounded wait
/// for eventually consistent state, as real clients do).
pub async fn eventually<T, F, Fut>(limit: Duration, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "state did not converge within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn iam_client(
    base_url: &str,
    credentials: Credentials,
) -> google_cloud_iam_admin_v1::client::Iam {
    google_cloud_iam_admin_v1::client::Iam::builder()
        .with_endpoint(base_url)
        .with_credentials(credentials)
        .build()
        .await
        .expect("build the IAM client")
}

pub async fn run_client(base_url: &str) -> google_cloud_run_v2::client::Services {
    google_cloud_run_v2::client::Services::builder()
        .with_endpoint(base_url)
        .with_credentials(anonymous())
        .with_polling_backoff_policy(fast_polling())
        .build()
        .await
        .expect("build the Cloud Run client")
}

/// Creates a service account and waits until it is visible (get succeeds).
pub async fn visible_service_account(
    iam: &google_cloud_iam_admin_v1::client::Iam,
    project: &str,
    account_id: &str,
) -> google_cloud_iam_admin_v1::model::ServiceAccount {
    let created = iam
        .create_service_account()
        .set_name(format!("projects/{project}"))
        .set_account_id(account_id)
        .send()
        .await
        .expect("create the service account");
    eventually(Duration::from_secs(10), || async {
        iam.get_service_account()
            .set_name(&created.name)
            .send()
            .await
            .ok()
    })
    .await
}

/// GET `url` and return its body as text.
pub async fn get_text(url: impl reqwest::IntoUrl) -> String {
    http()
        .get(url)
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("a text body")
}

/// GET `url` and parse its JSON body.
pub async fn get_json(url: impl reqwest::IntoUrl) -> serde_json::Value {
    http()
        .get(url)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("a JSON body")
}

/// POST a JSON body to `url`.
pub async fn post_json(url: impl reqwest::IntoUrl, body: &serde_json::Value) -> reqwest::Response {
    http().post(url).json(body).send().await.expect("POST")
}

/// The query check, as Google does it: `method url` (whose query holds only parameters the
/// method takes) is answered without a query error, and the same call with one unknown
/// parameter more is refused with 400 "Cannot bind query parameter" naming it.
pub async fn assert_only_known_query_parameters(method: reqwest::Method, url: &str) {
    let accepted = http()
        .request(method.clone(), url)
        .send()
        .await
        .expect("the emulator answers");
    let status = accepted.status();
    let body = accepted.text().await.unwrap_or_default();
    assert!(
        !body.contains("Cannot bind query parameter"),
        "{method} {url} was refused for its query: {status} {body}"
    );
    let separator = if url.contains('?') { '&' } else { '?' };
    let refused = http()
        .request(method.clone(), format!("{url}{separator}notAParameter=1"))
        .send()
        .await
        .expect("the emulator answers");
    assert_eq!(
        refused.status(),
        400,
        "{method} {url} with an unknown parameter"
    );
    let body: serde_json::Value = refused.json().await.expect("a JSON error");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Unknown name \"notAParameter\": Cannot bind query parameter"),
        "{message}"
    );
}

/// Registers a user; answers its `authorized_user` credentials.
pub async fn user(base: &str, body: Value) -> Value {
    let response = post_json(format!("{base}/_emulator/users"), &body).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// An access token for a registered user (the refresh-token grant, as google-cloud-auth does).
pub async fn token(credentials: &Value) -> String {
    let answer: Value = http()
        .post(credentials["token_uri"].as_str().unwrap())
        .form(&[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                credentials["refresh_token"].as_str().unwrap(),
            ),
            ("client_id", credentials["client_id"].as_str().unwrap()),
            (
                "client_secret",
                credentials["client_secret"].as_str().unwrap(),
            ),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"].as_str().unwrap().to_string()
}

/// `POST /_emulator/projects`: describes a project; (HTTP status, the description or error).
pub async fn describe(base: &str, body: Value) -> (u16, Value) {
    let response = post_json(format!("{base}/_emulator/projects"), &body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A user with `roles` in `project`, signed in: its access token.
pub async fn signed_in(base: &str, project: &str, email: &str, roles: &[&str]) -> String {
    let credentials = user(base, serde_json::json!({ "email": email })).await;
    if !roles.is_empty() {
        grant(base, project, &format!("user:{email}"), roles, None).await;
    }
    token(&credentials).await
}

/// Grants `roles` to `member` in `project` (or in `account`'s own policy) through the control call.
pub async fn grant(base: &str, project: &str, member: &str, roles: &[&str], account: Option<&str>) {
    let mut body = serde_json::json!({ "member": member, "roles": roles });
    if let Some(account) = account {
        body["serviceAccount"] = serde_json::json!(account);
    }
    let response = post_json(format!("{base}/_emulator/projects/{project}/grants"), &body).await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

/// One raw call with an optional bearer: (HTTP status, JSON body).
pub async fn call(
    method: reqwest::Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http().request(method, url);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// GET with an optional bearer: (HTTP status, JSON body).
pub async fn get(url: &str, bearer: Option<&str>) -> (u16, Value) {
    call(reqwest::Method::GET, url, bearer, None).await
}

/// POST a JSON body with an optional bearer: (HTTP status, JSON body).
pub async fn post(url: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
    call(reqwest::Method::POST, url, bearer, Some(body)).await
}
