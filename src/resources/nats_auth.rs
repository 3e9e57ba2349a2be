//! `--bus nats`: the Secret Manager secret `chat-nats-auth-ENV` holding the NATS server's URL
//! with its credentials, `nats://chat:PASSWORD@INTERNAL_IP:4222`. The password is generated
//! once per environment and kept across versions; a new VM address is a new version (same
//! password). chat-identity-ENV gets roles/secretmanager.secretAccessor on this secret only:
//! Cloud Run reads it as NATS_URL (valueSource.secretKeyRef, pinned version), and the VM,
//! running as that account, reads the password from it at boot. The secret comes after the VM
//! (its value needs the VM's address); the VM's boot waits for its first version.
//! Neither the password nor the URL with it is ever shown: plan and status describe versions in
//! words.

use rand::distr::{Alphanumeric, SampleString as _};

use super::{Action, Outputs, Planned, apis, nats_vm, not_ours, owned, secrets, service_account};
use crate::context::Ctx;
use crate::diff::Change;
use crate::gcp::secretmanager as api;
use crate::report::{Phase, Progress};
use crate::resource::{Edge, Resource, ResourceId, Teardown};

pub const ID: ResourceId = ResourceId("nats-auth");

/// The secret holding the NATS URL with credentials.
pub struct NatsAuth;

/// Length of the generated password (letters and digits: safe in a URL and a nats config).
const PASSWORD_LEN: usize = 32;

/// The URL the service connects with.
fn url(password: &str, host: &str) -> String {
    format!(
        "nats://{}:{password}@{host}:{}",
        nats_vm::NATS_USER,
        nats_vm::NATS_PORT
    )
}

/// The password and host of a stored URL (None when it is not one chatctl wrote).
fn parse(value: &str) -> Option<(&str, &str)> {
    let rest = value.strip_prefix("nats://")?;
    let (credentials, address) = rest.rsplit_once('@')?;
    let (user, password) = credentials.split_once(':')?;
    let host = address.rsplit_once(':')?.0;
    (user == nats_vm::NATS_USER && !password.is_empty()).then_some((password, host))
}

/// The VM's internal address, published by `nats_vm` (`nats://IP:4222`).
fn vm_host(out: &Outputs) -> Option<String> {
    let url = out.get().nats_url?;
    let address = url.strip_prefix("nats://")?;
    Some(address.rsplit_once(':')?.0.to_string())
}

impl Resource for NatsAuth {
    fn id(&self) -> ResourceId {
        ID
    }

    fn needs(&self) -> &'static [Edge] {
        &[
            Edge::Ready(apis::ID),
            Edge::Ready(service_account::ID),
            Edge::Ready(nats_vm::ID),
        ]
    }

    fn read_through(&self) -> &'static [&'static str] {
        &["secretmanager.googleapis.com"]
    }

    fn display_name(&self, ctx: &Ctx) -> String {
        ctx.settings.names.nats_auth_secret.clone()
    }

    fn unused_by(&self, ctx: &Ctx) -> Option<String> {
        (!super::leftovers::provisions_nats(ctx)).then(|| super::leftovers::bus_reason(ctx))
    }

    async fn plan(&self, ctx: &Ctx, out: &Outputs) -> anyhow::Result<Planned> {
        let name = &ctx.settings.names.nats_auth_secret;
        let found = api::get_with(&ctx.google, name, super::leftovers::lookup(ctx)).await?;
        if !super::leftovers::provisions_nats(ctx) {
            let found = found.map(|s| (s.labels, "ENABLED".to_string()));
            return Ok(super::leftovers::unused(
                ctx,
                name,
                super::leftovers::bus_reason(ctx),
                found,
            ));
        }
        let Some(secret) = found else {
            return Ok(Planned::new(name, "absent", Action::Create));
        };
        if !owned(&secret.labels, ctx) {
            let reason = not_ours("Secret Manager secret", name, ctx);
            return Ok(Planned::new(name, "EXISTS", Action::Conflict { reason }));
        }
        let mut changes = Vec::new();
        let host = vm_host(out);
        let latest = api::latest_value(&ctx.google, name).await?;
        let stored = latest.as_ref().and_then(|(_, v)| parse(v));
        match (stored, &host) {
            (Some((_, stored_host)), Some(host)) if stored_host == host => {
                if let Some((version, _)) = &latest {
                    out.update(|v| v.nats_auth_version = Some(version.clone()));
                }
            }
            (Some((_, stored_host)), _) => changes.push(Change {
                path: "versions.latest".into(),
                from: format!("the NATS URL for {stored_host}").into(),
                to: format!(
                    "the NATS URL for {} (same password, new version)",
                    host.as_deref().unwrap_or("the new VM")
                )
                .into(),
            }),
            (None, _) => changes.push(Change {
                path: "versions.latest".into(),
                from: if latest.is_some() {
                    "not a NATS URL of chatctl's"
                } else {
                    "absent"
                }
                .into(),
                to: "the NATS URL with a generated password".into(),
            }),
        }
        changes.extend(secrets::accessor_change(ctx, name).await?);
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
        let secret = &names.nats_auth_secret;
        if !matches!(planned.action, Action::Create | Action::Update { .. }) {
            return Ok(());
        }
        progress.phase(if matches!(planned.action, Action::Create) {
            Phase::Creating
        } else {
            Phase::Updating
        });
        let Some(host) = vm_host(out) else {
            anyhow::bail!(
                "the NATS VM {} has no internal address yet, so secret {secret} cannot hold its \
                 URL: run `chatctl up` again",
                names.nats_vm
            );
        };
        secrets::create_or_adopt(ctx, secret).await?;
        // The accessor first: the VM's boot is waiting to read the version added next.
        secrets::grant_accessor(ctx, secret).await?;
        let latest = api::latest_value(&ctx.google, secret).await?;
        let stored = latest.as_ref().and_then(|(_, v)| parse(v));
        let version = match stored {
            Some((_, stored_host)) if stored_host == host => {
                latest.map(|(version, _)| version).unwrap_or_default()
            }
            _ => {
                let password = match stored {
                    Some((password, _)) => password.to_string(),
                    None => Alphanumeric.sample_string(&mut rand::rng(), PASSWORD_LEN),
                };
                api::add_version(&ctx.google, secret, &url(&password, &host)).await?
            }
        };
        out.update(|v| v.nats_auth_version = Some(version));
        Ok(())
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
        secrets::destroy(ctx, &ctx.settings.names.nats_auth_secret, progress).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_url_gives_back_its_password_and_host() {
        let value = url("s3cret", "10.128.0.2");
        assert_eq!(value, "nats://chat:s3cret@10.128.0.2:4222");
        assert_eq!(parse(&value), Some(("s3cret", "10.128.0.2")));
        assert_eq!(parse("nats://other:pw@10.0.0.1:4222"), None);
        assert_eq!(parse("nats://10.0.0.1:4222"), None);
    }
}
