//! What a failed call means (absent, taken, conflict, transient, disabled API...) and error
//! messages that say what to do next: the role that is missing, billing, quota, API enablement.

use google_cloud_gax::error::Error as GaxError;
use google_cloud_gax::error::rpc::{Code, StatusDetails};

/// The kinds of failure chatctl reacts to differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    NotFound,
    AlreadyExists,
    /// ABORTED (or FAILED_PRECONDITION on an etag): redo the read-modify-write.
    Conflict,
    /// 429 rate limits, 500, 502, 503, 504, network errors: retry with backoff.
    Transient,
    /// The API is (still) disabled for the project.
    ServiceDisabled,
    /// A new service account is not visible yet (eventual consistency).
    AccountNotVisible,
    Other,
}

/// The `consumer` of a SERVICE_DISABLED error (`projects/NUMBER`): the project the call was
/// checked against, which is the quota project, not always the target.
pub fn error_consumer(status: &google_cloud_gax::error::rpc::Status) -> Option<&str> {
    status.details.iter().find_map(|d| match d {
        StatusDetails::ErrorInfo(info) => info.metadata.get("consumer").map(String::as_str),
        _ => None,
    })
}

/// The `service` of a SERVICE_DISABLED error, e.g. `storage.googleapis.com`.
fn error_service(status: &google_cloud_gax::error::rpc::Status) -> Option<&str> {
    status.details.iter().find_map(|d| match d {
        StatusDetails::ErrorInfo(info) => info.metadata.get("service").map(String::as_str),
        _ => None,
    })
}

fn error_reason(status: &google_cloud_gax::error::rpc::Status) -> Option<&str> {
    status.details.iter().find_map(|d| match d {
        StatusDetails::ErrorInfo(info) => Some(info.reason.as_str()),
        _ => None,
    })
}

/// Classifies an error returned by one of the clients.
pub fn classify(err: &GaxError) -> Kind {
    if err.is_io() || err.is_connect() || err.is_timeout() || err.is_transport() {
        return Kind::Transient;
    }
    if let Some(status) = err.status() {
        let reason = error_reason(status).unwrap_or_default();
        return match status.code {
            Code::NotFound => Kind::NotFound,
            Code::AlreadyExists => Kind::AlreadyExists,
            Code::Aborted => Kind::Conflict,
            // An etag conflict on setIamPolicy may come back so too (google-cloud-rust's
            // optimistic-concurrency sample retries both).
            Code::FailedPrecondition if is_etag_conflict(&status.message) => Kind::Conflict,
            // Service Usage: another enable or disable of the project's services is running.
            Code::FailedPrecondition if is_operation_in_progress(&status.message) => {
                Kind::Transient
            }
            Code::Unavailable | Code::Internal | Code::DeadlineExceeded => Kind::Transient,
            Code::ResourceExhausted if is_rate_limit(reason, &status.message) => Kind::Transient,
            // `accessNotConfigured`: the same, in the older JSON APIs' `errors` list (Storage).
            Code::PermissionDenied
                if reason == "SERVICE_DISABLED" || reason == "accessNotConfigured" =>
            {
                Kind::ServiceDisabled
            }
            Code::InvalidArgument | Code::PermissionDenied
                if mentions_missing_account(&status.message) =>
            {
                Kind::AccountNotVisible
            }
            // Compute Engine's legacy error body has no status: its code is the HTTP one
            // (an insert of a name in use answers 409 `alreadyExists`).
            Code::Unknown => match err.http_status_code() {
                Some(429 | 500 | 502 | 503 | 504) => Kind::Transient,
                Some(404) => Kind::NotFound,
                Some(409) => Kind::AlreadyExists,
                _ => Kind::Other,
            },
            _ => Kind::Other,
        };
    }
    match err.http_status_code() {
        Some(429 | 500 | 502 | 503 | 504) => Kind::Transient,
        Some(404) => Kind::NotFound,
        Some(409) => Kind::AlreadyExists,
        _ => Kind::Other,
    }
}

/// 429s that pass with time (requests per minute) rather than a quota on resources.
fn is_rate_limit(reason: &str, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    reason.eq_ignore_ascii_case("RATE_LIMIT_EXCEEDED")
        || reason == "rateLimitExceeded"
        || m.contains("per minute")
        || m.contains("per second")
        || m.contains("rate limit")
        || (reason.is_empty() && !m.contains("quota"))
}

fn is_etag_conflict(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("precondition check failed") || m.contains("etag")
}

fn is_operation_in_progress(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("another activation or deactivation is in progress") || m.contains("160009")
}

fn mentions_missing_account(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("service account") && (m.contains("does not exist") || m.contains("not found"))
}

/// What the caller was doing, for messages and hints.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// e.g. "create Redis instance chat-pr-1".
    pub what: &'a str,
    /// The predefined role that grants this call, e.g. "roles/redis.admin".
    pub role: &'a str,
    pub project: &'a str,
    /// GOOGLE_CLOUD_QUOTA_PROJECT, when it names a project other than the target.
    pub quota_project: Option<&'a str>,
}

/// Turns a client error into a message that names what to do next.
pub fn explain(err: GaxError, call: Call<'_>) -> anyhow::Error {
    let Some(status) = err.status() else {
        return anyhow::anyhow!("{} failed: {err}", call.what);
    };
    let reason = error_reason(status).unwrap_or_default();
    let message = status.message.trim();
    let hint = match error_consumer(status) {
        Some(consumer) if reason == "SERVICE_DISABLED" && call.quota_project.is_some() => {
            let quota = call.quota_project.unwrap_or_default();
            let service = error_service(status).unwrap_or("<api>");
            Some(format!(
                "{service} is disabled in {quota} ({consumer}), the project GOOGLE_CLOUD_QUOTA_PROJECT \
                 names, which these calls are checked and billed against; chatctl enables APIs \
                 only in the target project {}: enable it there (`gcloud services enable \
                 {service} --project {quota}`) or unset GOOGLE_CLOUD_QUOTA_PROJECT",
                call.project
            ))
        }
        Some(consumer) if reason == "SERVICE_DISABLED" => Some(format!(
            "the API is disabled for {consumer}, the project these calls are checked and billed \
             against (the target project {}, unless GOOGLE_CLOUD_QUOTA_PROJECT names another): \
             `chatctl up` enables what it needs in the target project; for another quota project, \
             enable the API there or unset GOOGLE_CLOUD_QUOTA_PROJECT",
            call.project
        )),
        _ => hint(status.code, reason, message, call),
    };
    anyhow::anyhow!(
        "{} failed: {} ({:?}{}){}",
        call.what,
        message,
        status.code,
        if reason.is_empty() {
            String::new()
        } else {
            format!(", {reason}")
        },
        hint.map(|h| format!("\n  → {h}")).unwrap_or_default()
    )
}

/// Same, for the error of a finished long-running operation (google.rpc.Status with a number).
pub fn explain_operation(
    code: i32,
    message: &str,
    operation: &str,
    call: Call<'_>,
) -> anyhow::Error {
    let code = Code::from(code);
    let hint = hint(code, "", message, call);
    anyhow::anyhow!(
        "{} failed in operation {operation}: {message} ({code:?}){}",
        call.what,
        hint.map(|h| format!("\n  → {h}")).unwrap_or_default()
    )
}

fn hint(code: Code, reason: &str, message: &str, call: Call<'_>) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    let project = call.project;
    if reason == "BILLING_DISABLED" || lower.contains("billing") {
        return Some(format!(
            "billing is disabled for project {project}: link a billing account \
             (https://console.cloud.google.com/billing/linkedaccount?project={project}), then rerun"
        ));
    }
    if reason == "SERVICE_DISABLED" || reason == "accessNotConfigured" {
        return Some(format!(
            "the API is disabled in project {project}: `chatctl up` enables what it needs; if you \
             may not enable APIs, ask a project owner to run \
             `gcloud services enable <api> --project {project}`"
        ));
    }
    if message.contains("constraints/gcp.resourceLocations") {
        return Some(format!(
            "an organisation policy (constraints/gcp.resourceLocations) does not allow this \
             region in project {project}: run `chatctl down` with the same --region to remove \
             what was created, then `chatctl up --region` with an allowed one (`chatctl doctor` \
             lists them to callers with {}), or ask an organisation policy administrator to \
             allow the region",
            super::orgpolicy::VIEWER
        ));
    }
    match code {
        Code::PermissionDenied => Some(format!(
            "your credentials lack a permission for this: ask for {} on project {project} \
             (check the account with `gcloud auth list`)",
            call.role
        )),
        Code::ResourceExhausted => Some(format!(
            "a quota is exhausted: see https://console.cloud.google.com/iam-admin/quotas?project={project} \
             and request more, or remove unused environments with `chatctl down --env NAME`"
        )),
        Code::Unauthenticated => Some(
            "the credentials were refused: run `gcloud auth application-default login` again"
                .to_string(),
        ),
        Code::InvalidArgument if lower.contains("cidr") || lower.contains("ip range") => Some(
            "pick another /28 with --connector-range (or `auto`) that overlaps no subnet or \
             connector in the network"
                .to_string(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use google_cloud_gax::error::rpc::Status;

    fn service_error(code: Code, message: &str) -> GaxError {
        GaxError::service(Status::default().set_code(code).set_message(message))
    }

    #[test]
    fn codes_map_to_the_reaction_chatctl_takes() {
        assert_eq!(
            classify(&service_error(Code::NotFound, "gone")),
            Kind::NotFound
        );
        assert_eq!(
            classify(&service_error(Code::Aborted, "etag")),
            Kind::Conflict
        );
        assert_eq!(
            classify(&service_error(Code::Unavailable, "x")),
            Kind::Transient
        );
        assert_eq!(
            classify(&service_error(
                Code::ResourceExhausted,
                "Rate limit exceeded"
            )),
            Kind::Transient
        );
        assert_eq!(
            classify(&service_error(
                Code::ResourceExhausted,
                "Quota exceeded for CPUs"
            )),
            Kind::Other
        );
        assert_eq!(
            classify(&service_error(
                Code::InvalidArgument,
                "Service account chat-identity-x@p.iam.gserviceaccount.com does not exist."
            )),
            Kind::AccountNotVisible
        );
        assert_eq!(
            classify(&service_error(
                Code::FailedPrecondition,
                "Precondition check failed."
            )),
            Kind::Conflict
        );
        assert_eq!(
            classify(&service_error(
                Code::FailedPrecondition,
                "Another activation or deactivation is in progress."
            )),
            Kind::Transient
        );
        // An org policy's refusal is final.
        assert_eq!(
            classify(&service_error(
                Code::FailedPrecondition,
                "One or more users named in the policy do not belong to a permitted customer."
            )),
            Kind::Other
        );
    }

    #[test]
    fn permission_errors_name_the_role() {
        let call = Call {
            what: "create Redis instance chat-x",
            role: "roles/redis.admin",
            project: "p-123456",
            quota_project: None,
        };
        let msg = explain(service_error(Code::PermissionDenied, "denied"), call).to_string();
        assert!(msg.contains("roles/redis.admin"), "{msg}");
        let msg = explain(
            service_error(Code::FailedPrecondition, "Billing account disabled"),
            call,
        )
        .to_string();
        assert!(msg.contains("link a billing account"), "{msg}");
        let msg = explain(
            service_error(
                Code::FailedPrecondition,
                "Location us-central1 violates constraint constraints/gcp.resourceLocations on the resource projects/p-123456/locations/us-central1/instances/chat-x.",
            ),
            call,
        )
        .to_string();
        for part in ["--region", "chatctl doctor", "chatctl down"] {
            assert!(msg.contains(part), "{part}: {msg}");
        }
    }

    #[test]
    fn a_disabled_api_names_the_consumer_it_was_checked_against() {
        // As Google answers it (google-cloud-gax parses the JSON error body so).
        let body = bytes::Bytes::from_static(
            br#"{"error": {"code": 403, "status": "PERMISSION_DENIED",
                "message": "Cloud Memorystore for Redis API has not been used in project 764086051850",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "SERVICE_DISABLED", "domain": "googleapis.com",
                    "metadata": {"consumer": "projects/764086051850"}}]}}"#,
        );
        let status = Status::try_from(&body).expect("a Google error body");
        let call = Call {
            what: "read Redis instance chat-x",
            role: "roles/redis.admin",
            project: "p-123456",
            quota_project: None,
        };
        let msg = explain(GaxError::service(status), call).to_string();
        for part in [
            "projects/764086051850",
            "p-123456",
            "GOOGLE_CLOUD_QUOTA_PROJECT",
        ] {
            assert!(msg.contains(part), "{part}: {msg}");
        }
    }
}
