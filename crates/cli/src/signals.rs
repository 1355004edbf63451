//! How a long-running command (`node`, `devnet`, `provider`, `relay`) learns
//! that it is asked to stop.

use tokio::signal::unix::{signal, SignalKind};

/// Resolves when the process is asked to stop: Ctrl-C (SIGINT), or SIGTERM,
/// which `docker stop`, systemd and a bare `kill` send. Without a handler
/// for SIGTERM, a process that is its container's PID 1 ignores it, and
/// `docker stop` waits ten seconds before it kills it.
pub(crate) async fn stop_asked() {
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        // No SIGTERM handler could be set: Ctrl-C still works.
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
