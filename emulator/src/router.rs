//! Google-style routing: each API declares an [`Api`], one [`MethodRow`] per method (verb, path
//! template with `{var}` segments and `:verb` suffixes such as
//! `/v3/projects/{project}:setIamPolicy`, discovery method id, accepted query parameters,
//! handler), which the server turns into [`Route`]s. Handlers get a [`Call`] and answer a
//! [`Reply`] or an [`ApiError`].

use std::future::Future;
use std::pin::Pin;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;
use crate::json::{self, EnumField};
use crate::state::Emu;

pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Reply, ApiError>> + Send>>;
pub type Handler = fn(Call) -> HandlerFuture;

/// What a handler answers.
pub enum Reply {
    /// 200 with a JSON body whose enums are those of the route.
    Json(Value),
    /// 200 with a JSON body whose enums are described by another table (e.g. an operation of
    /// another API served by a shared route).
    JsonWithEnums(Value, &'static [EnumField]),
    /// Anything else (media downloads, legacy error shapes).
    Raw(Response),
}

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Lit(String),
    Var(String),
    /// `{var}:verb`
    VarVerb(String, String),
    /// `{var=**}`: the rest of the path, slashes included.
    Rest(String),
}

/// One method of an API, as its table declares it.
pub struct MethodRow {
    pub verb: Method,
    /// The path template: `{var}` (one segment, no `:`), `{var}:verb`, `{var=**}` (the rest).
    pub path: &'static str,
    /// The discovery method id, e.g. `redis.projects.locations.instances.create`.
    pub id: &'static str,
    /// The query parameters the method takes (camelCase, from its discovery document) besides
    /// the system ones such as `$alt`; any other is refused, as Google does.
    pub query: &'static [&'static str],
    pub handler: Handler,
    /// The IAM permission the caller needs on the project (checked where the project enforces
    /// IAM); empty for methods that check for themselves or need none.
    pub permission: &'static str,
}

impl MethodRow {
    /// The row, needing `permission` (e.g. `run.services.create`).
    pub const fn needs(mut self, permission: &'static str) -> Self {
        self.permission = permission;
        self
    }
}

/// A table row: verb, path template, discovery method id, accepted query parameters, handler.
pub const fn row(
    verb: Method,
    path: &'static str,
    id: &'static str,
    query: &'static [&'static str],
    handler: Handler,
) -> MethodRow {
    MethodRow {
        verb,
        path,
        id,
        query,
        handler,
        permission: "",
    }
}

/// An API as the router sees it: the service whose enablement its methods check, its enum
/// table and one row per method.
pub struct Api {
    /// `redis.googleapis.com`; empty for methods that check enablement themselves.
    pub service: &'static str,
    pub enums: &'static [EnumField],
    pub methods: &'static [MethodRow],
}

impl Api {
    pub fn routes(&'static self) -> impl Iterator<Item = Route> {
        self.methods.iter().map(move |row| Route::new(self, row))
    }
}

/// One method of one API, ready to match requests.
pub struct Route {
    segs: Vec<Seg>,
    pub service: &'static str,
    pub enums: &'static [EnumField],
    pub row: &'static MethodRow,
}

/// System parameters every Google method accepts (the `parameters` of each discovery
/// document, in both spellings the clients use, plus the `$`-prefixed ones the Rust clients
/// send).
const SYSTEM_PARAMS: &[&str] = &[
    "$alt",
    "alt",
    "$fields",
    "fields",
    "key",
    "prettyPrint",
    "$prettyPrint",
    "quotaUser",
    "access_token",
    "oauth_token",
    "callback",
    "$callback",
    "$.xgafv",
    "upload_protocol",
    "uploadType",
    "userIp",
    "$userProject",
    "userProject",
    "$outputDefaults",
    "$httpStatusCode",
    "$apiVersion",
];

impl Route {
    /// The discovery method id.
    pub fn id(&self) -> &'static str {
        self.row.id
    }

    /// INVALID_ARGUMENT for the first query parameter the method does not take.
    pub fn check_query(&self, query: &[(String, String)]) -> Result<(), ApiError> {
        let allowed = self.row.query;
        match query.iter().find(|(k, _)| {
            !allowed.contains(&json::camel_case(k).as_str()) && !SYSTEM_PARAMS.contains(&k.as_str())
        }) {
            Some((name, _)) => Err(ApiError::invalid_argument(format!(
                "Invalid JSON payload received. Unknown name \"{name}\": Cannot bind query parameter. Field '{name}' could not be found in request message."
            ))),
            None => Ok(()),
        }
    }

    pub fn new(api: &'static Api, row: &'static MethodRow) -> Self {
        let segs = row
            .path
            .trim_start_matches('/')
            .split('/')
            .map(|s| {
                if let Some(inner) = s.strip_prefix('{') {
                    if let Some((var, verb)) = inner.split_once("}:") {
                        return Seg::VarVerb(var.to_string(), verb.to_string());
                    }
                    let var = inner.trim_end_matches('}');
                    return match var.strip_suffix("=**") {
                        Some(rest) => Seg::Rest(rest.to_string()),
                        None => Seg::Var(var.to_string()),
                    };
                }
                Seg::Lit(s.to_string())
            })
            .collect();
        Route {
            segs,
            service: api.service,
            enums: api.enums,
            row,
        }
    }

    /// The decoded path variables when `path` (raw, still percent-encoded) matches.
    pub fn matches(&self, method: &Method, path: &str) -> Option<Vec<(String, String)>> {
        if *method != self.row.verb {
            return None;
        }
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut params = Vec::new();
        for (i, seg) in self.segs.iter().enumerate() {
            if let Seg::Rest(name) = seg {
                let rest = parts.get(i..).filter(|r| !r.is_empty())?.join("/");
                params.push((name.clone(), decode(&rest)));
                return Some(params);
            }
            let part = *parts.get(i)?;
            match seg {
                Seg::Lit(lit) => (part == lit).then_some(())?,
                Seg::Var(name) => {
                    if part.is_empty() || part.contains(':') {
                        return None;
                    }
                    params.push((name.clone(), decode(part)));
                }
                Seg::VarVerb(name, verb) => {
                    let value = part.strip_suffix(verb.as_str())?.strip_suffix(':')?;
                    if value.is_empty() {
                        return None;
                    }
                    params.push((name.clone(), decode(value)));
                }
                Seg::Rest(_) => unreachable!("handled above"),
            }
        }
        (parts.len() == self.segs.len()).then_some(params)
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Everything a handler needs about one call.
pub struct Call {
    pub emu: Emu,
    /// The authenticated caller (an email), when there is one.
    pub principal: Option<String>,
    pub params: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub enums: &'static [EnumField],
}

impl Call {
    /// A path variable of the route (empty if the route has none by that name).
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// A query parameter (the last one when repeated); empty values count as absent. A
    /// camelCase `name` also finds its proto (snake_case) spelling, as Google accepts both.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, v)| same_param(k, name) && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated query parameter.
    pub fn query_all(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| same_param(k, name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A boolean query parameter (`validateOnly=true`); absent is false.
    pub fn query_bool(&self, name: &str) -> Result<bool, ApiError> {
        match self.query(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(ApiError::invalid_argument(format!(
                "Invalid value at '{name}' (TYPE_BOOL), \"{other}\""
            ))),
        }
    }

    /// An int32 query parameter (`pageSize`); absent is 0.
    pub fn query_i32(&self, name: &str) -> Result<i32, ApiError> {
        self.query(name).map_or(Ok(0), |v| {
            v.parse().map_err(|_| {
                ApiError::invalid_argument(format!(
                    "Invalid value at '{name}' (TYPE_INT32), \"{v}\""
                ))
            })
        })
    }

    /// The body parsed strictly (unknown fields rejected), enums normalised to names.
    pub fn body<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        json::parse_body(&self.body, self.enums)
    }
}

fn same_param(sent: &str, name: &str) -> bool {
    sent == name || (sent.contains('_') && json::camel_case(sent) == name)
}

/// Cuts a list into a page: `pageToken` is an offset, `pageSize` 0 means `default_size`.
/// Returns the page and the next token, if more remain.
pub fn paginate<T: Clone>(
    items: &[T],
    call: &Call,
    default_size: usize,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    paginate_by(items, call, "pageSize", default_size)
}

/// The same, with the page size in `size_param` (Compute Engine's `maxResults`).
pub fn paginate_by<T: Clone>(
    items: &[T],
    call: &Call,
    size_param: &str,
    default_size: usize,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let size = match call.query_i32(size_param)? {
        n if n < 0 => {
            return Err(ApiError::invalid_argument(format!(
                "{size_param} must not be negative"
            )));
        }
        0 => default_size,
        n => n as usize,
    };
    let start = match call.query("pageToken") {
        None => 0,
        Some(token) => token
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= items.len())
            .ok_or_else(|| ApiError::invalid_argument("The page token is invalid."))?,
    };
    let end = (start + size).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((items[start..end].to_vec(), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler(_: Call) -> HandlerFuture {
        Box::pin(async { Ok(Reply::Json(serde_json::Value::Null)) })
    }

    static TEST_API: Api = Api {
        service: "",
        enums: &[],
        methods: &[
            row(
                Method::POST,
                "/v3/projects/{project}:setIamPolicy",
                "x.setIamPolicy",
                &[],
                handler,
            ),
            row(
                Method::GET,
                "/v3/projects/{project}",
                "x.get",
                &["view"],
                handler,
            ),
            row(
                Method::GET,
                "/storage/v1/b/{bucket}/o/{object=**}",
                "x.objects.get",
                &[],
                handler,
            ),
        ],
    };

    fn route(id: &str) -> Route {
        TEST_API
            .routes()
            .find(|r| r.id() == id)
            .expect("the test table has this id")
    }

    #[test]
    fn templates_match_vars_verbs_and_rest() {
        let r = route("x.setIamPolicy");
        assert_eq!(
            r.matches(&Method::POST, "/v3/projects/p1:setIamPolicy"),
            Some(vec![("project".into(), "p1".into())])
        );
        assert_eq!(r.matches(&Method::POST, "/v3/projects/p1"), None);
        let g = route("x.get");
        assert_eq!(
            g.matches(&Method::GET, "/v3/projects/p1:getIamPolicy"),
            None
        );
        let o = route("x.objects.get");
        assert_eq!(
            o.matches(&Method::GET, "/storage/v1/b/bk/o/a%2Fb.tgz"),
            Some(vec![
                ("bucket".into(), "bk".into()),
                ("object".into(), "a/b.tgz".into())
            ])
        );
    }

    #[test]
    fn only_declared_and_system_query_parameters_pass() {
        let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let g = route("x.get");
        assert!(
            g.check_query(&q(&[("view", "FULL"), ("$alt", "json")]))
                .is_ok()
        );
        let err = g
            .check_query(&q(&[("bogus", "1")]))
            .expect_err("an undeclared parameter is refused");
        assert!(
            err.message.contains("Cannot bind query parameter"),
            "{}",
            err.message
        );
        assert!(
            route("x.setIamPolicy")
                .check_query(&q(&[("view", "FULL")]))
                .is_err()
        );
    }
}
