//! IAM policy read-modify-write with etags, shared by the project policy and the Cloud Run
//! service policy: the whole cycle is redone when a concurrent writer wins (ABORTED).

use std::future::Future;

use google_cloud_gax::error::Error as GaxError;
use google_cloud_iam_v1::model::{Binding, Policy};

use super::errors::{Call, Kind, classify, explain};
use super::retry::RetryPolicy;

const MAX_CYCLES: u32 = 12;

/// Reads the policy, applies `edit` (which says whether it changed anything) and writes it back
/// with the etag it read. Returns whether a write happened.
pub async fn read_modify_write<G, GF, S, SF>(
    retry: &RetryPolicy,
    call: Call<'_>,
    mut get: G,
    mut set: S,
    edit: impl Fn(&mut Policy) -> bool,
) -> anyhow::Result<bool>
where
    G: FnMut() -> GF,
    GF: Future<Output = Result<Policy, GaxError>>,
    S: FnMut(Policy) -> SF,
    SF: Future<Output = Result<Policy, GaxError>>,
{
    for cycle in 0..MAX_CYCLES {
        let mut policy = retry
            .run(call.what, &mut get)
            .await
            .map_err(|e| explain(e, call))?;
        if !edit(&mut policy) {
            return Ok(false);
        }
        match retry.run(call.what, || set(policy.clone())).await {
            Ok(_) => return Ok(true),
            Err(err) if classify(&err) == Kind::Conflict => {
                tracing::info!(
                    what = call.what,
                    cycle,
                    "concurrent policy change; redoing read-modify-write"
                );
                tokio::time::sleep(retry.backoff(cycle)).await;
            }
            Err(err) => return Err(explain(err, call)),
        }
    }
    anyhow::bail!(
        "{}: the policy kept changing under us ({MAX_CYCLES} read-modify-write cycles); rerun the command",
        call.what
    )
}

/// Whether `member` holds `role` (unconditionally).
pub fn has_member(policy: &Policy, role: &str, member: &str) -> bool {
    policy
        .bindings
        .iter()
        .any(|b| b.role == role && b.condition.is_none() && b.members.iter().any(|m| m == member))
}

/// Adds `member` to `role`; false when it already was there.
pub fn add_member(policy: &mut Policy, role: &str, member: &str) -> bool {
    if has_member(policy, role, member) {
        return false;
    }
    match policy
        .bindings
        .iter_mut()
        .find(|b| b.role == role && b.condition.is_none())
    {
        Some(binding) => binding.members.push(member.to_string()),
        None => policy.bindings.push(
            Binding::new()
                .set_role(role)
                .set_members([member.to_string()]),
        ),
    }
    true
}

/// Removes `member` from `role`; false when it was not there.
pub fn remove_member(policy: &mut Policy, role: &str, member: &str) -> bool {
    if !has_member(policy, role, member) {
        return false;
    }
    for binding in policy
        .bindings
        .iter_mut()
        .filter(|b| b.role == role && b.condition.is_none())
    {
        binding.members.retain(|m| m != member);
    }
    policy.bindings.retain(|b| !b.members.is_empty());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_remove_keep_other_members() {
        let mut policy = Policy::new().set_bindings([Binding::new()
            .set_role("roles/viewer")
            .set_members(["user:a@example.com"])]);
        assert!(add_member(
            &mut policy,
            "roles/viewer",
            "user:b@example.com"
        ));
        assert!(!add_member(
            &mut policy,
            "roles/viewer",
            "user:b@example.com"
        ));
        assert!(add_member(&mut policy, "roles/run.invoker", "allUsers"));
        assert!(remove_member(&mut policy, "roles/run.invoker", "allUsers"));
        assert!(!remove_member(&mut policy, "roles/run.invoker", "allUsers"));
        assert_eq!(policy.bindings.len(), 1);
        assert_eq!(policy.bindings[0].members.len(), 2);
    }
}
