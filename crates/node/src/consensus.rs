//! Block production behind a consensus interface.
//!
//! [`Consensus`] is all the rest of the node sees: submit a transaction, learn
//! whether it was included. [`SoloProducer`] implements it with one validator
//! that batches submitted transactions into a block every interval; a BFT
//! engine implements the same trait.

use gpunet_ledger::{Ledger, ProducedBlock, TxError};
use gpunet_primitives::{Keypair, SignedTx};
use gpunet_types::{BlockEvent, Included};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

/// Why a submitted transaction is not in a block.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SubmitError {
    /// The ledger refused it.
    #[error(transparent)]
    Rejected(#[from] TxError),
    /// The mempool is full.
    #[error("the node is overloaded; retry shortly")]
    Busy,
    /// The block producer is gone.
    #[error("the block producer stopped: {0}")]
    Stopped(String),
    /// It was dropped from the mempool without a block taking it.
    #[error("the transaction left the mempool without being included; resubmit it")]
    Expired,
}

/// Tells subscribers about every event of a committed block.
pub fn publish_block_events(events: &broadcast::Sender<BlockEvent>, block: &ProducedBlock) {
    let height = block.block.header.height;
    for event in block.events() {
        let _ = events.send(BlockEvent {
            height,
            event: event.clone(),
        });
    }
}

/// The fate of each candidate of a committed block, in candidate order: where
/// it landed with its events, or why it was left out.
pub fn inclusions<'a>(
    block: &'a ProducedBlock,
    candidates: &'a [SignedTx],
) -> impl Iterator<Item = Result<Included, TxError>> + 'a {
    let height = block.block.header.height;
    let mut index = 0u32;
    candidates
        .iter()
        .zip(&block.results)
        .map(move |(tx, result)| match result {
            Ok(events) => {
                index += 1;
                Ok(Included {
                    hash: tx.hash(),
                    height,
                    index: index - 1,
                    events: events.clone(),
                })
            }
            Err(e) => Err(e.clone()),
        })
}

/// What [`Consensus::submit`] returns.
pub type SubmitFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Included, SubmitError>> + Send + 'a>>;

/// How transactions get ordered into blocks.
pub trait Consensus: Send + Sync {
    /// Submits a transaction and resolves once it is in a committed block or rejected.
    fn submit(&self, tx: SignedTx) -> SubmitFuture<'_>;

    /// HTTP APIs of other nodes this one knows, for clients and providers to
    /// fail over to and for fetching blobs this node lacks. None for one validator.
    fn peer_apis(&self) -> Vec<String> {
        Vec::new()
    }

    /// Transactions waiting for a block on this node.
    fn mempool_txs(&self) -> usize;

    /// Times this node's consensus engine was restarted since the node
    /// started (its chain stalled, or the engine stopped). None for one
    /// validator, which has no engine to restart.
    fn engine_restarts(&self) -> u64 {
        0
    }

    /// The engine's own metrics in the OpenMetrics text format, without
    /// `# EOF`, for `/metrics` to append to the node's. Empty by default.
    fn engine_metrics(&self) -> String {
        String::new()
    }
}

/// How a single validator produces blocks.
#[derive(Clone, Debug)]
pub struct SoloProducerConfig {
    /// How long transactions gather before a block takes them.
    pub block_interval: Duration,
    /// Produce an empty block at least this often, so block time keeps moving.
    pub heartbeat: Duration,
    /// The most transactions one block takes.
    pub max_block_txs: usize,
    /// Check the ledger invariants after every block (costs O(state)).
    pub check_invariants: bool,
}

impl Default for SoloProducerConfig {
    fn default() -> Self {
        SoloProducerConfig {
            block_interval: Duration::from_millis(200),
            heartbeat: Duration::from_secs(5),
            max_block_txs: 5_000,
            check_invariants: false,
        }
    }
}

type Pending = (SignedTx, oneshot::Sender<Result<Included, SubmitError>>);

/// A single validator producing blocks on a timer.
pub struct SoloProducer {
    queue: mpsc::Sender<Pending>,
}

/// This node's clock, in milliseconds since the Unix epoch.
pub fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The clock a block producer stamps and judges blocks by: the system clock
/// ([`Clock::system`], what every node runs on), or one off by a fixed
/// offset ([`Clock::skewed`]), with which tests show what a validator whose
/// clock is wrong can do to the chain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Clock {
    offset_ms: i64,
}

impl Clock {
    /// The system clock.
    pub const fn system() -> Clock {
        Clock { offset_ms: 0 }
    }

    /// The system clock, `offset_ms` ahead (behind when negative).
    pub const fn skewed(offset_ms: i64) -> Clock {
        Clock { offset_ms }
    }

    /// Milliseconds since the Unix epoch, by this clock.
    pub fn now_ms(&self) -> u64 {
        wall_clock_ms().saturating_add_signed(self.offset_ms)
    }

    /// What a block producer stamps its next block with: this clock, but
    /// always after the parent's time (block time must strictly increase).
    pub fn next_block_time_ms(&self, ledger: &Ledger) -> u64 {
        self.now_ms().max(ledger.head().time_ms + 1)
    }

    /// Whether time-driven ledger work (settlement, deadlines, challenges)
    /// is due by this clock, so a block is worth making even without
    /// transactions.
    pub fn work_due(&self, ledger: &Ledger) -> bool {
        ledger.next_due_ms().is_some_and(|t| t <= self.now_ms())
    }
}

impl SoloProducer {
    /// Starts the producer task. It stops when the last handle is dropped.
    pub fn start(
        ledger: Arc<RwLock<Ledger>>,
        key: Keypair,
        config: SoloProducerConfig,
        events: broadcast::Sender<BlockEvent>,
    ) -> SoloProducer {
        let (queue, rx) = mpsc::channel(config.max_block_txs * 4);
        tokio::spawn(run(ledger, key, config, events, rx));
        SoloProducer { queue }
    }
}

async fn run(
    ledger: Arc<RwLock<Ledger>>,
    key: Keypair,
    config: SoloProducerConfig,
    events: broadcast::Sender<BlockEvent>,
    mut rx: mpsc::Receiver<Pending>,
) {
    let mut ticker = tokio::time::interval(config.block_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_block = tokio::time::Instant::now();
    let mut closed = false;
    while !closed {
        ticker.tick().await;
        let mut batch: Vec<Pending> = Vec::new();
        while batch.len() < config.max_block_txs {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        let due = Clock::system().work_due(&ledger.read().expect("ledger lock"));
        if batch.is_empty() && !due && last_block.elapsed() < config.heartbeat {
            continue;
        }
        let txs: Vec<SignedTx> = batch.iter().map(|(tx, _)| tx.clone()).collect();
        let produced = {
            let mut l = ledger.write().expect("ledger lock");
            let time = Clock::system().next_block_time_ms(&l);
            let produced = l.produce_block(key.address(), time, &txs);
            if config.check_invariants {
                if let Err(violation) = l.check_invariants() {
                    panic!(
                        "ledger invariant violated at height {}: {violation}",
                        l.head().height
                    );
                }
            }
            produced
        };
        last_block = tokio::time::Instant::now();
        match produced {
            Ok(p) => {
                publish_block_events(&events, &p);
                for ((_, reply), answer) in batch.into_iter().zip(inclusions(&p, &txs)) {
                    let _ = reply.send(answer.map_err(SubmitError::Rejected));
                }
            }
            Err(e) => {
                // Storage failure: nothing was committed; stop rather than diverge.
                for (_, reply) in batch {
                    let _ = reply.send(Err(SubmitError::Stopped(e.to_string())));
                }
                tracing::error!("block production stopped: {e}");
                return;
            }
        }
    }
}

impl Consensus for SoloProducer {
    fn submit(&self, tx: SignedTx) -> SubmitFuture<'_> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            self.queue.try_send((tx, reply)).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SubmitError::Busy,
                mpsc::error::TrySendError::Closed(_) => {
                    SubmitError::Stopped("producer is gone".into())
                }
            })?;
            answer
                .await
                .map_err(|_| SubmitError::Stopped("producer is gone".into()))?
        })
    }

    fn mempool_txs(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }
}
