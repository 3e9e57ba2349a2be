//! The resources of one environment and the edges between them. `up` walks the edges forwards
//! (a resource starts as soon as everything it needs is ready); `down` walks them backwards.

use serde::Serialize;

/// One resource of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResourceId {
    /// The Google APIs the stack uses, enabled in the project.
    Apis,
    /// The chat service's identity.
    ServiceAccount,
    /// roles/serviceusage.serviceUsageConsumer for the service account on the project.
    ProjectBinding,
    /// The Memorystore for Redis instance.
    Redis,
    /// The Serverless VPC Access connector Cloud Run reaches Redis through.
    Connector,
    /// The chat-server container image, built or checked, by digest.
    Image,
    /// The Cloud Run service running chat-server.
    RunService,
    /// roles/run.invoker for allUsers on the service (or its absence).
    PublicAccess,
}

impl ResourceId {
    pub const ALL: [ResourceId; 8] = [
        ResourceId::Apis,
        ResourceId::ServiceAccount,
        ResourceId::ProjectBinding,
        ResourceId::Redis,
        ResourceId::Connector,
        ResourceId::Image,
        ResourceId::RunService,
        ResourceId::PublicAccess,
    ];

    /// Short label used in progress lines and JSON events.
    pub fn label(self) -> &'static str {
        match self {
            ResourceId::Apis => "apis",
            ResourceId::ServiceAccount => "service-account",
            ResourceId::ProjectBinding => "project-binding",
            ResourceId::Redis => "redis",
            ResourceId::Connector => "connector",
            ResourceId::Image => "image",
            ResourceId::RunService => "run-service",
            ResourceId::PublicAccess => "public-access",
        }
    }

    /// What `up` needs before this resource can be created.
    pub fn needs(self) -> &'static [ResourceId] {
        use ResourceId::*;
        match self {
            Apis => &[],
            ServiceAccount | Redis | Connector | Image => &[Apis],
            ProjectBinding => &[ServiceAccount],
            RunService => &[Apis, ServiceAccount, Redis, Connector, Image],
            PublicAccess => &[RunService],
        }
    }
}

/// Which way a walk goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
}

/// A graph of resources: each node with the nodes it waits for.
#[derive(Debug, Clone)]
pub struct Stack {
    pub nodes: Vec<(ResourceId, Vec<ResourceId>)>,
}

impl Stack {
    /// `up`, `plan` and `status`: every resource, after what it needs.
    pub fn up() -> Self {
        Stack {
            nodes: ResourceId::ALL
                .iter()
                .map(|&id| (id, id.needs().to_vec()))
                .collect(),
        }
    }

    /// `down`: reverse edges. The APIs stay enabled (disabling them would affect everything
    /// else in the project), the public binding goes with its service, and the image stays in
    /// its repository (shared with other environments and `gcloud run deploy --source`).
    pub fn down() -> Self {
        let kept = |id: &ResourceId| {
            !matches!(
                id,
                ResourceId::Apis | ResourceId::PublicAccess | ResourceId::Image
            )
        };
        let nodes = ResourceId::ALL
            .iter()
            .filter(|id| kept(id))
            .map(|&id| {
                // The service account goes last: a just-created one can be invisible to reads,
                // and what else `down` finds tells whether to look harder (service_account.rs).
                let after: Vec<ResourceId> = ResourceId::ALL
                    .iter()
                    .filter(|other| kept(other) && **other != id)
                    .filter(|other| other.needs().contains(&id) || id == ResourceId::ServiceAccount)
                    .copied()
                    .collect();
                (id, after)
            })
            .collect();
        Stack { nodes }
    }

    /// Only the `keep` resources, with the edges among them (tests, partial walks).
    pub fn subset(&self, keep: &[ResourceId]) -> Self {
        Stack {
            nodes: self
                .nodes
                .iter()
                .filter(|(id, _)| keep.contains(id))
                .map(|(id, deps)| {
                    let deps = deps.iter().filter(|d| keep.contains(d)).copied().collect();
                    (*id, deps)
                })
                .collect(),
        }
    }

    /// The longest chain of `duration(id)` through the graph (the critical path).
    pub fn critical_path(&self, duration: impl Fn(ResourceId) -> f64) -> f64 {
        fn finish(stack: &Stack, id: ResourceId, duration: &dyn Fn(ResourceId) -> f64) -> f64 {
            let deps = &stack.nodes.iter().find(|(n, _)| *n == id).expect("node").1;
            let start = deps
                .iter()
                .map(|&d| finish(stack, d, duration))
                .fold(0.0, f64::max);
            start + duration(id)
        }
        self.nodes
            .iter()
            .map(|(id, _)| finish(self, *id, &duration))
            .fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_deletes_the_service_before_what_it_uses() {
        let down = Stack::down();
        let after = |id| down.nodes.iter().find(|(n, _)| *n == id).unwrap().1.clone();
        assert!(after(ResourceId::Redis).contains(&ResourceId::RunService));
        assert!(after(ResourceId::Connector).contains(&ResourceId::RunService));
        assert!(after(ResourceId::ServiceAccount).contains(&ResourceId::ProjectBinding));
        assert!(after(ResourceId::RunService).is_empty());
        assert!(!down.nodes.iter().any(|(n, _)| *n == ResourceId::Apis));
        assert!(!down.nodes.iter().any(|(n, _)| *n == ResourceId::Image));
    }

    #[test]
    fn critical_path_is_the_longest_chain() {
        let up = Stack::up();
        let path = up.critical_path(|id| match id {
            ResourceId::Apis => 1.0,
            ResourceId::Redis => 10.0,
            ResourceId::Connector => 5.0,
            ResourceId::RunService => 2.0,
            ResourceId::PublicAccess => 0.5,
            _ => 0.1,
        });
        assert_eq!(path, 13.5);
    }
}
