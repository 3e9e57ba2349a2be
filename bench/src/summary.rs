//! The human-readable summaries chat-bench prints on stderr next to the JSON line.

use crate::fanout::FanoutReport;
use crate::idle::IdleReport;
use crate::latency::Summary;
use crate::procfs::CpuUse;

pub fn fanout(report: &FanoutReport) -> String {
    let mut lines = vec![
        format!(
            "fanout ({:?}): {:.0} deliveries/s ({} of {} expected, {} lost, {} surplus, {} out of order)",
            report.protocol,
            report.deliveries_per_s,
            report.received_deliveries,
            report.expected_deliveries,
            report.lost_deliveries,
            report.surplus_deliveries,
            report.out_of_order
        ),
        format!(
            "  sent {} ({:.1}/s of {} target), acked {}, send errors {}, ack timeouts {}",
            report.sent,
            report.send_rate,
            report.rate_target,
            report.acked,
            report.send_errors,
            report.ack_timeouts
        ),
        latency_line("delivery latency", &report.latency),
        latency_line("ack latency", &report.ack_latency),
        latency_line("send lag", &report.send_lag),
        cpu_line(&report.cpu),
        format!(
            "  load average {} -> {}",
            report.loadavg_before, report.loadavg_after
        ),
    ];
    if let Some(error) = &report.first_send_error {
        lines.push(format!("  first send error: {error}"));
    }
    if let Some(reason) = &report.first_disconnect {
        lines.push(format!(
            "  {} disconnects, first: {reason}",
            report.disconnects
        ));
    }
    lines.join("\n")
}

pub fn idle(report: &IdleReport) -> String {
    let mut lines = vec![format!(
        "idle: {} of {} connections held ({} failed, {} dropped), setup {:.1} s",
        report.connected,
        report.connections_target,
        report.failed,
        report.disconnects,
        report.setup_s
    )];
    for server in &report.servers {
        lines.push(format!(
            "  pid {}: RSS {:.1} MiB -> {:.1} MiB",
            server.pid,
            server.rss_before_bytes as f64 / 1048576.0,
            server.rss_after_bytes as f64 / 1048576.0
        ));
    }
    match report.bytes_per_connection {
        Some(bytes) => lines.push(format!(
            "  {:.1} KB of server RSS per connection",
            bytes / 1000.0
        )),
        None => lines.push("  (give --pid to measure server memory)".into()),
    }
    lines.push(cpu_line(&report.cpu));
    lines.push(format!("  load average {}", report.loadavg));
    lines.join("\n")
}

fn latency_line(what: &str, summary: &Summary) -> String {
    format!(
        "  {what}: p50 {} ms, p95 {} ms, p99 {} ms, max {} ms ({} samples)",
        summary.p50_ms, summary.p95_ms, summary.p99_ms, summary.max_ms, summary.count
    )
}

fn cpu_line(cpu: &[CpuUse]) -> String {
    let parts: Vec<String> = cpu
        .iter()
        .map(|usage| match usage.pid {
            None => format!("chat-bench {}%", usage.percent_of_core),
            Some(pid) => format!("pid {pid} {}%", usage.percent_of_core),
        })
        .collect();
    format!("  CPU (% of one core): {}", parts.join(", "))
}
