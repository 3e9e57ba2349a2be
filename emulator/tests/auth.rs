//! Authentication as Google does it: no token → 401; a user signs in through the refresh-token
//! grant; service-account keys (created by IAM, or generated here and uploaded) sign JWTs that
//! google-cloud-auth sends as bearers, and that the JWT-bearer grant of /token exchanges.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use google_cloud_auth::credentials::{Credentials, service_account, user_account};
use google_cloud_gax::error::rpc::Code;
use google_cloud_redis_v1::client::CloudRedis;
use serde_json::{Value, json};

const PROJECT: &str = "auth-test-proj";

fn secured() -> emulator::EmulatorConfig {
    emulator::EmulatorConfig {
        allow_anonymous: false,
        ..fast_config()
    }
}

async fn redis(base_url: &str, credentials: Credentials) -> CloudRedis {
    CloudRedis::builder()
        .with_endpoint(base_url)
        .with_credentials(credentials)
        .build()
        .await
        .unwrap()
}

async fn list_redis(client: &CloudRedis) -> Result<(), google_cloud_gax::error::Error> {
    client
        .list_instances()
        .set_parent(format!("projects/{PROJECT}/locations/us-central1"))
        .send()
        .await
        .map(|_| ())
}

/// Signs in a user through `/_emulator/users` + the refresh-token grant (google-cloud-auth).
async fn user_credentials(base_url: &str) -> Credentials {
    let authorized_user: Value = post_json(
        format!("{base_url}/_emulator/users"),
        &json!({ "email": "dev@example.com" }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(authorized_user["type"], "authorized_user");
    user_account::Builder::new(authorized_user).build().unwrap()
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let body: Vec<String> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        body.join("\n")
    )
}

/// A throwaway RSA key: (PKCS#8 private PEM, SPKI public PEM).
fn throwaway_key() -> (String, String) {
    let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let private: Pkcs8V1Der = pair.as_der().unwrap();
    let public: PublicKeyX509Der = pair.public_key().as_der().unwrap();
    (
        pem("PRIVATE KEY", private.as_ref()),
        pem("PUBLIC KEY", public.as_ref()),
    )
}

#[tokio::test]
async fn calls_without_credentials_are_unauthenticated() {
    let emu = start(secured()).await;
    let anonymous_client = redis(emu.base_url(), anonymous()).await;
    let error = list_redis(&anonymous_client).await.unwrap_err();
    assert_eq!(code_of(&error), Code::Unauthenticated);
    assert_eq!(reason_of(&error).as_deref(), Some("CREDENTIALS_MISSING"));

    let bogus = http()
        .get(format!(
            "{}/v1/projects/{PROJECT}/locations/us-central1/instances",
            emu.base_url()
        ))
        .bearer_auth("ya29.not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(bogus.status(), 401);

    let user = redis(emu.base_url(), user_credentials(emu.base_url()).await).await;
    list_redis(&user)
        .await
        .expect("a signed-in user is accepted");
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_key_created_by_iam_signs_in_through_google_cloud_auth() {
    let emu = start(secured()).await;
    let iam = iam_client(emu.base_url(), user_credentials(emu.base_url()).await).await;
    let account = visible_service_account(&iam, PROJECT, "deployer").await;
    let key = iam
        .create_service_account_key()
        .set_name(&account.name)
        .send()
        .await
        .unwrap();
    let key_file: Value =
        serde_json::from_slice(&key.private_key_data).expect("a credentials JSON");
    assert_eq!(key_file["client_email"], account.email);
    assert_eq!(key_file["token_uri"], format!("{}/token", emu.base_url()));

    let credentials = service_account::Builder::new(key_file).build().unwrap();
    let client = redis(emu.base_url(), credentials).await;
    list_redis(&client)
        .await
        .expect("the service account's self-signed JWT is accepted");

    let keys = iam
        .list_service_account_keys()
        .set_name(&account.name)
        .send()
        .await
        .unwrap();
    assert_eq!(keys.keys.len(), 1);
    iam.delete_service_account_key()
        .set_name(&keys.keys[0].name)
        .send()
        .await
        .unwrap();
    let revoked = list_redis(&client).await.unwrap_err();
    assert_eq!(code_of(&revoked), Code::Unauthenticated);
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_uploaded_key_signs_in_and_the_jwt_bearer_grant_works() {
    let emu = start(secured()).await;
    let iam = iam_client(emu.base_url(), user_credentials(emu.base_url()).await).await;
    let account = visible_service_account(&iam, PROJECT, "uploader").await;
    let (private_pem, public_pem) = throwaway_key();
    let uploaded = iam
        .upload_service_account_key()
        .set_name(&account.name)
        .set_public_key_data(public_pem.into_bytes())
        .send()
        .await
        .unwrap();
    let key_id = uploaded.name.rsplit('/').next().unwrap().to_string();

    let key_file = json!({
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": key_id,
        "private_key": private_pem,
        "client_email": account.email,
        "token_uri": format!("{}/token", emu.base_url()),
    });
    let credentials = service_account::Builder::new(key_file).build().unwrap();
    list_redis(&redis(emu.base_url(), credentials).await)
        .await
        .expect("a JWT signed with the uploaded key is accepted");

    // The OAuth2 JWT-bearer grant: a signed assertion exchanged for an access token.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        "iss": account.email,
        "scope": "https://www.googleapis.com/auth/cloud-platform",
        "aud": format!("{}/token", emu.base_url()),
        "iat": now,
        "exp": now + 3600,
    });
    let sign = |pem: &str| {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(key_id.clone());
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    };
    let grant = |assertion: String| {
        http()
            .post(format!("{}/token", emu.base_url()))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &assertion),
            ])
            .send()
    };
    let token: Value = grant(sign(&private_pem))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(token["token_type"], "Bearer");
    let access = token["access_token"].as_str().unwrap();
    let ok = http()
        .get(format!(
            "{}/v1/projects/{PROJECT}/locations/us-central1/instances",
            emu.base_url()
        ))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    let (other_private, _) = throwaway_key();
    let forged = grant(sign(&other_private)).await.unwrap();
    assert_eq!(forged.status(), 400);
    let body: Value = forged.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");

    // The request log shows the grants but never the assertions or tokens.
    let log = get_text(format!("{}/_emulator/requests", emu.base_url())).await;
    assert!(log.contains("\"/token\"") && log.contains("<redacted>"));
    assert!(!log.contains(&sign(&private_pem)) && !log.contains(access));
    emu.shutdown().await.unwrap();
}
