//! proto3-JSON conventions: enums as names or numbers, strict body parsing (unknown fields are
//! INVALID_ARGUMENT), int64 as strings, Durations ("3600s") and RFC 3339 timestamps.
//!
//! Resources are stored with enum *names*; an API module declares where its enums live
//! ([`EnumField`]) so request bodies are normalised to names and responses are re-encoded as
//! numbers when the caller asked for `$alt=json;enum-encoding=int`.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// A proto enum: its values as (name, proto number). Numbers are proto numbers, not positions.
#[derive(Debug)]
pub struct EnumDef {
    pub name: &'static str,
    pub values: &'static [(&'static str, i32)],
}

impl EnumDef {
    pub fn number(&self, name: &str) -> Option<i32> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }
    pub fn name_of(&self, number: i64) -> Option<&'static str> {
        self.values
            .iter()
            .find(|(_, v)| i64::from(*v) == number)
            .map(|(n, _)| *n)
    }
}

/// Where an enum sits in a message: `path` is a dotted suffix of object keys (array levels are
/// skipped), e.g. `"state"` or `"terminalCondition.state"`.
#[derive(Debug)]
pub struct EnumField {
    pub path: &'static str,
    pub def: &'static EnumDef,
}

/// How the caller wants enums answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnumEncoding {
    Names,
    Numbers,
}

impl EnumEncoding {
    /// Reads the system parameter `$alt=json;enum-encoding=int` from decoded query pairs.
    pub fn from_query(pairs: &[(String, String)]) -> Self {
        let wants_int = pairs.iter().any(|(k, v)| {
            (k == "$alt" || k == "alt") && v.split(';').any(|p| p.trim() == "enum-encoding=int")
        });
        if wants_int {
            EnumEncoding::Numbers
        } else {
            EnumEncoding::Names
        }
    }
}

fn path_matches(stack: &[&str], path: &str) -> bool {
    let parts: Vec<&str> = path.split('.').collect();
    stack.len() >= parts.len() && stack[stack.len() - parts.len()..] == parts[..]
}

/// Called for every object field: the key path so far and the value.
type Visitor<'v> = dyn FnMut(&[&str], &mut Value) -> Result<(), ApiError> + 'v;

fn walk(
    value: &mut Value,
    stack: &mut Vec<String>,
    visit: &mut Visitor<'_>,
) -> Result<(), ApiError> {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                stack.push(key.clone());
                let refs: Vec<&str> = stack.iter().map(String::as_str).collect();
                visit(&refs, child)?;
                walk(child, stack, visit)?;
                stack.pop();
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, stack, visit)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn convert_each(
    value: &mut Value,
    f: &mut dyn FnMut(&mut Value) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    match value {
        Value::Array(items) => items.iter_mut().try_for_each(f),
        other => f(other),
    }
}

/// Rewrites every enum in a request body to its name; an unknown name or number is
/// INVALID_ARGUMENT, worded like Google's JSON parser.
pub fn enums_to_names(value: &mut Value, fields: &[EnumField]) -> Result<(), ApiError> {
    walk(value, &mut Vec::new(), &mut |stack, v| {
        let Some(field) = fields.iter().find(|f| path_matches(stack, f.path)) else {
            return Ok(());
        };
        let key = stack.join(".");
        convert_each(v, &mut |item| {
            let name = match &*item {
                Value::String(s) => field.def.number(s).map(|_| s.clone()),
                Value::Number(n) => n
                    .as_i64()
                    .and_then(|n| field.def.name_of(n))
                    .map(String::from),
                Value::Null => return Ok(()),
                _ => None,
            };
            match name {
                Some(name) => {
                    *item = Value::String(name);
                    Ok(())
                }
                None => Err(ApiError::invalid_argument(format!(
                    "Invalid value at '{key}' ({}), {item}",
                    field.def.name
                ))),
            }
        })
    })
}

/// Re-encodes the enums of a response as the caller asked (they are stored as names).
pub fn encode_enums(value: &mut Value, fields: &[EnumField], encoding: EnumEncoding) {
    if encoding == EnumEncoding::Names || fields.is_empty() {
        return;
    }
    let _ = walk(value, &mut Vec::new(), &mut |stack, v| {
        if let Some(field) = fields.iter().find(|f| path_matches(stack, f.path)) {
            let _ = convert_each(v, &mut |item| {
                if let Some(n) = item.as_str().and_then(|s| field.def.number(s)) {
                    *item = Value::from(n);
                }
                Ok(())
            });
        }
        Ok(())
    });
}

/// Parses a request body into `T` the way Google's ESF does: enums as names or numbers,
/// unknown fields rejected. An empty body counts as `{}`.
pub fn parse_body<T: DeserializeOwned>(body: &[u8], fields: &[EnumField]) -> Result<T, ApiError> {
    let mut value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::invalid_argument(format!("Invalid JSON payload received. {e}"))
        })?
    };
    enums_to_names(&mut value, fields)?;
    from_value(value)
}

/// Converts a JSON value into `T`, mapping serde's complaints to Google's wording.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| {
        let text = e.to_string();
        let message = match text.strip_prefix("unknown field `") {
            Some(rest) => {
                let name = rest.split('`').next().unwrap_or_default();
                format!(
                    "Invalid JSON payload received. Unknown name \"{name}\": Cannot find field."
                )
            }
            None => format!("Invalid JSON payload received. {text}"),
        };
        ApiError::invalid_argument(message)
    })
}

/// `memory_size_gb` → `memorySizeGb` (proto field names are accepted in both forms).
pub fn camel_case(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A FieldMask from a query (`updateMask=displayName,memory_size_gb`), paths in camelCase.
pub fn field_mask(text: Option<&str>) -> Vec<String> {
    text.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(camel_case)
        .collect()
}

/// The current time as an RFC 3339 timestamp with nanosecond precision, like Google's.
pub fn now_timestamp() -> String {
    jiff::Timestamp::now().to_string()
}

/// Parses a `google.protobuf.Duration` string ("3600s", "1.5s") into seconds.
pub fn parse_duration(text: &str) -> Result<f64, ApiError> {
    text.strip_suffix('s')
        .and_then(|n| n.parse::<f64>().ok())
        .filter(|n| n.is_finite() && *n >= 0.0)
        .ok_or_else(|| {
            ApiError::invalid_argument(format!(
                "Invalid value for duration: \"{text}\" (expected seconds with an 's' suffix, e.g. \"3600s\")"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static TIER: EnumDef = EnumDef {
        name: "google.cloud.redis.v1.Instance.Tier",
        values: &[("TIER_UNSPECIFIED", 0), ("BASIC", 1), ("STANDARD_HA", 3)],
    };
    static FIELDS: &[EnumField] = &[EnumField {
        path: "tier",
        def: &TIER,
    }];

    #[test]
    fn request_enums_accept_names_and_numbers() {
        let mut v = json!({"tier": 3, "nested": {"tier": "BASIC"}});
        enums_to_names(&mut v, FIELDS).unwrap();
        assert_eq!(
            v,
            json!({"tier": "STANDARD_HA", "nested": {"tier": "BASIC"}})
        );
        let mut bad = json!({"tier": 2});
        assert!(enums_to_names(&mut bad, FIELDS).is_err());
    }

    #[test]
    fn responses_use_numbers_only_when_asked() {
        let pairs = vec![("$alt".to_string(), "json;enum-encoding=int".to_string())];
        let mut v = json!({"response": {"tier": "STANDARD_HA"}});
        encode_enums(&mut v, FIELDS, EnumEncoding::from_query(&pairs));
        assert_eq!(v, json!({"response": {"tier": 3}}));
        let mut v = json!({"tier": "BASIC"});
        encode_enums(&mut v, FIELDS, EnumEncoding::from_query(&[]));
        assert_eq!(v, json!({"tier": "BASIC"}));
    }

    #[test]
    fn unknown_fields_are_named_in_the_error() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Body {
            tier: Option<String>,
        }
        let err = parse_body::<Body>(br#"{"tierr": 1}"#, FIELDS).unwrap_err();
        assert!(
            err.message.contains("Unknown name \"tierr\""),
            "{}",
            err.message
        );
    }
}
