//! The YAML templates in templates/ (embedded in the binary), rendered with an environment's
//! values and merged with the user's overrides into the REST resources chatctl sends.

use std::collections::BTreeMap;

use serde_json::Value;

pub const RUN_SERVICE: &str = include_str!("../templates/run-service.yaml");
pub const REDIS_INSTANCE: &str = include_str!("../templates/redis-instance.yaml");
pub const VPC_CONNECTOR: &str = include_str!("../templates/vpc-connector.yaml");
pub const CHATCTL_YAML: &str = include_str!("../templates/chatctl.yaml");

/// Shown where a value only exists once a dependency has been created (plan of a new stack).
pub const KNOWN_AFTER_UP: &str = "(known after up)";

/// Placeholder values, by name.
pub type Vars = BTreeMap<&'static str, String>;

/// Replaces every `{{name}}` in `text`; an unknown name is a template error.
pub fn substitute(text: &str, vars: &Vars) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed placeholder in `{text}`"))?;
        let name = after[..end].trim();
        let value = vars
            .get(name)
            .ok_or_else(|| format!("unknown placeholder {{{{{name}}}}}"))?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses a template, fills its placeholders (inside string values only, so a value can never
/// change the YAML structure) and merges `overrides` over it.
pub fn render(template: &str, vars: &Vars, overrides: &Value) -> Result<Value, String> {
    let mut value: Value =
        serde_norway::from_str(template).map_err(|e| format!("template does not parse: {e}"))?;
    fill(&mut value, vars)?;
    merge(&mut value, overrides);
    Ok(value)
}

fn fill(value: &mut Value, vars: &Vars) -> Result<(), String> {
    match value {
        Value::String(s) => *s = substitute(s, vars)?,
        Value::Array(items) => items.iter_mut().try_for_each(|v| fill(v, vars))?,
        Value::Object(map) => map.values_mut().try_for_each(|v| fill(v, vars))?,
        _ => {}
    }
    Ok(())
}

/// Deep merge: mappings key by key, lists element by element, anything else replaced;
/// an explicit `null` removes the key.
pub fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                if value.is_null() {
                    base.remove(key);
                } else if let Some(slot) = base.get_mut(key) {
                    merge(slot, value);
                } else {
                    base.insert(key.clone(), value.clone());
                }
            }
        }
        (Value::Array(base), Value::Array(over)) => {
            for (i, value) in over.iter().enumerate() {
                match base.get_mut(i) {
                    Some(slot) => merge(slot, value),
                    None => base.push(value.clone()),
                }
            }
        }
        (slot, value) => *slot = value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_fill_strings_and_unknown_ones_fail() {
        let vars = Vars::from([("env", "pr-1".to_string())]);
        assert_eq!(substitute("chat {{env}}", &vars).unwrap(), "chat pr-1");
        assert!(substitute("{{nope}}", &vars).unwrap_err().contains("nope"));
    }

    #[test]
    fn overrides_merge_deeply_and_by_list_index() {
        let mut base = json!({"a": {"b": 1, "c": 2}, "list": [{"x": 1, "y": 2}], "gone": 1});
        merge(
            &mut base,
            &json!({"a": {"c": 3}, "list": [{"y": 5}], "gone": null, "new": true}),
        );
        assert_eq!(
            base,
            json!({"a": {"b": 1, "c": 3}, "list": [{"x": 1, "y": 5}], "new": true})
        );
    }

    #[test]
    fn every_embedded_template_parses() {
        let vars: Vars = [
            "serviceAccountEmail",
            "connector",
            "image",
            "redisHost",
            "redisPort",
            "tier",
            "project",
            "network",
            "env",
            "ipCidrRange",
            "region",
            "projectLine",
        ]
        .into_iter()
        .map(|k| (k, "x".to_string()))
        .collect();
        for t in [RUN_SERVICE, REDIS_INSTANCE, VPC_CONNECTOR] {
            let v = render(t, &vars, &json!({})).unwrap();
            assert!(v.is_object());
        }
    }
}
