//! The Logging query language, for the fields chatctl and its tests use: comparisons
//! (`=`, `!=`, `>`, `>=`, `<`, `<=`, `:` has) on a LogEntry's fields by dotted path
//! (`resource.type`, `resource.labels.service_name`, `logName`, `severity`, `timestamp`,
//! `textPayload`, `jsonPayload.*`, `labels.*`), values bare or double-quoted, `AND`, `OR`,
//! `NOT` (or `-`), parentheses, implicit AND between terms, and bare global text terms.
//! Timestamps compare as instants and severities by rank, as Google does. A filter that does
//! not parse is INVALID_ARGUMENT with Google's wording ("Unparseable filter: ...").

use serde_json::Value;

use crate::error::ApiError;

/// A parsed filter, ready to match entries (as their JSON).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// The empty filter: every entry.
    All,
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare {
        path: Vec<String>,
        op: Op,
        value: String,
    },
    /// A bare word or string: the entry's payload contains it.
    Text(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Has,
}

/// The top-level LogEntry fields a filter may name (discovery's LogEntry).
const FIELDS: &[&str] = &[
    "logName",
    "log_name",
    "resource",
    "timestamp",
    "receiveTimestamp",
    "receive_timestamp",
    "severity",
    "insertId",
    "insert_id",
    "httpRequest",
    "http_request",
    "labels",
    "textPayload",
    "text_payload",
    "jsonPayload",
    "json_payload",
    "protoPayload",
    "proto_payload",
    "operation",
    "trace",
    "spanId",
    "span_id",
    "traceSampled",
    "trace_sampled",
    "sourceLocation",
    "source_location",
    "split",
];

/// LogSeverity names and their ranks.
pub const SEVERITIES: &[(&str, i32)] = &[
    ("DEFAULT", 0),
    ("DEBUG", 100),
    ("INFO", 200),
    ("NOTICE", 300),
    ("WARNING", 400),
    ("ERROR", 500),
    ("CRITICAL", 600),
    ("ALERT", 700),
    ("EMERGENCY", 800),
];

/// The rank of a severity name or number (`WARNING`, `warning`, `400`).
pub fn severity_rank(text: &str) -> Option<i32> {
    SEVERITIES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text))
        .map(|(_, rank)| *rank)
        .or_else(|| text.parse().ok())
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A bare word (field path, keyword or value).
    Word(String),
    /// A double-quoted string, unescaped.
    Quoted(String),
    Op(Op),
    Open,
    Close,
    Minus,
}

/// A token and the column (1-based) it starts at.
type Spanned = (Token, usize);

fn syntax_error(column: usize, token: &str) -> ApiError {
    ApiError::invalid_argument(format!(
        "Unparseable filter: syntax error at line 1, column {column}, token '{token}'"
    ))
}

fn tokenize(text: &str) -> Result<Vec<Spanned>, ApiError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                tokens.push((Token::Open, column));
                i += 1;
            }
            ')' => {
                tokens.push((Token::Close, column));
                i += 1;
            }
            '"' => {
                let mut value = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(ApiError::invalid_argument(format!(
                                "Unparseable filter: unterminated string at line 1, column {column}"
                            )));
                        }
                        Some('"') => break,
                        Some('\\') => {
                            let escaped = chars.get(i + 1).copied().unwrap_or('\\');
                            value.push(escaped);
                            i += 2;
                        }
                        Some(other) => {
                            value.push(*other);
                            i += 1;
                        }
                    }
                }
                i += 1;
                tokens.push((Token::Quoted(value), column));
            }
            '=' => {
                tokens.push((Token::Op(Op::Eq), column));
                i += 1;
            }
            ':' => {
                tokens.push((Token::Op(Op::Has), column));
                i += 1;
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                tokens.push((Token::Op(Op::Ne), column));
                i += 2;
            }
            '>' | '<' => {
                let or_equal = chars.get(i + 1) == Some(&'=');
                let op = match (c, or_equal) {
                    ('>', true) => Op::Ge,
                    ('>', false) => Op::Gt,
                    ('<', true) => Op::Le,
                    _ => Op::Lt,
                };
                tokens.push((Token::Op(op), column));
                i += if or_equal { 2 } else { 1 };
            }
            '-' if tokens
                .last()
                .is_none_or(|(t, _)| !matches!(t, Token::Op(_))) =>
            {
                tokens.push((Token::Minus, column));
                i += 1;
            }
            c if is_word_char(c) => {
                let start = i;
                while i < chars.len() && is_word_char(chars[i]) {
                    // A `:` ends a word (the has operator) unless it is inside a timestamp
                    // value, which follows an operator.
                    i += 1;
                }
                tokens.push((Token::Word(chars[start..i].iter().collect()), column));
            }
            other => return Err(syntax_error(column, &other.to_string())),
        }
    }
    Ok(tokens)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '/' | '+' | '*' | '%' | '@')
}

struct Parser {
    tokens: Vec<Spanned>,
    at: usize,
    /// Where the text ends, for errors at the end.
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(t, _)| t)
    }

    fn error_here(&self) -> ApiError {
        match self.tokens.get(self.at) {
            Some((token, column)) => syntax_error(*column, &describe(token)),
            None => syntax_error(self.end, "<EOF>"),
        }
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w == keyword)
    }

    /// expr := and ("OR" and)*
    fn expr(&mut self) -> Result<Filter, ApiError> {
        let mut left = self.and()?;
        while self.is_keyword("OR") {
            self.at += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// and := unary (["AND"] unary)*: juxtaposed terms are ANDed.
    fn and(&mut self) -> Result<Filter, ApiError> {
        let mut left = self.unary()?;
        loop {
            if self.is_keyword("AND") {
                self.at += 1;
            } else if self.peek().is_none()
                || self.is_keyword("OR")
                || self.peek() == Some(&Token::Close)
            {
                return Ok(left);
            }
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
    }

    /// unary := ("NOT" | "-") unary | "(" expr ")" | comparison | text
    fn unary(&mut self) -> Result<Filter, ApiError> {
        match self.peek() {
            Some(Token::Minus) => {
                self.at += 1;
                Ok(Filter::Not(Box::new(self.unary()?)))
            }
            Some(Token::Word(w)) if w == "NOT" => {
                self.at += 1;
                Ok(Filter::Not(Box::new(self.unary()?)))
            }
            Some(Token::Open) => {
                self.at += 1;
                let inner = self.expr()?;
                if self.peek() != Some(&Token::Close) {
                    return Err(self.error_here());
                }
                self.at += 1;
                Ok(inner)
            }
            Some(Token::Word(w)) if w == "AND" || w == "OR" => Err(self.error_here()),
            Some(Token::Word(_)) | Some(Token::Quoted(_)) => self.comparison(),
            _ => Err(self.error_here()),
        }
    }

    fn comparison(&mut self) -> Result<Filter, ApiError> {
        let (first, column) = self.tokens[self.at].clone();
        self.at += 1;
        let Some(Token::Op(op)) = self.peek().cloned() else {
            // A term alone: text search.
            return Ok(Filter::Text(match first {
                Token::Word(w) | Token::Quoted(w) => w,
                _ => unreachable!("comparison starts at a word or string"),
            }));
        };
        let Token::Word(field) = first else {
            return Err(syntax_error(column, &describe(&first)));
        };
        self.at += 1;
        let value = match self.peek().cloned() {
            Some(Token::Word(w)) | Some(Token::Quoted(w)) => w,
            _ => return Err(self.error_here()),
        };
        self.at += 1;
        // A bare timestamp value is split at its `:`s by the has operator: join it back.
        let mut value = value;
        while let (Some(Token::Op(Op::Has)), Some((Token::Word(more), _))) =
            (self.peek().cloned(), self.tokens.get(self.at + 1).cloned())
        {
            value = format!("{value}:{more}");
            self.at += 2;
        }
        let path: Vec<String> = field.split('.').map(str::to_string).collect();
        if !FIELDS.contains(&path[0].as_str()) {
            return Err(ApiError::invalid_argument(format!(
                "Unparseable filter: unknown field '{field}' at line 1, column {column}"
            )));
        }
        check_value(&path, op, &value)?;
        Ok(Filter::Compare { path, op, value })
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Word(w) => w.clone(),
        Token::Quoted(q) => format!("\"{q}\""),
        Token::Op(op) => match op {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Has => ":",
        }
        .to_string(),
        Token::Open => "(".into(),
        Token::Close => ")".into(),
        Token::Minus => "-".into(),
    }
}

/// Values of typed fields must be of their type: a timestamp, a severity.
fn check_value(path: &[String], op: Op, value: &str) -> Result<(), ApiError> {
    if op == Op::Has {
        return Ok(());
    }
    match path[0].as_str() {
        "timestamp" | "receiveTimestamp" | "receive_timestamp" => {
            value.parse::<jiff::Timestamp>().map(|_| ()).map_err(|_| {
                ApiError::invalid_argument(format!(
                    "Unparseable filter: invalid timestamp value '{value}' for field '{}'",
                    path.join(".")
                ))
            })
        }
        "severity" => severity_rank(value).map(|_| ()).ok_or_else(|| {
            ApiError::invalid_argument(format!(
                "Unparseable filter: invalid severity value '{value}'"
            ))
        }),
        _ => Ok(()),
    }
}

/// Parses a filter; the empty (or blank) filter matches everything.
pub fn parse(text: &str) -> Result<Filter, ApiError> {
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Ok(Filter::All);
    }
    let mut parser = Parser {
        tokens,
        at: 0,
        end: text.chars().count() + 1,
    };
    let filter = parser.expr()?;
    if parser.at < parser.tokens.len() {
        return Err(parser.error_here());
    }
    Ok(filter)
}

/// The value at `path` of an entry's JSON, accepting the proto spelling of each segment.
fn lookup<'a>(entry: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(entry, |value, segment| {
        value
            .get(segment.as_str())
            .or_else(|| value.get(crate::json::camel_case(segment).as_str()))
    })
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Filter {
    /// Whether `entry` (a LogEntry as JSON) matches.
    pub fn matches(&self, entry: &Value) -> bool {
        match self {
            Filter::All => true,
            Filter::And(a, b) => a.matches(entry) && b.matches(entry),
            Filter::Or(a, b) => a.matches(entry) || b.matches(entry),
            Filter::Not(inner) => !inner.matches(entry),
            Filter::Text(word) => {
                let word = word.to_lowercase();
                ["textPayload", "jsonPayload"].iter().any(|field| {
                    entry
                        .get(*field)
                        .is_some_and(|v| as_text(v).to_lowercase().contains(&word))
                })
            }
            Filter::Compare { path, op, value } => match lookup(entry, path) {
                Some(found) => compare(&path[0], &as_text(found), *op, value),
                None => false,
            },
        }
    }
}

fn compare(field: &str, found: &str, op: Op, wanted: &str) -> bool {
    use std::cmp::Ordering;
    if op == Op::Has {
        return found.to_lowercase().contains(&wanted.to_lowercase());
    }
    let ordering = match field {
        "timestamp" | "receiveTimestamp" | "receive_timestamp" => {
            match (
                found.parse::<jiff::Timestamp>(),
                wanted.parse::<jiff::Timestamp>(),
            ) {
                (Ok(a), Ok(b)) => a.cmp(&b),
                _ => return false,
            }
        }
        "severity" => match (severity_rank(found), severity_rank(wanted)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => return false,
        },
        _ => found.cmp(wanted),
    };
    match op {
        Op::Eq => ordering == Ordering::Equal,
        Op::Ne => ordering != Ordering::Equal,
        Op::Gt => ordering == Ordering::Greater,
        Op::Ge => ordering != Ordering::Less,
        Op::Lt => ordering == Ordering::Less,
        Op::Le => ordering != Ordering::Greater,
        Op::Has => unreachable!("handled above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry() -> Value {
        json!({
            "logName": "projects/p1/logs/run.googleapis.com%2Fstdout",
            "resource": {"type": "cloud_run_revision", "labels": {"service_name": "chat", "location": "us-central1"}},
            "timestamp": "2026-12-04T10:00:00.5Z",
            "severity": "WARNING",
            "textPayload": "chat-server listening on 0.0.0.0:8080",
        })
    }

    fn matches(filter: &str) -> bool {
        parse(filter)
            .unwrap_or_else(|e| panic!("{filter}: {}", e.message))
            .matches(&entry())
    }

    #[test]
    fn chatctls_filter_matches_its_service_only() {
        let ours = r#"resource.type="cloud_run_revision" AND resource.labels.service_name="chat" AND timestamp>="2026-12-04T09:59:00Z""#;
        assert!(matches(ours));
        assert!(!matches(&ours.replace("\"chat\"", "\"other\"")));
        assert!(!matches(&ours.replace("09:59:00Z", "10:00:01Z")));
    }

    #[test]
    fn implicit_and_or_not_and_parentheses() {
        assert!(matches(
            r#"resource.type="cloud_run_revision" severity>=WARNING"#
        ));
        assert!(!matches(r#"resource.type="build" severity>=WARNING"#));
        assert!(matches(r#"resource.type="build" OR severity=WARNING"#));
        assert!(matches(r#"NOT resource.type="build""#));
        assert!(matches(r#"-resource.type="build""#));
        assert!(matches(
            r#"(resource.type="build" OR resource.type="cloud_run_revision") AND logName:"stdout""#
        ));
        assert!(matches(""));
        assert!(matches("listening"));
        assert!(!matches("\"no such words\""));
    }

    #[test]
    fn timestamps_compare_as_instants_and_severities_by_rank() {
        assert!(matches("timestamp>\"2026-12-04T11:00:00+02:00\""));
        assert!(matches("timestamp<2026-12-04T10:00:01Z"));
        assert!(matches("severity>=INFO"));
        assert!(matches("severity<error"));
        assert!(!matches("severity>=ERROR"));
        assert!(matches("severity!=DEBUG"));
    }

    #[test]
    fn bad_filters_are_invalid_argument_with_googles_wording() {
        for (filter, expected) in [
            (
                "resource.type=",
                "syntax error at line 1, column 15, token '<EOF>'",
            ),
            (
                "AND severity=INFO",
                "syntax error at line 1, column 1, token 'AND'",
            ),
            (
                "(severity=INFO",
                "syntax error at line 1, column 15, token '<EOF>'",
            ),
            (
                "severity=INFO)",
                "syntax error at line 1, column 14, token ')'",
            ),
            (
                "severity=\"INFO",
                "unterminated string at line 1, column 10",
            ),
            (
                "timestamp>=\"yesterday\"",
                "invalid timestamp value 'yesterday'",
            ),
            ("severity>=LOUD", "invalid severity value 'LOUD'"),
            ("bogus.field=1", "unknown field 'bogus.field'"),
            (
                "severity=INFO & x",
                "syntax error at line 1, column 15, token '&'",
            ),
        ] {
            let error = parse(filter).expect_err(filter);
            assert_eq!(error.code, crate::error::Code::InvalidArgument, "{filter}");
            assert!(
                error.message.starts_with("Unparseable filter: ")
                    && error.message.contains(expected),
                "{filter}: {}",
                error.message
            );
        }
    }
}
