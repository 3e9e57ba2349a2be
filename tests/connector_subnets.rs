//! The connector's /28 and the network's subnets (emulator, API enablement enforced): with a
//! user's own subnet 10.8.0.0/24 on `default`, `--connector-range auto` picks a /28 clear of it
//! and of the region's auto-mode subnet; the fixed default 10.8.0.0/28 is reported by `plan`
//! and refused by `up` before any connector is created, naming the subnet and what to do instead.

mod common;

use std::net::Ipv4Addr;

use chatctl::config::ConnectorRange;
use chatctl::engine::{self, Mode, Outcome, Walk};
use chatctl::resources::{self, Action};
use chatctl::stack::Stack;
use common::Emu;
use tokio_util::sync::CancellationToken;

const SUBNET: &str = "team-subnet";
const SUBNET_RANGE: &str = "10.8.0.0/24";
/// us-central1's subnet of the auto-mode `default` network.
const AUTO_MODE_RANGE: &str = "10.128.0.0/20";

/// First and last address of a CIDR block.
fn span(cidr: &str) -> (u32, u32) {
    let (addr, len) = cidr.split_once('/').expect("a CIDR block");
    let start = u32::from(addr.parse::<Ipv4Addr>().expect("an IPv4 address"));
    let size = 1u64 << (32 - len.parse::<u32>().expect("a prefix length"));
    (start, start + (size - 1) as u32)
}

fn overlap(a: &str, b: &str) -> bool {
    let ((a0, a1), (b0, b1)) = (span(a), span(b));
    a0 <= b1 && b0 <= a1
}

fn failures(walk: &Walk) -> Vec<String> {
    walk.results
        .iter()
        .filter(|(_, r)| !matches!(r.outcome, Outcome::Done))
        .map(|(id, r)| format!("{}: {:?}", id.label(), r.outcome))
        .collect()
}

async fn down_leaves_nothing(emu: &Emu, session: &chatctl::commands::Session, env: &str) {
    let down = engine::walk(Mode::Down, &Stack::down(), &session.ctx, &session.reporter).await;
    assert_eq!(failures(&down), Vec::<String>::new(), "down");
    assert_eq!(emu.leftovers(env).await, "", "down left something");
}

#[tokio::test]
async fn auto_range_keeps_clear_of_every_subnet_of_the_network() {
    let mut emu = Emu::start(61).await;
    emu.insert_subnet(SUBNET, "us-central1", SUBNET_RANGE).await;
    let env = "subauto";
    let mut settings = common::settings(env);
    settings.connector_range = ConnectorRange::Auto;
    let session = emu.session_for(settings, CancellationToken::new()).await;

    let up = engine::walk(Mode::Up, &Stack::up(), &session.ctx, &session.reporter).await;
    assert_eq!(failures(&up), Vec::<String>::new(), "up");
    let connector =
        chatctl::gcp::vpcaccess::get(&session.ctx.google, &session.ctx.settings.names.connector)
            .await
            .expect("read the connector")
            .expect("the connector exists");
    let range = connector.ip_cidr_range;
    assert!(range.ends_with("/28"), "{range}");
    for taken in [SUBNET_RANGE, AUTO_MODE_RANGE] {
        assert!(!overlap(&range, taken), "{range} overlaps {taken}");
    }
    assert_eq!(
        common::contract::violations(&emu.requests().await),
        Vec::<String>::new(),
        "every request is one the real API accepts"
    );
    down_leaves_nothing(&emu, &session, env).await;
}

#[tokio::test]
async fn a_fixed_range_over_a_subnet_is_refused_before_the_connector_is_created() {
    let mut emu = Emu::start(62).await;
    emu.insert_subnet(SUBNET, "us-central1", SUBNET_RANGE).await;
    let env = "subfixed";
    let session = emu.session(env).await; // the default range, 10.8.0.0/28
    assert_eq!(
        session.ctx.settings.connector_range,
        ConnectorRange::Fixed("10.8.0.0/28".into())
    );

    let up = engine::walk(Mode::Up, &Stack::up(), &session.ctx, &session.reporter).await;
    let Outcome::Failed(error) = &up.results[&resources::connector::ID].outcome else {
        panic!(
            "the connector should fail: {:?}",
            up.results[&resources::connector::ID].outcome
        );
    };
    let message = format!("{error:#}");
    for needle in [
        SUBNET,
        SUBNET_RANGE,
        "10.8.0.0/28",
        "--connector-range auto",
    ] {
        assert!(message.contains(needle), "{needle} missing from: {message}");
    }
    assert!(
        matches!(
            up.results[&resources::run_service::ID].outcome,
            Outcome::Skipped(resources::connector::ID)
        ),
        "Cloud Run waits for the connector: {:?}",
        up.results[&resources::run_service::ID].outcome
    );
    // Now that the APIs are enabled, `plan` says so too, reading only.
    let plan = engine::walk(Mode::Plan, &Stack::up(), &session.ctx, &session.reporter).await;
    let planned = plan.results[&resources::connector::ID]
        .planned
        .clone()
        .expect("the connector is planned");
    let Action::Conflict { reason } = &planned.action else {
        panic!("plan should report the clash: {planned:?}");
    };
    assert!(
        reason.contains(SUBNET) && reason.contains("--connector-range auto"),
        "{reason}"
    );

    let log = emu.requests().await;
    let creates: Vec<&serde_json::Value> = log
        .iter()
        .filter(|r| {
            r["method"] == "POST"
                && r["path"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("/connectors?")
        })
        .collect();
    assert!(
        creates.is_empty(),
        "no connector create is sent: {creates:?}"
    );
    assert!(
        log.iter().any(|r| r["path"]
            .as_str()
            .unwrap_or_default()
            .starts_with("/compute/v1/projects/chat-e2e-1/aggregated/subnetworks")),
        "the subnets were read"
    );
    assert_eq!(
        common::contract::violations(&log),
        Vec::<String>::new(),
        "every request is one the real API accepts"
    );
    down_leaves_nothing(&emu, &session, env).await;
}

#[test]
fn the_contract_check_knows_what_compute_accepts() {
    let ok = serde_json::json!({"method": "GET", "path": "/compute/v1/projects/p/aggregated/subnetworks?pageToken=2&%24alt=json&%24apiVersion=2026-09-01", "body": null});
    assert_eq!(
        common::contract::violations(std::slice::from_ref(&ok)),
        Vec::<String>::new()
    );
    for bad in [
        // The compute client asks for string enums: int enums here mean another client.
        "/compute/v1/projects/p/aggregated/subnetworks?%24alt=json%3Benum-encoding%3Dint",
        "/compute/v1/projects/p/aggregated/subnetworks?views=X&%24alt=json",
        "/compute/v1/projects/p/regions/r/subnetworks?%24alt=json",
    ] {
        let request = serde_json::json!({"method": "GET", "path": bad, "body": null});
        assert!(
            !common::contract::violations(std::slice::from_ref(&request)).is_empty(),
            "{bad}"
        );
    }
}
