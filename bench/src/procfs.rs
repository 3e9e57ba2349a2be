//! What chat-bench reads from /proc: CPU time (ours and the servers'), server RSS, open-file
//! limits and the load average; and raising our own RLIMIT_NOFILE.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;

/// Linux reports /proc/PID/stat times in USER_HZ, which is 100 on every architecture's ABI.
const USER_HZ: f64 = 100.0;

/// Total user + system CPU time of a process (all its threads). `pid` None means this process.
pub fn cpu_time(pid: Option<u32>) -> Result<Duration> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let stat = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    // The command name (field 2) may contain spaces; fields after its closing ')' are fixed.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("unexpected format of {path}"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, i.e. 11 and 12 after the name.
    let ticks = |index: usize| -> Result<f64> {
        fields
            .get(index)
            .and_then(|field| field.parse::<f64>().ok())
            .with_context(|| format!("unexpected format of {path}"))
    };
    Ok(Duration::from_secs_f64((ticks(11)? + ticks(12)?) / USER_HZ))
}

/// Resident set size of a process in bytes (VmRSS).
pub fn rss_bytes(pid: u32) -> Result<u64> {
    let kib = status_field(pid, "VmRSS:")?;
    Ok(kib * 1024)
}

fn status_field(pid: u32, name: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path)
        .with_context(|| format!("read {path}: is process {pid} running and yours to inspect?"))?;
    let line = status
        .lines()
        .find(|line| line.starts_with(name))
        .with_context(|| format!("{path} has no {name} line"))?;
    line[name.len()..]
        .split_whitespace()
        .next()
        .and_then(|value| value.parse().ok())
        .with_context(|| format!("unreadable {name} in {path}"))
}

/// The soft "Max open files" limit of a process, `None` when unlimited.
pub fn open_file_limit(pid: u32) -> Result<Option<u64>> {
    let path = format!("/proc/{pid}/limits");
    let limits = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .with_context(|| format!("{path} has no 'Max open files' line"))?;
    let soft = line["Max open files".len()..].split_whitespace().next();
    Ok(soft.and_then(|value| value.parse().ok()))
}

/// Warns on stderr when a server's open-file limit cannot hold `connections` sockets.
pub fn warn_low_server_limits(pids: &[u32], connections: usize) {
    let per_server = connections.div_ceil(pids.len().max(1)) as u64;
    for &pid in pids {
        match open_file_limit(pid) {
            Ok(Some(limit)) if limit < per_server + 64 => eprintln!(
                "warning: server pid {pid} may open at most {limit} files but should hold about \
                 {per_server} connections; restart it after `ulimit -n {}`",
                per_server + 1024
            ),
            Ok(_) => {}
            Err(error) => eprintln!("warning: {error:#}"),
        }
    }
}

/// Raises our RLIMIT_NOFILE to its hard limit and checks it covers `connections` sockets.
pub fn raise_open_file_limit(connections: usize) -> Result<u64> {
    let limit = rlimit::increase_nofile_limit(u64::MAX).context("raise RLIMIT_NOFILE")?;
    let needed = connections as u64 + 64;
    if limit < needed {
        bail!(
            "chat-bench can open only {limit} files but needs about {needed} for {connections} \
             connections; raise the hard limit (e.g. `ulimit -Hn {needed}` as root) or use fewer connections"
        );
    }
    Ok(limit)
}

/// The 1/5/15-minute load averages, as `uptime` prints them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// CPU use of one process over a window.
#[derive(Debug, Serialize)]
pub struct CpuUse {
    /// `None` for chat-bench itself.
    pub pid: Option<u32>,
    pub cpu_seconds: f64,
    /// Percent of one core (200 = two cores saturated).
    pub percent_of_core: f64,
}

/// CPU times of chat-bench and the given servers at one instant.
pub struct CpuSnapshot {
    at: std::time::Instant,
    times: Vec<(Option<u32>, Option<Duration>)>,
}

impl CpuSnapshot {
    pub fn take(pids: &[u32]) -> Self {
        let who = std::iter::once(None).chain(pids.iter().copied().map(Some));
        Self {
            at: std::time::Instant::now(),
            times: who.map(|pid| (pid, cpu_time(pid).ok())).collect(),
        }
    }

    /// CPU used by each process between `self` and `later`.
    pub fn usage_until(&self, later: &CpuSnapshot) -> Vec<CpuUse> {
        let wall = (later.at - self.at).as_secs_f64().max(1e-9);
        self.times
            .iter()
            .zip(&later.times)
            .filter_map(|((pid, before), (_, after))| {
                let used = after
                    .as_ref()?
                    .saturating_sub(*before.as_ref()?)
                    .as_secs_f64();
                Some(CpuUse {
                    pid: *pid,
                    cpu_seconds: used,
                    percent_of_core: (used / wall * 1000.0).round() / 10.0,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process() {
        let pid = std::process::id();
        assert!(rss_bytes(pid).unwrap() > 0);
        assert!(cpu_time(Some(pid)).is_ok());
        assert!(cpu_time(None).is_ok());
        assert!(!load_average().is_empty());
    }

    #[test]
    fn names_a_missing_process() {
        let error = rss_bytes(u32::MAX).unwrap_err().to_string();
        assert!(error.contains("is process"), "{error}");
    }
}
