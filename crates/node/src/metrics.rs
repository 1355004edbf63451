//! A node's Prometheus metrics, served at `/metrics` in the OpenMetrics text
//! format (prometheus-client, the crate the consensus engine's own metrics
//! use, so a BFT node's scrape carries both).
//!
//! Two kinds, kept apart on purpose:
//! - **Read from the ledger at each scrape** ([`NodeMetrics::render`]): the
//!   height, machines and GPUs, open orders, supply, validator power. They
//!   are what the chain says, so they cannot drift from it, and a scrape
//!   costs one pass over the machines (BENCHMARKS.md, "metrics scrape").
//! - **Counted as things happen on this node**: transactions submitted
//!   through its API and how long each took to be final, and every ledger
//!   event of every committed block (challenge outcomes, audits, closed
//!   orders, slashes) by kind. Counters start at zero when the node starts,
//!   as Prometheus counters do.
//!
//! Nothing here feeds back into the ledger: floats are fine.

use gpunet_ledger::State;
use gpunet_primitives::{Amount, BlockHeader, UNIT};
use gpunet_types::{BlockEvent, ErrorCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::broadcast;

/// The content type of the text [`NodeMetrics::render`] writes.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GpuLabels {
    model: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabel {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ValidatorLabel {
    validator: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// A node's metrics: register once, update as things happen, render per
/// scrape.
pub struct NodeMetrics {
    registry: Registry,
    height: Gauge,
    block_time: FloatGauge,
    mempool: Gauge,
    peers: Gauge,
    blob_bytes: Gauge,
    machines: Family<StateLabel, Gauge>,
    gpus: Family<GpuLabels, Gauge>,
    orders: Family<StateLabel, Gauge>,
    supply: Family<KindLabel, FloatGauge>,
    validator_power: Family<ValidatorLabel, Gauge>,
    events: Family<EventLabel, Counter>,
    events_missed: Counter,
    engine_restarts: Counter,
    finality: Histogram,
    submitted: Family<ResultLabel, Counter>,
    /// The latest finality times, newest last, at most [`RECENT_FINALITY`]:
    /// the console's quantiles (a histogram's buckets are too coarse).
    recent_finality: Mutex<VecDeque<Duration>>,
    /// One scrape at a time: the ledger gauges are set, then encoded.
    render: Mutex<()>,
}

/// Finality times kept for [`NodeMetrics::recent_finality`].
pub const RECENT_FINALITY: usize = 1000;

/// Quantiles of recent finality times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FinalityQuantiles {
    /// How many times they are taken from.
    pub samples: usize,
    /// The median.
    pub p50: Duration,
    /// The 99th percentile.
    pub p99: Duration,
}

/// What a scrape needs to know that the ledger does not hold.
pub struct LocalState {
    /// Transactions in this node's mempool.
    pub mempool_txs: usize,
    /// Peers this node knows.
    pub peers: usize,
    /// Bytes in its blob store.
    pub blob_bytes: u64,
    /// Times its consensus engine was restarted since it started.
    pub engine_restarts: u64,
}

impl Default for NodeMetrics {
    fn default() -> Self {
        NodeMetrics::new()
    }
}

impl NodeMetrics {
    /// Registers every metric under the `gpunet_` prefix.
    pub fn new() -> NodeMetrics {
        let mut registry = Registry::with_prefix("gpunet");
        let metrics = NodeMetrics {
            height: Gauge::default(),
            block_time: FloatGauge::default(),
            mempool: Gauge::default(),
            peers: Gauge::default(),
            blob_bytes: Gauge::default(),
            machines: Family::default(),
            gpus: Family::default(),
            orders: Family::default(),
            supply: Family::default(),
            validator_power: Family::default(),
            events: Family::default(),
            events_missed: Counter::default(),
            engine_restarts: Counter::default(),
            // 10 ms to about 41 s.
            finality: Histogram::new(exponential_buckets(0.01, 2.0, 13)),
            submitted: Family::default(),
            registry: Registry::default(),
            recent_finality: Mutex::new(VecDeque::with_capacity(RECENT_FINALITY)),
            render: Mutex::new(()),
        };
        let r = &mut registry;
        r.register(
            "height",
            "Height of the newest committed block",
            metrics.height.clone(),
        );
        r.register(
            "block_time_seconds",
            "Block time of the newest block, in seconds since the Unix epoch",
            metrics.block_time.clone(),
        );
        r.register(
            "mempool_txs",
            "Transactions waiting for a block on this node",
            metrics.mempool.clone(),
        );
        r.register(
            "peers",
            "Other nodes this node knows",
            metrics.peers.clone(),
        );
        r.register(
            "blob_bytes",
            "Bytes of job inputs and outputs this node stores",
            metrics.blob_bytes.clone(),
        );
        r.register(
            "consensus_engine_restarts",
            "Times this node's consensus engine was restarted: its chain stalled, or the engine stopped",
            metrics.engine_restarts.clone(),
        );
        r.register(
            "machines",
            "Registered machines: all, online (taking leases), verified (hardware proven)",
            metrics.machines.clone(),
        );
        r.register(
            "gpus",
            "GPUs of registered machines by model: listed (online and verified) and rented (held by open leases)",
            metrics.gpus.clone(),
        );
        r.register(
            "orders",
            "Open orders: pending (waiting for a machine), leased (running on one), reported (awaiting settlement), renting (rentals running)",
            metrics.orders.clone(),
        );
        r.register(
            "supply_gpn",
            "Token totals in GPN: genesis, minted, burned, slashed (part of burned), fees_paid",
            metrics.supply.clone(),
        );
        r.register(
            "validator_power",
            "Voting power of each validator of the next block",
            metrics.validator_power.clone(),
        );
        r.register(
            "ledger_events",
            "Ledger events of committed blocks, by kind, since this node started",
            metrics.events.clone(),
        );
        r.register(
            "ledger_events_missed",
            "Ledger events the metrics fell too far behind to count",
            metrics.events_missed.clone(),
        );
        r.register(
            "tx_finality_seconds",
            "From a transaction's arrival at this node's API to the commit of the block that took it",
            metrics.finality.clone(),
        );
        r.register(
            "txs_submitted",
            "Transactions submitted through this node's API: included, or the code they were refused with",
            metrics.submitted.clone(),
        );
        NodeMetrics {
            registry,
            ..metrics
        }
    }

    /// Counts a transaction submitted through the API that a block took,
    /// `took` after it arrived.
    pub fn observe_included(&self, took: Duration) {
        self.submitted
            .get_or_create(&ResultLabel { result: "included" })
            .inc();
        self.finality.observe(took.as_secs_f64());
        let mut recent = self.recent_finality.lock().expect("finality lock");
        if recent.len() == RECENT_FINALITY {
            recent.pop_front();
        }
        recent.push_back(took);
    }

    /// The median and 99th percentile of the latest finality times (of
    /// transactions submitted through this node), if there are any.
    pub fn recent_finality(&self) -> Option<FinalityQuantiles> {
        let mut times: Vec<Duration> = self
            .recent_finality
            .lock()
            .expect("finality lock")
            .iter()
            .copied()
            .collect();
        times.sort_unstable();
        let at = |q: usize| times[(times.len() - 1) * q / 100];
        (!times.is_empty()).then(|| FinalityQuantiles {
            samples: times.len(),
            p50: at(50),
            p99: at(99),
        })
    }

    /// Counts a transaction submitted through the API and refused, by the
    /// stable code it was refused with.
    pub fn count_refused(&self, code: ErrorCode) {
        self.submitted
            .get_or_create(&ResultLabel {
                result: code.as_str(),
            })
            .inc();
    }

    /// Counts each event of the node's event bus until the bus closes.
    /// Spawn it once per node.
    pub async fn count_events(
        self: std::sync::Arc<Self>,
        mut events: broadcast::Receiver<BlockEvent>,
    ) {
        loop {
            match events.recv().await {
                Ok(block_event) => {
                    let kind: &'static str = (&block_event.event).into();
                    self.events.get_or_create(&EventLabel { kind }).inc();
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    self.events_missed.inc_by(missed);
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// The metrics in the OpenMetrics text format, the ledger (its newest
    /// block `head` and its `state`) read now. `extra` (the consensus
    /// engine's own, already encoded without its `# EOF`) goes before the end.
    pub fn render(
        &self,
        head: &BlockHeader,
        state: &State,
        local: &LocalState,
        extra: &str,
    ) -> String {
        let _one_at_a_time = self.render.lock().unwrap_or_else(|p| p.into_inner());
        self.read_ledger(head, state);
        self.mempool.set(saturating_i64(local.mempool_txs as u64));
        self.peers.set(saturating_i64(local.peers as u64));
        self.blob_bytes.set(saturating_i64(local.blob_bytes));
        // The count is kept by the engine's supervisor; the counter follows it.
        let counted = self.engine_restarts.get();
        self.engine_restarts
            .inc_by(local.engine_restarts.saturating_sub(counted));
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.registry);
        out.push_str(extra);
        let _ = prometheus_client::encoding::text::encode_eof(&mut out);
        out
    }

    fn read_ledger(&self, head: &BlockHeader, state: &State) {
        self.height.set(saturating_i64(head.height));
        self.block_time.set(head.time_ms as f64 / 1000.0);

        let census = crate::census::census(state);
        for (state, count) in [
            ("registered", census.machines),
            ("online", census.online),
            ("verified", census.verified),
        ] {
            self.machines
                .get_or_create(&StateLabel { state })
                .set(saturating_i64(count));
        }
        // A model no machine has any more disappears from the scrape.
        self.gpus.clear();
        for model in census.gpus {
            for (state, count) in [
                ("registered", model.registered),
                ("listed", model.listed),
                ("rented", model.rented),
            ] {
                let labels = GpuLabels {
                    model: model.model.clone(),
                    state,
                };
                self.gpus.get_or_create(&labels).set(saturating_i64(count));
            }
        }

        for (state, count) in [
            ("pending", state.pending.len()),
            ("leased", state.provider_leases.len()),
            ("reported", state.settle_queue.len()),
            ("renting", state.rental_billing.len()),
        ] {
            self.orders
                .get_or_create(&StateLabel { state })
                .set(saturating_i64(count as u64));
        }

        let g = state.globals();
        for (kind, amount) in [
            ("genesis", g.genesis_supply),
            ("minted", g.minted),
            ("burned", g.burned),
            ("slashed", g.slashed),
            ("fees_paid", g.fees_paid),
        ] {
            self.supply
                .get_or_create(&KindLabel { kind })
                .set(gpn(amount));
        }

        self.validator_power.clear();
        for (validator, power) in state.validator_set(head.height + 1) {
            self.validator_power
                .get_or_create(&ValidatorLabel {
                    validator: validator.to_string(),
                })
                .set(saturating_i64(power));
        }
    }
}

fn gpn(amount: Amount) -> f64 {
    amount as f64 / UNIT as f64
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
