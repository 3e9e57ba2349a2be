//! Ctrl-C: the first one stops new work (the engine starts nothing new, waits stop, calls in
//! flight return so every started operation has a known name) and the command exits 130; the
//! second exits at once.

use tokio_util::sync::CancellationToken;

use crate::outcome::EXIT_INTERRUPTED;

/// Installs the handler; `on_first` prints what happens next.
pub fn install(cancel: CancellationToken, on_first: impl Fn() + Send + 'static) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        cancel.cancel();
        on_first();
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "second interrupt: exiting at once (operations already started keep running)"
            );
            std::process::exit(EXIT_INTERRUPTED.into());
        }
    });
}
