//! How an emulator is started: time scale, authentication, randomness, API enablement, faults.

use serde::{Deserialize, Serialize};

use crate::error::Code;

/// Settings of one emulator instance. `Default` is the cloud's own pace with no shortcuts.
#[derive(Clone, Debug)]
pub struct EmulatorConfig {
    /// Multiplies every modelled latency and consistency window (1.0 = real time; tests use
    /// 0.001–0.01).
    pub time_scale: f64,
    /// Accept calls without (or with any) bearer token.
    pub allow_anonymous: bool,
    /// Seeds the random generator (fault injection, generated IDs) for reproducible runs.
    pub seed: Option<u64>,
    /// Every API except Service Usage starts disabled in each project until enabled.
    pub enforce_api_enablement: bool,
    /// Faults active from the start (also settable through `POST /_emulator/faults`).
    pub faults: FaultConfig,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            time_scale: 1.0,
            allow_anonymous: false,
            seed: None,
            enforce_api_enablement: false,
            faults: FaultConfig::default(),
        }
    }
}

/// Injected failures and delays. The JSON form is what `POST /_emulator/faults` takes, e.g.
/// `{"errorRate":0.1,"errorCodes":[429,503],"latencyMs":50,"scripted":[{"method":"setIamPolicy","status":"ABORTED"}]}`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct FaultConfig {
    /// Probability (0..=1) that an API call fails with one of `error_codes` before it runs.
    pub error_rate: f64,
    /// HTTP codes drawn from for random failures: 429, 500 and/or 503 (default: all three).
    pub error_codes: Vec<u16>,
    /// Added to every API call, in real milliseconds (not scaled).
    pub latency_ms: u64,
    /// One-shot failures, consumed in order by the first matching call.
    pub scripted: Vec<ScriptedFault>,
}

/// "Fail the next call of `method` with `status`".
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScriptedFault {
    /// A discovery method id (`cloudresourcemanager.projects.setIamPolicy`) or its last
    /// part(s) (`setIamPolicy`, `instances.create`).
    pub method: String,
    /// The status to answer, e.g. `ABORTED`.
    pub status: Code,
    /// The error message; a generic one when absent.
    #[serde(default)]
    pub message: Option<String>,
    /// How many matching calls fail (default 1).
    #[serde(default = "one")]
    pub times: u32,
    /// The call runs, and then its answer is lost: the client gets the error although the
    /// create (say) happened, as when Google answers 503 after acting. Default: it fails
    /// before it runs.
    #[serde(default)]
    pub after: bool,
}

fn one() -> u32 {
    1
}
