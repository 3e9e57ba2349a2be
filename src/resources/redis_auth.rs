//! The Secret Manager secret holding Redis's AUTH string (`chat-redis-auth-ENV`): created with
//! the environment's labels, its latest version kept equal to the instance's `getAuthString`,
//! roles/secretmanager.secretAccessor for the chat service's identity on this secret only.
//! Publishes the version the service pins. The string itself is only compared, never shown:
//! plan and status say "a new AUTH string", not what it is.

use super::{Action, Outputs, Planned, apis, not_ours, owned, redis, secrets, service_account};
use crate::context::Ctx;
use crate::diff::Change;
use crate::gcp::{redis as instance, secretmanager as api};
use crate::report::{Phase, Progress};
use crate::resource::{Edge, Resource, ResourceId, Teardown};

pub const ID: ResourceId = ResourceId("redis-auth");

/// The secret holding Redis's AUTH string.
pub struct RedisAuth;

/// What the secret's state says when AUTH is off.
/// Why the secret is not used with --no-redis-auth.
const NO_AUTH: &str = "--no-redis-auth";

/// What differs from the wanted secret, in words that never contain the AUTH string.
struct Observed {
    exists: bool,
    /// The latest version, when it holds the instance's AUTH string.
    current_version: Option<String>,
    /// The instance's AUTH string is known (the instance exists and has AUTH on).
    auth_known: bool,
    /// The accessor binding to add, when it is missing.
    bound_change: Option<Change>,
}

async fn observe(ctx: &Ctx) -> anyhow::Result<Observed> {
    let names = &ctx.settings.names;
    let secret = &names.redis_auth_secret;
    let Some(found) = api::get(&ctx.google, secret).await? else {
        return Ok(Observed {
            exists: false,
            current_version: None,
            auth_known: false,
            bound_change: None,
        });
    };
    if !owned(&found.labels, ctx) {
        anyhow::bail!("{}", not_ours("Secret Manager secret", secret, ctx));
    }
    let auth = instance::auth_string(&ctx.google, &names.redis_instance).await?;
    let current_version = match &auth {
        Some(auth) => match api::latest_holds(&ctx.google, secret, auth).await? {
            Some((version, true)) => Some(version),
            _ => None,
        },
        None => None,
    };
    Ok(Observed {
        exists: true,
        current_version,
        auth_known: auth.is_some(),
        bound_change: secrets::accessor_change(ctx, secret).await?,
    })
}

impl Resource for RedisAuth {
    fn id(&self) -> ResourceId {
        ID
    }

    fn needs(&self) -> &'static [Edge] {
        &[
            Edge::Ready(apis::ID),
            Edge::Ready(redis::ID),
            Edge::Ready(service_account::ID),
        ]
    }

    fn read_through(&self) -> &'static [&'static str] {
        &["secretmanager.googleapis.com", "redis.googleapis.com"]
    }

    fn display_name(&self, ctx: &Ctx) -> String {
        ctx.settings.names.redis_auth_secret.clone()
    }

    fn unused_by(&self, ctx: &Ctx) -> Option<String> {
        if ctx.settings.bus != crate::config::Bus::Redis {
            Some(super::leftovers::bus_reason(ctx))
        } else {
            (!ctx.settings.redis_auth).then(|| NO_AUTH.to_string())
        }
    }

    async fn plan(&self, ctx: &Ctx, out: &Outputs) -> anyhow::Result<Planned> {
        let name = &ctx.settings.names.redis_auth_secret;
        if let Some(why) = self.unused_by(ctx) {
            // Without AUTH the caller may hold no Secret Manager role: then there is nothing of
            // ours it could remove either.
            let found = api::get_with(&ctx.google, name, crate::gcp::Read::IfPermitted).await?;
            let found = found.map(|s| (s.labels, "ENABLED".to_string()));
            return Ok(super::leftovers::unused(ctx, name, why, found));
        }
        let seen = match observe(ctx).await {
            Ok(seen) => seen,
            Err(e) if e.to_string().contains("not managed by chatctl") => {
                let reason = e.to_string();
                return Ok(Planned::new(name, "EXISTS", Action::Conflict { reason }));
            }
            Err(e) => return Err(e),
        };
        if !seen.exists {
            return Ok(Planned::new(name, "absent", Action::Create));
        }
        if let Some(version) = &seen.current_version {
            out.update(|v| v.redis_auth_version = Some(version.clone()));
        }
        let mut changes = Vec::new();
        if seen.auth_known && seen.current_version.is_none() {
            changes.push(Change {
                path: "versions.latest".into(),
                from: "not the instance's AUTH string".into(),
                to: "the instance's AUTH string (new version)".into(),
            });
        }
        changes.extend(seen.bound_change);
        let action = Action::update_if_any(changes);
        Ok(Planned::new(name, "ENABLED", action))
    }

    async fn apply(
        &self,
        ctx: &Ctx,
        out: &Outputs,
        planned: &Planned,
        progress: &Progress<'_>,
    ) -> anyhow::Result<()> {
        let names = &ctx.settings.names;
        let secret = &names.redis_auth_secret;
        match &planned.action {
            Action::Create | Action::Update { .. } => {
                progress.phase(if matches!(planned.action, Action::Create) {
                    Phase::Creating
                } else {
                    Phase::Updating
                });
                secrets::create_or_adopt(ctx, secret).await?;
                let Some(auth) = instance::auth_string(&ctx.google, &names.redis_instance).await?
                else {
                    anyhow::bail!(
                        "Redis instance {} has AUTH off, so there is no AUTH string to keep in \
                         secret {secret}: run `chatctl up` again (it turns AUTH on), or pass \
                         --no-redis-auth",
                        names.redis_instance
                    );
                };
                let version = match api::latest_holds(&ctx.google, secret, &auth).await? {
                    Some((version, true)) => version,
                    _ => api::add_version(&ctx.google, secret, &auth).await?,
                };
                secrets::grant_accessor(ctx, secret).await?;
                out.update(|v| v.redis_auth_version = Some(version));
                Ok(())
            }
            Action::Resume { .. }
            | Action::Replace { .. }
            | Action::NoOp
            | Action::Delete
            | Action::Conflict { .. } => Ok(()),
        }
    }

    fn teardown(&self) -> Teardown {
        Teardown::Delete
    }

    async fn destroy(
        &self,
        ctx: &Ctx,
        _out: &Outputs,
        progress: &Progress<'_>,
    ) -> anyhow::Result<bool> {
        secrets::destroy(ctx, &ctx.settings.names.redis_auth_secret, progress).await
    }
}
