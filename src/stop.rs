//! Ctrl-C and SIGTERM: the first asks the run to stop at a safe point (no new image or
//! repository is started; batches in flight finish their writes, so nothing is left half
//! written, and the state file is flushed); the second ends the process at once.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Whether a stop was asked for: commands start no new work once it was.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Asks the run to stop at the next safe point.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Listens for Ctrl-C and SIGTERM for the rest of the run (spawn it on the runtime).
pub async fn watch_signals() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot listen for SIGTERM: {e}");
            return;
        }
    };
    loop {
        tokio::select! {
            r = tokio::signal::ctrl_c() => if r.is_err() { return },
            _ = term.recv() => {},
        }
        if requested() {
            eprintln!("referrify: stopped at once (second signal)");
            std::process::exit(130);
        }
        request();
        eprintln!(
            "referrify: stopping: finishing the work in flight, starting nothing new (signal again to stop at once)"
        );
    }
}
