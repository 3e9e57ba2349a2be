//! The graph of one environment's resources, derived from the table `resources::ALL`: `up`
//! walks each resource's edges forwards (it starts as soon as what it needs allows); `down`
//! walks the deletable ones backwards.

use crate::resource::Teardown;
pub use crate::resource::{Edge, ResourceId};
use crate::resources::ALL;

/// A graph of resources: each node with the edges it waits on.
#[derive(Debug, Clone)]
pub struct Stack {
    pub nodes: Vec<(ResourceId, Vec<Edge>)>,
}

impl Stack {
    /// `up`, `plan` and `status`: every resource, after what it needs.
    pub fn up() -> Self {
        Stack {
            nodes: ALL.iter().map(|r| (r.id(), r.needs().to_vec())).collect(),
        }
    }

    /// `down`: the resources `down` deletes, each after everything that needs it (the reverse
    /// of `up`'s [`Edge::Ready`] edges; [`Edge::Accepted`] orders `up` only), and [`Teardown::DeleteLast`] ones after all the others. What is kept
    /// (enabled APIs, the shared image, the public binding that goes with its service) is not
    /// walked.
    pub fn down() -> Self {
        let deleted: Vec<_> = ALL
            .iter()
            .filter(|r| r.teardown() != Teardown::Keep)
            .collect();
        let nodes = deleted
            .iter()
            .map(|r| {
                let after = deleted
                    .iter()
                    .filter(|other| other.id() != r.id())
                    .filter(|other| {
                        (r.teardown() == Teardown::DeleteLast
                            && other.teardown() != Teardown::DeleteLast)
                            || other.needs().contains(&Edge::Ready(r.id()))
                    })
                    .map(|other| Edge::Ready(other.id()))
                    .collect();
                (r.id(), after)
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
                .map(|(id, edges)| {
                    let edges = edges
                        .iter()
                        .filter(|e| keep.contains(&e.target()))
                        .copied()
                        .collect();
                    (*id, edges)
                })
                .collect(),
        }
    }

    /// The edges of `id` (none for a resource not in the graph).
    pub fn edges(&self, id: ResourceId) -> &[Edge] {
        self.nodes
            .iter()
            .find(|(n, _)| *n == id)
            .map(|(_, edges)| edges.as_slice())
            .unwrap_or_default()
    }

    /// The longest chain of `duration(id)` through the graph (the critical path). A resource
    /// starts when its [`Edge::Ready`] targets finish and its [`Edge::Accepted`] targets start
    /// (a create request is accepted at once, compared with what follows it).
    pub fn critical_path(&self, duration: impl Fn(ResourceId) -> f64) -> f64 {
        fn start(stack: &Stack, id: ResourceId, duration: &dyn Fn(ResourceId) -> f64) -> f64 {
            stack
                .edges(id)
                .iter()
                .map(|edge| match *edge {
                    Edge::Ready(dep) => start(stack, dep, duration) + duration(dep),
                    Edge::Accepted { of, .. } => start(stack, of, duration),
                })
                .fold(0.0, f64::max)
        }
        self.nodes
            .iter()
            .map(|(id, _)| start(self, *id, &duration) + duration(*id))
            .fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{
        apis, connector, image, project_binding, public_access, redis, run_service, service_account,
    };

    fn after(stack: &Stack, id: ResourceId) -> Vec<ResourceId> {
        stack.edges(id).iter().map(|e| e.target()).collect()
    }

    #[test]
    fn down_deletes_the_service_before_what_it_uses() {
        let down = Stack::down();
        assert!(after(&down, redis::ID).contains(&run_service::ID));
        assert!(after(&down, connector::ID).contains(&run_service::ID));
        assert!(after(&down, service_account::ID).contains(&project_binding::ID));
        assert!(after(&down, service_account::ID).contains(&redis::ID));
        assert!(after(&down, run_service::ID).is_empty());
        for kept in [apis::ID, image::ID, public_access::ID] {
            assert!(!down.nodes.iter().any(|(n, _)| *n == kept), "{kept}");
        }
    }

    #[test]
    fn the_service_account_waits_for_the_redis_create_to_be_accepted() {
        let up = Stack::up();
        assert!(up.edges(service_account::ID).iter().any(|e| matches!(
            e,
            Edge::Accepted { of, .. } if *of == redis::ID
        )));
    }

    #[test]
    fn critical_path_is_the_longest_chain() {
        let up = Stack::up();
        let path = up.critical_path(|id| match id.label() {
            "apis" => 1.0,
            "redis" => 10.0,
            "connector" => 5.0,
            "run-service" => 2.0,
            "public-access" => 0.5,
            _ => 0.1,
        });
        // apis → subnet (the Direct VPC egress check, a read) → redis → redis-auth (the AUTH
        // string's secret) → run-service → public-access.
        assert!((path - 13.7).abs() < 1e-9, "{path}");
    }

    #[test]
    fn an_accepted_edge_counts_from_the_start_of_what_it_waits_for() {
        // b starts after a (5); c starts once b has started (5), not at 0.
        let (a, b, c) = (ResourceId("a"), ResourceId("b"), ResourceId("c"));
        let within = std::time::Duration::from_secs(1);
        let stack = Stack {
            nodes: vec![
                (a, vec![]),
                (b, vec![Edge::Ready(a)]),
                (c, vec![Edge::Accepted { of: b, within }]),
            ],
        };
        let path = stack.critical_path(|id| match id.label() {
            "a" => 5.0,
            "b" => 1.0,
            _ => 3.0,
        });
        assert_eq!(path, 8.0);
    }
}
