//! Log entries and Logging's rules: `entries.write` (the request's logName, resource and labels
//! copied into entries that lack them, logName and resource required, timestamps and insert IDs
//! assigned) and `entries.list` (resourceNames required, the filter of `filter.rs`, orderBy
//! `timestamp asc|desc`, pageSize 50 by default and at most 1000, page tokens). Entries are kept
//! up to a cap per emulator, oldest dropped first, as retention would.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::filter::{self, Filter};
use crate::error::ApiError;

/// Entries kept (the oldest go first).
const MAX_ENTRIES: usize = 100_000;
/// entries.list's page size when none is asked for, and the most it returns.
const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 1000;

/// google.logging.type.MonitoredResource.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct MonitoredResource {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl MonitoredResource {
    /// A resource of `kind` with `labels`.
    pub fn new(kind: &str, labels: &[(&str, &str)]) -> Self {
        MonitoredResource {
            kind: kind.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

/// google.logging.v2.LogEntry, every field of discovery's schema.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LogEntry {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub log_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<MonitoredResource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receive_timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub insert_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_request: Option<Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_payload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_payload: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proto_payload: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub trace: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub span_id: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub trace_sampled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_location: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otel: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apphub: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apphub_destination: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apphub_source: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error_groups: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

impl LogEntry {
    /// A text entry of `resource` in `projects/PROJECT/logs/LOG` (LOG URL-encoded, as
    /// `run.googleapis.com%2Fstdout`).
    pub fn text(
        project: &str,
        log: &str,
        resource: MonitoredResource,
        severity: &str,
        text: &str,
    ) -> Self {
        LogEntry {
            log_name: format!("projects/{project}/logs/{}", log.replace('/', "%2F")),
            resource: Some(resource),
            severity: Some(severity.to_string()),
            text_payload: Some(text.to_string()),
            ..LogEntry::default()
        }
    }

    /// The project of its logName (`projects/P/logs/L`).
    pub fn project(&self) -> Option<&str> {
        project_of_log(&self.log_name)
    }
}

/// The monitored resource of a Cloud Run revision's entries (`cloud_run_revision`).
pub fn revision_resource(
    project: &str,
    location: &str,
    service: &str,
    revision: &str,
) -> MonitoredResource {
    MonitoredResource::new(
        "cloud_run_revision",
        &[
            ("configuration_name", service),
            ("location", location),
            ("project_id", project),
            ("revision_name", revision),
            ("service_name", service),
        ],
    )
}

/// The monitored resource of a Cloud Build build's entries (`build`), in log `cloudbuild`.
pub fn build_resource(project: &str, build_id: &str) -> MonitoredResource {
    MonitoredResource::new(
        "build",
        &[
            ("build_id", build_id),
            ("build_trigger_id", ""),
            ("project_id", project),
        ],
    )
}

fn project_of_log(log_name: &str) -> Option<&str> {
    let rest = log_name.strip_prefix("projects/")?;
    let (project, log) = rest.split_once("/logs/")?;
    (!project.is_empty() && !log.is_empty() && !project.contains('/')).then_some(project)
}

/// google.logging.v2.WriteLogEntriesRequest.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct WriteRequest {
    pub log_name: String,
    pub resource: Option<MonitoredResource>,
    pub labels: BTreeMap<String, String>,
    pub entries: Vec<LogEntry>,
    pub partial_success: bool,
    pub dry_run: bool,
}

impl WriteRequest {
    /// Its entries with the request's defaults applied, checked: each needs a logName of a
    /// project and a resource. Returns them with their projects.
    pub fn complete(self) -> Result<Vec<LogEntry>, ApiError> {
        if self.entries.is_empty() {
            return Err(ApiError::invalid_argument(
                "At least one log entry must be provided.",
            ));
        }
        let mut entries = Vec::with_capacity(self.entries.len());
        for (i, mut entry) in self.entries.into_iter().enumerate() {
            if entry.log_name.is_empty() {
                entry.log_name = self.log_name.clone();
            }
            if entry.resource.is_none() {
                entry.resource = self.resource.clone();
            }
            for (key, value) in &self.labels {
                entry
                    .labels
                    .entry(key.clone())
                    .or_insert_with(|| value.clone());
            }
            if entry.log_name.is_empty() {
                return Err(ApiError::invalid_argument(format!(
                    "Log entry with index {i} is missing log_name: set it in the entry or the request."
                )));
            }
            if entry.project().is_none() {
                return Err(ApiError::invalid_argument(format!(
                    "Log entry with index {i} has an invalid log_name \"{}\": expected projects/[PROJECT_ID]/logs/[LOG_ID].",
                    entry.log_name
                )));
            }
            if entry.resource.as_ref().is_none_or(|r| r.kind.is_empty()) {
                return Err(ApiError::invalid_argument(format!(
                    "Log entry with index {i} is missing a resource: set it in the entry or the request."
                )));
            }
            if let Some(severity) = &entry.severity
                && filter::severity_rank(severity).is_none()
            {
                return Err(ApiError::invalid_argument(format!(
                    "Invalid value at 'entries[{i}].severity' (type.googleapis.com/google.logging.type.LogSeverity), \"{severity}\""
                )));
            }
            if let Some(ts) = &entry.timestamp
                && ts.parse::<jiff::Timestamp>().is_err()
            {
                return Err(ApiError::invalid_argument(format!(
                    "Invalid value at 'entries[{i}].timestamp' (type.googleapis.com/google.protobuf.Timestamp), Field 'timestamp', Invalid time format: \"{ts}\""
                )));
            }
            entries.push(entry);
        }
        Ok(entries)
    }
}

/// google.logging.v2.ListLogEntriesRequest.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ListRequest {
    pub resource_names: Vec<String>,
    pub project_ids: Vec<String>,
    pub filter: String,
    pub order_by: String,
    pub page_size: i32,
    pub page_token: String,
}

impl ListRequest {
    /// The projects it reads from (`projects/P` resource names, or the deprecated projectIds).
    pub fn projects(&self) -> Result<Vec<String>, ApiError> {
        let mut projects: Vec<String> = self.project_ids.clone();
        for name in &self.resource_names {
            let project = name
                .strip_prefix("projects/")
                .map(|rest| rest.split('/').next().unwrap_or_default())
                .filter(|p| !p.is_empty())
                .ok_or_else(|| {
                    ApiError::invalid_argument(format!(
                        "Invalid resource name \"{name}\": expected projects/[PROJECT_ID]."
                    ))
                })?;
            projects.push(project.to_string());
        }
        if projects.is_empty() {
            return Err(ApiError::invalid_argument(
                "resource_names must not be empty.",
            ));
        }
        projects.sort();
        projects.dedup();
        Ok(projects)
    }
}

/// One page of entries.list.
#[derive(Debug, Default)]
pub struct Page {
    pub entries: Vec<Value>,
    pub next_page_token: Option<String>,
}

/// Every entry written, in the order received.
#[derive(Default, Serialize)]
pub struct Store {
    entries: Vec<LogEntry>,
    #[serde(skip)]
    received: u64,
}

impl Store {
    /// Stores `entries` (already completed), assigning what Logging assigns: the receive time,
    /// the timestamp when absent, an insert ID when absent.
    pub fn write(&mut self, entries: Vec<LogEntry>) {
        let now = crate::json::now_timestamp();
        for mut entry in entries {
            self.received += 1;
            entry.receive_timestamp = Some(now.clone());
            entry.timestamp.get_or_insert_with(|| now.clone());
            if entry.insert_id.is_empty() {
                entry.insert_id = format!("{:016x}", self.received);
            }
            self.entries.push(entry);
        }
        if self.entries.len() > MAX_ENTRIES {
            let extra = self.entries.len() - MAX_ENTRIES;
            self.entries.drain(..extra);
        }
    }

    /// One page of the entries of `projects` that match the request.
    pub fn list(&self, request: &ListRequest, projects: &[String]) -> Result<Page, ApiError> {
        let filter: Filter = filter::parse(&request.filter)?;
        let descending = match request.order_by.trim() {
            "" | "timestamp asc" | "timestamp" => false,
            "timestamp desc" => true,
            other => {
                return Err(ApiError::invalid_argument(format!(
                    "Invalid order_by \"{other}\": only \"timestamp asc\" and \"timestamp desc\" are supported."
                )));
            }
        };
        let size = match request.page_size {
            n if n < 0 => {
                return Err(ApiError::invalid_argument(
                    "page_size must not be negative.",
                ));
            }
            0 => DEFAULT_PAGE_SIZE,
            n => (n as usize).min(MAX_PAGE_SIZE),
        };
        let mut found: Vec<(jiff::Timestamp, usize, Value)> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.project().is_some_and(|p| projects.iter().any(|q| q == p)))
            .filter_map(|(i, e)| {
                let json = serde_json::to_value(e).ok()?;
                let at = e.timestamp.as_deref()?.parse::<jiff::Timestamp>().ok()?;
                filter.matches(&json).then_some((at, i, json))
            })
            .collect();
        found.sort_by_key(|a| (a.0, a.1));
        if descending {
            found.reverse();
        }
        let start = match request.page_token.as_str() {
            "" => 0,
            token => token
                .strip_prefix("o")
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| *n <= found.len())
                .ok_or_else(|| {
                    ApiError::invalid_argument(format!("Invalid page token \"{token}\"."))
                })?,
        };
        let total = found.len();
        let end = (start + size).min(total);
        Ok(Page {
            entries: found.drain(start..end).map(|(_, _, json)| json).collect(),
            next_page_token: (end < total).then(|| format!("o{end}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(n: usize) -> Store {
        let mut store = Store::default();
        let resource = MonitoredResource::new("cloud_run_revision", &[("service_name", "chat")]);
        store.write(
            (0..n)
                .map(|i| {
                    let mut e = LogEntry::text(
                        "p1",
                        "run.googleapis.com/stdout",
                        resource.clone(),
                        "INFO",
                        &format!("line {i}"),
                    );
                    e.timestamp = Some(format!("2026-12-04T10:00:{:02}Z", i));
                    e
                })
                .collect(),
        );
        store
    }

    fn list(store: &Store, request: ListRequest) -> Result<Page, ApiError> {
        let projects = request.projects()?;
        store.list(&request, &projects)
    }

    #[test]
    fn pages_cover_every_entry_once_in_timestamp_order() {
        let store = stored(7);
        let mut request = ListRequest {
            resource_names: vec!["projects/p1".into()],
            page_size: 3,
            ..ListRequest::default()
        };
        let mut seen = Vec::new();
        for _ in 0..5 {
            let page = list(&store, request.clone()).expect("lists");
            seen.extend(page.entries.iter().map(|e| e["textPayload"].clone()));
            match page.next_page_token {
                Some(token) => request.page_token = token,
                None => break,
            }
        }
        let expected: Vec<Value> = (0..7).map(|i| Value::from(format!("line {i}"))).collect();
        assert_eq!(seen, expected);
        request.order_by = "timestamp desc".into();
        request.page_token.clear();
        let page = list(&store, request).expect("lists");
        assert_eq!(page.entries[0]["textPayload"], "line 6");
        assert_eq!(
            page.entries[0]["logName"],
            "projects/p1/logs/run.googleapis.com%2Fstdout"
        );
    }

    #[test]
    fn other_projects_bad_requests_and_write_defaults() {
        let store = stored(2);
        let other = ListRequest {
            resource_names: vec!["projects/p2".into()],
            ..ListRequest::default()
        };
        assert!(list(&store, other).expect("lists").entries.is_empty());
        for bad in [
            ListRequest::default(),
            ListRequest {
                resource_names: vec!["folders".into()],
                ..ListRequest::default()
            },
            ListRequest {
                resource_names: vec!["projects/p1".into()],
                page_size: -1,
                ..ListRequest::default()
            },
            ListRequest {
                resource_names: vec!["projects/p1".into()],
                order_by: "severity".into(),
                ..ListRequest::default()
            },
            ListRequest {
                resource_names: vec!["projects/p1".into()],
                page_token: "zz".into(),
                ..ListRequest::default()
            },
        ] {
            assert!(list(&store, bad.clone()).is_err(), "{bad:?}");
        }
        let request = WriteRequest {
            log_name: "projects/p1/logs/app".into(),
            resource: Some(MonitoredResource::new("global", &[])),
            entries: vec![LogEntry::default()],
            ..WriteRequest::default()
        };
        let completed = request.complete().expect("defaults fill the entry");
        assert_eq!(completed[0].log_name, "projects/p1/logs/app");
        let missing = WriteRequest {
            entries: vec![LogEntry::default()],
            ..WriteRequest::default()
        };
        assert!(missing.complete().is_err());
    }
}
