//! How other chatctl commands find a running `up --local`: while it runs, it writes where its
//! emulated APIs and its front door are (`local-ENV.json` in the runtime directory) and removes
//! the file when it stops. `logs --local` and `open --local` read it; a file left by a chatctl
//! that died (its process is gone) counts as no stack.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, Environment};

/// What a running `up --local` publishes about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocalStack {
    /// The process of `up --local`.
    pub pid: u32,
    pub project: String,
    pub region: String,
    pub env: String,
    /// The in-process emulator's base URL (loopback).
    pub emulator: String,
    /// The front door, the service's URL.
    pub front_door: String,
}

/// The directory of the session files: CHATCTL_RUNTIME_DIR, `$XDG_RUNTIME_DIR/chatctl`, else
/// `chatctl-UID` in the temporary directory.
fn directory(environment: &Environment) -> PathBuf {
    environment
        .runtime_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("chatctl-{}", nix::unistd::getuid())))
}

fn file(environment: &Environment, env: &str) -> PathBuf {
    directory(environment).join(format!("local-{env}.json"))
}

/// The published file; removed when dropped (the stack stopped).
pub struct Published(PathBuf);

impl Drop for Published {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Publishes `stack` for the other commands.
pub fn publish(environment: &Environment, stack: &LocalStack) -> std::io::Result<Published> {
    let path = file(environment, &stack.env);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(stack).map_err(std::io::Error::other)?;
    let temporary = path.with_extension("json.tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, &path)?;
    Ok(Published(path))
}

/// The running stack of environment `env`, or a configuration error saying how to start one.
pub fn find(environment: &Environment, env: &str) -> Result<LocalStack, ConfigError> {
    let path = file(environment, env);
    let not_running = |why: &str| {
        ConfigError(format!(
            "no `chatctl up --local` is running for environment `{env}` on this machine ({why}: \
             {}): start it with `chatctl up --local` (add --env {env} if it is not the default) \
             and run this again from another terminal",
            path.display()
        ))
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(not_running("no session file"));
        }
        Err(e) => return Err(not_running(&format!("cannot read the session file, {e}"))),
    };
    let stack: LocalStack =
        serde_json::from_str(&text).map_err(|_| not_running("unreadable session file"))?;
    if !alive(stack.pid) {
        return Err(not_running("its process is gone"));
    }
    Ok(stack)
}

/// Whether process `pid` exists (signal 0 checks without sending anything).
fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(errno) => errno == nix::errno::Errno::EPERM,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_stack_is_found_until_it_stops() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let environment = Environment {
            runtime_dir: Some(dir.path().join("rt")),
            ..Environment::default()
        };
        let stack = LocalStack {
            pid: std::process::id(),
            project: "local-project".into(),
            region: "us-central1".into(),
            env: "default".into(),
            emulator: "http://127.0.0.1:1".into(),
            front_door: "http://127.0.0.1:2".into(),
        };
        let published = publish(&environment, &stack).expect("published");
        assert_eq!(
            find(&environment, "default").expect("found").front_door,
            "http://127.0.0.1:2"
        );
        assert!(find(&environment, "other").is_err());
        drop(published);
        let error = find(&environment, "default").expect_err("gone once stopped");
        assert!(error.0.contains("chatctl up --local"), "{}", error.0);
    }
}
