//! The `filter` of Compute Engine list calls, in its common form: comparisons `field = value`,
//! `field != value` or `field : value` (substring), optionally in parentheses and joined by
//! spaces or `AND`. Anything else is refused, as Google refuses a filter it cannot parse.

use serde_json::Value;

use crate::error::ApiError;

#[derive(Debug, PartialEq)]
enum Op {
    Equal,
    NotEqual,
    Contains,
}

/// A parsed filter: every comparison must hold.
#[derive(Debug, Default)]
pub struct Filter(Vec<(String, Op, String)>);

fn invalid(text: &str) -> ApiError {
    ApiError::invalid_argument(format!(
        "Invalid value for field 'filter': '{text}'. Invalid list filter expression."
    ))
}

/// Splits into words, keeping quoted strings whole and operators apart.
fn tokens(text: &str) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' | '(' | ')' => {
                chars.next();
            }
            '"' => {
                chars.next();
                let mut word = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some(ch) => word.push(ch),
                        None => return Err(invalid(text)),
                    }
                }
                out.push(format!("\"{word}"));
            }
            '=' | ':' => {
                chars.next();
                out.push(c.to_string());
            }
            '!' => {
                chars.next();
                if chars.next() != Some('=') {
                    return Err(invalid(text));
                }
                out.push("!=".to_string());
            }
            _ => {
                let mut word = String::new();
                while let Some(&ch) = chars.peek() {
                    if matches!(ch, ' ' | '\t' | '(' | ')' | '=' | '!' | ':' | '"') {
                        break;
                    }
                    word.push(ch);
                    chars.next();
                }
                out.push(word);
            }
        }
    }
    Ok(out)
}

impl Filter {
    pub fn parse(text: Option<&str>) -> Result<Filter, ApiError> {
        let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
            return Ok(Filter::default());
        };
        let words: Vec<String> = tokens(text)?.into_iter().filter(|w| w != "AND").collect();
        if !words.len().is_multiple_of(3) {
            return Err(invalid(text));
        }
        let mut terms = Vec::new();
        for term in words.chunks(3) {
            let op = match term[1].as_str() {
                "=" => Op::Equal,
                "!=" => Op::NotEqual,
                ":" => Op::Contains,
                _ => return Err(invalid(text)),
            };
            let field = &term[0];
            if field.is_empty() || field.starts_with('"') {
                return Err(invalid(text));
            }
            let value = term[2].strip_prefix('"').unwrap_or(&term[2]).to_string();
            terms.push((field.clone(), op, value));
        }
        Ok(Filter(terms))
    }

    /// Whether a resource (its JSON) passes.
    pub fn matches(&self, resource: &Value) -> bool {
        self.0.iter().all(|(field, op, want)| {
            let found = field
                .split('.')
                .try_fold(resource, |v, key| v.get(key))
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
            match (op, found) {
                (Op::Equal, Some(have)) => have == *want,
                (Op::NotEqual, have) => have.as_deref() != Some(want.as_str()),
                (Op::Contains, Some(have)) => want == "*" || have.contains(want.as_str()),
                (_, None) => false,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn comparisons_are_anded() {
        let subnet = json!({"name": "team", "network": "https://x/global/networks/default", "privateIpGoogleAccess": false});
        let f = |t: &str| Filter::parse(Some(t)).unwrap().matches(&subnet);
        assert!(f("name = team"));
        assert!(f("(name = \"team\") (network : networks/default)"));
        assert!(f("name != other AND privateIpGoogleAccess = false"));
        assert!(!f("name = other"));
        assert!(!f("missing = x"));
        assert!(Filter::parse(Some("name =")).is_err());
        assert!(Filter::parse(Some("name eq team")).is_err());
    }
}
