//! Keeps the consensus engine serving the application, and restarts it when
//! the chain stalls.
//!
//! Malachite 0.5 dials its consensus peers only when it starts and gives up
//! after five tries (about 19 s); nothing in its configuration changes that. A
//! validator whose connections died while its peers were out of reach (a
//! partition, a network blip longer than the connections live) is left alone
//! however long the network is whole again, unless a peer dials it. So when no
//! block is committed for a while, the engine restarts from its write-ahead
//! log, which dials every peer anew. A network that stalls for want of
//! validators restarts too: that costs a log replay and reconnections, never
//! safety (the log keeps this validator's votes), and the wait doubles after
//! each restart that brought no block, up to [`MAX_BACKOFF`] times.
//!
//! A split's connections die within seconds and stay dead when it heals, so
//! every validator stalls at the same block at the same moment, and only a
//! restart reconnects them: the wait is short (10 s by default), and has a
//! random part of up to half of it, so that validators restarting on one
//! clock do not all dial peers that are restarting too. A restart stops the
//! old engine's network before starting the new one (`Engine::kill`).

use crate::app::App;
use crate::engine::{Engine, EngineNode};
use gpunet_ledger::Ledger;
use malachitebft_app_channel::app::node::{Node as _, NodeHandle as _};
use rand::Rng as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// The longest wait between restarts, as a multiple of the configured one.
const MAX_BACKOFF: u32 = 8;

/// A failed start is retried after this long (its port may not be free yet).
const RETRY_START: Duration = Duration::from_secs(1);

/// The running supervisor; dropping it stops the engine as [`Supervisor::stop`] does.
pub(crate) struct Supervisor {
    stop: mpsc::Sender<oneshot::Sender<()>>,
    /// Times the engine was restarted since the node started.
    restarts: Arc<AtomicU64>,
}

impl Supervisor {
    /// Starts the engine and the task that serves and watches it. An engine
    /// that cannot start the first time is an error for the caller.
    pub(crate) async fn start(
        node: EngineNode,
        app: App,
        restart_after_stall: Duration,
    ) -> eyre::Result<Supervisor> {
        let engine = node.start().await?;
        let (stop, stopped) = mpsc::channel(1);
        let restarts = Arc::new(AtomicU64::new(0));
        tokio::spawn(supervise(
            node,
            app,
            engine,
            restart_after_stall,
            stopped,
            restarts.clone(),
        ));
        Ok(Supervisor { stop, restarts })
    }

    /// Times the engine was restarted since the node started (a stall, or
    /// the engine stopping).
    pub(crate) fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// Stops the engine as a crash would (the write-ahead log stays) and drops
    /// the application, releasing its stores.
    pub(crate) async fn stop(&self) {
        let (done, wait) = oneshot::channel();
        if self.stop.send(done).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn supervise(
    node: EngineNode,
    mut app: App,
    mut engine: Engine,
    restart_after_stall: Duration,
    mut stop: mpsc::Receiver<oneshot::Sender<()>>,
    restarts: Arc<AtomicU64>,
) {
    let mut backoff = 1;
    loop {
        let height = head(&node.ledger);
        let wait = restart_after_stall * backoff + jitter(restart_after_stall / 2);
        tokio::select! {
            served = app.run(&mut engine.channels) => {
                match served {
                    Ok(()) => tracing::warn!("the consensus engine stopped; restarting it"),
                    Err(e) => tracing::error!(
                        "serving the consensus engine failed: {e:#}; restarting it"
                    ),
                }
                // Not at once: whatever stopped it may stop the next one too.
                tokio::time::sleep(RETRY_START).await;
            }
            () = stalled(&node.ledger, wait) => tracing::warn!(
                height = head(&node.ledger),
                "no block committed for {wait:?}; restarting the consensus engine to redial its peers"
            ),
            done = stop.recv() => {
                let _ = engine.kill(None).await;
                drop(app);
                if let Some(done) = done {
                    let _ = done.send(());
                }
                return;
            }
        }
        backoff = if head(&node.ledger) == height {
            (backoff * 2).min(MAX_BACKOFF)
        } else {
            1
        };
        let _ = engine.kill(None).await;
        engine = loop {
            match node.start().await {
                Ok(engine) => break engine,
                Err(e) => {
                    tracing::error!("restarting the consensus engine failed: {e:#}");
                    tokio::time::sleep(RETRY_START).await;
                }
            }
        };
        restarts.fetch_add(1, Ordering::Relaxed);
    }
}

/// A random duration of at most `most`.
fn jitter(most: Duration) -> Duration {
    let most = u64::try_from(most.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::thread_rng().gen_range(0..=most))
}

fn head(ledger: &RwLock<Ledger>) -> u64 {
    ledger.read().expect("ledger lock").head().height
}

/// Returns once the ledger has not moved for `after`.
async fn stalled(ledger: &RwLock<Ledger>, after: Duration) {
    let mut height = head(ledger);
    let mut since = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1).min(after));
    loop {
        tick.tick().await;
        let now = head(ledger);
        if now != height {
            (height, since) = (now, Instant::now());
        } else if since.elapsed() >= after {
            return;
        }
    }
}
