//! Field-by-field differences between what chatctl would set and what the API reports. Only
//! the fields chatctl (or the user's overrides) set are compared: the server's own defaults and
//! output fields never count as drift. An absent field equals its zero value, as in proto3.

use serde::Serialize;
use serde_json::Value;

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub path: String,
    pub from: Value,
    pub to: Value,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} → {}",
            self.path,
            show(&self.from),
            show(&self.to)
        )
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "(unset)".into(),
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// Changes as one line, `a: x → y; b: …`, for messages.
pub fn summary(changes: &[Change]) -> String {
    changes
        .iter()
        .map(Change::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Compares `desired` with `observed` at every leaf path of `spec` (the rendered template plus
/// overrides, which names the fields chatctl manages). `desired` and `observed` are the same
/// message type serialised the same way, so enums and durations compare equal.
pub fn changes(spec: &Value, desired: &Value, observed: &Value) -> Vec<Change> {
    let mut paths = Vec::new();
    leaf_paths(spec, &mut Vec::new(), &mut paths);
    paths
        .into_iter()
        .filter_map(|path| {
            let to = normalise(lookup(desired, &path));
            let from = normalise(lookup(observed, &path));
            (to != from).then(|| Change {
                path: render(&path),
                from,
                to,
            })
        })
        .collect()
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn leaf_paths(value: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                prefix.push(Step::Key(k.clone()));
                leaf_paths(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                prefix.push(Step::Index(i));
                leaf_paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ => out.push(prefix.clone()),
    }
}

fn lookup<'a>(value: &'a Value, path: &[Step]) -> &'a Value {
    let mut here = value;
    for step in path {
        here = match step {
            Step::Key(k) => here.get(k),
            Step::Index(i) => here.get(i),
        }
        .unwrap_or(&Value::Null);
    }
    here
}

/// Zero values (0, false, "", [], {}) and absence are the same thing in proto3 JSON; numbers
/// written as strings (int64) compare as numbers.
fn normalise(value: &Value) -> Value {
    match value {
        Value::Bool(false) => Value::Null,
        Value::Number(n) if n.as_f64() == Some(0.0) => Value::Null,
        Value::String(s) if s.is_empty() => Value::Null,
        Value::Array(a) if a.is_empty() => Value::Null,
        Value::Object(o) if o.is_empty() => Value::Null,
        other => other.clone(),
    }
}

fn render(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_managed_fields_count_and_zero_equals_absent() {
        let spec = json!({"a": {"b": 1, "c": 0}, "labels": {"k": "v"}, "list": [{"x": "y"}]});
        let desired = json!({"a": {"b": 1}, "labels": {"k": "v"}, "list": [{"x": "y"}]});
        let observed = json!({"a": {"b": 1, "serverDefault": 9}, "labels": {"k": "v", "extra": "1"},
                              "list": [{"x": "y", "z": 1}], "output": "x"});
        assert!(changes(&spec, &desired, &observed).is_empty());

        let observed = json!({"a": {"b": 2, "c": 3}, "labels": {}, "list": [{"x": "q"}]});
        let found: Vec<String> = changes(&spec, &desired, &observed)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            vec![
                "a.b: 2 → 1",
                "a.c: 3 → (unset)",
                "labels.k: (unset) → \"v\"",
                "list[0].x: \"q\" → \"y\""
            ]
        );
    }
}
