//! Ctrl-C: the first one stops new work (the engine starts nothing new, waits stop, calls in
//! flight return so every started operation has a known name) and the command exits 130; the
//! second exits at once.

use tokio_util::sync::CancellationToken;

use crate::outcome::EXIT_INTERRUPTED;
use crate::report::{self, OutputFormat};

/// Installs the handler; its notices go out in `format`.
pub fn install(cancel: CancellationToken, format: OutputFormat) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        cancel.cancel();
        report::notice(
            format,
            "interrupt received: starting nothing new and reporting what is in flight (press \
             Ctrl-C again to exit at once)",
        );
        if tokio::signal::ctrl_c().await.is_ok() {
            report::notice(
                format,
                "second interrupt: exiting at once (operations already started keep running)",
            );
            std::process::exit(EXIT_INTERRUPTED.into());
        }
    });
}
