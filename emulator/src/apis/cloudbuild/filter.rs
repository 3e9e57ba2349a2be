//! The `filter` of builds.list, in Cloud Build's syntax: comparisons `field OP "value"` joined
//! by AND or OR, with NOT and parentheses, over the fields the server filters on (the ones
//! gcloud's `builds list --filter` sends: build_id, images, tags, status, trigger_id,
//! project_id, results.images.*, source.storage_source.*, source.repo_source.*, and the
//! create/start/finish times). Anything else is INVALID_ARGUMENT, never silently ignored.

use std::str::FromStr;

use serde_json::Value;

use super::model::Build;
use crate::error::ApiError;

/// String fields: `=` and `!=`; a repeated field (images, tags) matches when any element does.
const STRING_FIELDS: &[&str] = &[
    "build_id",
    "images",
    "options.requested_verify_option",
    "project_id",
    "results.images.digest",
    "results.images.name",
    "source_provenance.resolved_repo_source.commit_sha",
    "source.repo_source.branch_name",
    "source.repo_source.commit_sha",
    "source.repo_source.repo_name",
    "source.repo_source.tag_name",
    "source.storage_source.bucket",
    "source.storage_source.object",
    "status",
    "tags",
    "trigger_id",
];
/// Timestamp fields: all six comparisons, against an RFC 3339 value.
const TIME_FIELDS: &[&str] = &["create_time", "finish_time", "start_time"];
/// Deeper nesting than this is refused (a filter is one line typed or built by a tool).
const MAX_DEPTH: usize = 32;
const MAX_LENGTH: usize = 4096;

/// A parsed filter; the empty filter matches every build.
#[derive(Debug)]
pub struct Filter(Option<Expr>);

#[derive(Debug)]
enum Expr {
    All(Vec<Expr>),
    Any(Vec<Expr>),
    Not(Box<Expr>),
    Text {
        /// The field's path in the build's JSON (camelCase keys).
        path: Vec<String>,
        equal: bool,
        value: String,
    },
    Time {
        key: &'static str,
        op: Op,
        value: jiff::Timestamp,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Op(Op),
    Quoted(String),
    Word(String),
}

fn invalid(filter: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::invalid_argument(format!("Invalid filter \"{filter}\": {why}."))
}

fn tokens(filter: &str) -> Result<Vec<Token>, ApiError> {
    let mut out = Vec::new();
    let mut chars = filter.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => out.push(Token::Open),
            ')' => out.push(Token::Close),
            '=' => out.push(Token::Op(Op::Eq)),
            '!' | '<' | '>' => {
                let with_eq = chars.next_if_eq(&'=').is_some();
                out.push(Token::Op(match (c, with_eq) {
                    ('!', true) => Op::Ne,
                    ('<', false) => Op::Lt,
                    ('<', true) => Op::Le,
                    ('>', false) => Op::Gt,
                    ('>', true) => Op::Ge,
                    _ => return Err(invalid(filter, "`!` must be followed by `=`")),
                }));
            }
            ':' => {
                return Err(invalid(
                    filter,
                    "the server does not take `:`; compare with `=`, e.g. status=\"WORKING\"",
                ));
            }
            '"' => {
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err(invalid(filter, "a quoted value is not closed")),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(escaped) => text.push(escaped),
                            None => return Err(invalid(filter, "a quoted value is not closed")),
                        },
                        Some(other) => text.push(other),
                    }
                }
                out.push(Token::Quoted(text));
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == '.' => {
                let mut word = String::from(c);
                while let Some(next) =
                    chars.next_if(|n| n.is_ascii_alphanumeric() || *n == '_' || *n == '.')
                {
                    word.push(next);
                }
                out.push(Token::Word(word));
            }
            other => return Err(invalid(filter, format!("unexpected character `{other}`"))),
        }
    }
    Ok(out)
}

struct Parser<'a> {
    filter: &'a str,
    tokens: Vec<Token>,
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn error(&self, why: impl std::fmt::Display) -> ApiError {
        invalid(self.filter, why)
    }

    /// terms joined by one kind of connective; AND and OR together need parentheses.
    fn expr(&mut self, depth: usize) -> Result<Expr, ApiError> {
        if depth > MAX_DEPTH {
            return Err(self.error("too deeply nested"));
        }
        let mut terms = vec![self.unary(depth)?];
        let mut connective: Option<String> = None;
        while let Some(Token::Word(word)) = self.peek() {
            let word = word.clone();
            if word != "AND" && word != "OR" {
                return Err(self.error(format!(
                    "expected AND or OR before `{word}` (terms are joined explicitly)"
                )));
            }
            if connective.as_deref().is_some_and(|c| c != word) {
                return Err(self.error(
                    "AND and OR are mixed without parentheses; group the terms, e.g. a AND (b OR c)",
                ));
            }
            self.at += 1;
            connective = Some(word);
            terms.push(self.unary(depth)?);
        }
        Ok(match (connective.as_deref(), terms.len()) {
            (_, 1) => terms.pop().expect("one term"),
            (Some("OR"), _) => Expr::Any(terms),
            _ => Expr::All(terms),
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, ApiError> {
        match self.next() {
            Some(Token::Word(word)) if word == "NOT" => {
                if depth > MAX_DEPTH {
                    return Err(self.error("too deeply nested"));
                }
                Ok(Expr::Not(Box::new(self.unary(depth + 1)?)))
            }
            Some(Token::Open) => {
                let inner = self.expr(depth + 1)?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err(self.error("a `(` is not closed")),
                }
            }
            Some(Token::Word(field)) => self.comparison(&field),
            Some(other) => Err(self.error(format!("expected a field name, found {other:?}"))),
            None => Err(self.error("the expression ends too early")),
        }
    }

    fn comparison(&mut self, field: &str) -> Result<Expr, ApiError> {
        let Some(Token::Op(op)) = self.next() else {
            return Err(self.error(format!(
                "`{field}` must be followed by =, !=, <, <=, > or >="
            )));
        };
        let value = match self.next() {
            Some(Token::Quoted(value)) => value,
            Some(Token::Word(bare)) => {
                return Err(self.error(format!(
                    "quote the value with double quotes: {field}=\"{bare}\""
                )));
            }
            _ => return Err(self.error(format!("`{field}` needs a quoted value"))),
        };
        if let Some(key) = TIME_FIELDS.iter().find(|f| **f == field) {
            let value = jiff::Timestamp::from_str(&value).map_err(|e| {
                self.error(format!(
                    "{field} needs an RFC 3339 time such as \"2024-05-01T00:00:00Z\": {e}"
                ))
            })?;
            return Ok(Expr::Time { key, op, value });
        }
        if !STRING_FIELDS.contains(&field) {
            return Err(self.error(format!(
                "builds cannot be filtered on `{field}`; use one of {} or {}",
                STRING_FIELDS.join(", "),
                TIME_FIELDS.join(", ")
            )));
        }
        if !matches!(op, Op::Eq | Op::Ne) {
            return Err(self.error(format!("`{field}` is compared with = or != only")));
        }
        if field == "status" && super::STATUS.number(&value).is_none() {
            return Err(self.error(format!("`{value}` is not a build status")));
        }
        Ok(Expr::Text {
            path: json_path(field),
            equal: op == Op::Eq,
            value,
        })
    }
}

/// The build's JSON keys for a filter field (`trigger_id` is `buildTriggerId`, `build_id` `id`).
fn json_path(field: &str) -> Vec<String> {
    match field {
        "build_id" => vec!["id".into()],
        "trigger_id" => vec!["buildTriggerId".into()],
        _ => field.split('.').map(crate::json::camel_case).collect(),
    }
}

/// Every string under `path` (arrays at any level are searched element by element).
fn strings_at<'v>(value: &'v Value, path: &[String], out: &mut Vec<&'v str>) {
    match (value, path.split_first()) {
        (Value::Array(items), _) => items.iter().for_each(|i| strings_at(i, path, out)),
        (Value::String(s), None) => out.push(s),
        (Value::Object(map), Some((key, rest))) => {
            if let Some(child) = map.get(key) {
                strings_at(child, rest, out);
            }
        }
        _ => {}
    }
}

impl Expr {
    fn matches(&self, build: &Value) -> bool {
        match self {
            Expr::All(terms) => terms.iter().all(|t| t.matches(build)),
            Expr::Any(terms) => terms.iter().any(|t| t.matches(build)),
            Expr::Not(inner) => !inner.matches(build),
            Expr::Text { path, equal, value } => {
                let mut found = Vec::new();
                strings_at(build, path, &mut found);
                found.contains(&value.as_str()) == *equal
            }
            Expr::Time { key, op, value } => {
                let field = crate::json::camel_case(key);
                let Some(at) = build[&field]
                    .as_str()
                    .and_then(|t| jiff::Timestamp::from_str(t).ok())
                else {
                    return false;
                };
                match op {
                    Op::Eq => at == *value,
                    Op::Ne => at != *value,
                    Op::Lt => at < *value,
                    Op::Le => at <= *value,
                    Op::Gt => at > *value,
                    Op::Ge => at >= *value,
                }
            }
        }
    }
}

impl Filter {
    /// Parses the `filter` query parameter (absent or blank: everything).
    pub fn parse(filter: &str) -> Result<Filter, ApiError> {
        if filter.len() > MAX_LENGTH {
            return Err(ApiError::invalid_argument(format!(
                "Invalid filter: longer than {MAX_LENGTH} characters."
            )));
        }
        let tokens = tokens(filter)?;
        if tokens.is_empty() {
            return Ok(Filter(None));
        }
        let mut parser = Parser {
            filter,
            tokens,
            at: 0,
        };
        let expr = parser.expr(0)?;
        if let Some(extra) = parser.peek() {
            return Err(parser.error(format!("unexpected {extra:?} after the expression")));
        }
        Ok(Filter(Some(expr)))
    }

    pub fn matches(&self, build: &Build) -> bool {
        match &self.0 {
            None => true,
            Some(expr) => expr.matches(&serde_json::to_value(build).unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(status: &str, tags: &[&str], images: &[&str]) -> Build {
        Build {
            id: "b-1".into(),
            status: Some(status.into()),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            images: images.iter().map(|t| t.to_string()).collect(),
            create_time: Some("2024-05-01T10:00:00Z".into()),
            results: Some(
                serde_json::json!({"images": [{"name": "img:1", "digest": "sha256:ab"}]}),
            ),
            ..Build::default()
        }
    }

    fn matches(filter: &str, build: &Build) -> bool {
        Filter::parse(filter)
            .unwrap_or_else(|e| panic!("{filter}: {}", e.body()))
            .matches(build)
    }

    #[test]
    fn comparisons_connectives_and_groups() {
        let b = build("WORKING", &["chatctl", "chat-server"], &["img:1"]);
        assert!(matches("", &b));
        assert!(matches(r#"tags="chatctl""#, &b));
        assert!(!matches(r#"tags="other""#, &b));
        assert!(matches(r#"tags!="other""#, &b));
        assert!(matches(
            r#"images="img:1" AND tags="chatctl" AND (status="QUEUED" OR status="WORKING")"#,
            &b
        ));
        assert!(!matches(r#"images="img:1" AND status="QUEUED""#, &b));
        assert!(matches(r#"NOT status="SUCCESS""#, &b));
        assert!(matches(r#"results.images.digest="sha256:ab""#, &b));
        assert!(matches(r#"build_id="b-1""#, &b));
        assert!(matches(r#"create_time>="2024-05-01T09:00:00Z""#, &b));
        assert!(!matches(r#"create_time<"2024-05-01T09:00:00Z""#, &b));
        assert!(!matches(r#"finish_time<"2030-01-01T00:00:00Z""#, &b));
        assert!(matches(r#"status="WORKING" OR status="QUEUED""#, &b));
    }

    #[test]
    fn unsupported_or_malformed_filters_are_invalid_argument() {
        for bad in [
            r#"labels="x""#,
            r#"status="RUNNING""#,
            "status=WORKING",
            r#"status:"WORKING""#,
            r#"tags="a" AND tags="b" OR tags="c""#,
            r#"status="WORKING" tags="x""#,
            r#"(status="WORKING""#,
            r#"tags>"x""#,
            r#"create_time>"yesterday""#,
            r#"status="WORKING"#,
            "AND",
            &"(".repeat(100),
        ] {
            let error = Filter::parse(bad).expect_err(bad);
            assert_eq!(error.code, crate::error::Code::InvalidArgument, "{bad}");
        }
    }
}
