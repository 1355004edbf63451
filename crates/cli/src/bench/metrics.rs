//! `gpunet bench metrics`: what a `/metrics` scrape costs a node whose
//! ledger lists many machines with many orders, some of them running. The
//! scrape reads the ledger (one pass over the machines, the index sizes,
//! the supply, the validator set) and encodes the text; the baseline, in the
//! same run, is the pass over the machines alone, which no scrape can avoid.

use super::quantile;
use crate::output::Output;
use gpunet_node::metrics::{LocalState, NodeMetrics};
use std::time::Instant;

#[derive(serde::Serialize)]
struct MetricsResult {
    machines: usize,
    orders: usize,
    running: usize,
    scrapes: usize,
    scrape_bytes: usize,
    scrape_p50_ms: f64,
    scrape_p99_ms: f64,
    machine_pass_p50_ms: f64,
    /// Scrape p50 over the baseline's p50.
    ratio: f64,
}

pub(super) fn run(
    machines: usize,
    orders: usize,
    scrapes: usize,
    output: Output,
) -> anyhow::Result<()> {
    let (sim, head) = super::matching::matched_market(machines, orders)?;
    let state = sim.state();
    let running = state.provider_leases.len();
    let local = LocalState {
        mempool_txs: 0,
        peers: 3,
        blob_bytes: 0,
        engine_restarts: 0,
    };
    let metrics = NodeMetrics::new();
    let (mut scrape_ms, mut pass_ms) = (Vec::new(), Vec::new());
    let mut scrape_bytes = 0;
    for _ in 0..scrapes {
        let start = Instant::now();
        let text = metrics.render(&head, state, &local, "");
        scrape_ms.push(start.elapsed().as_secs_f64() * 1e3);
        scrape_bytes = text.len();
        pass_ms.push(super::machine_pass_ms(state));
    }
    let (scrape_p50_ms, machine_pass_p50_ms) =
        (quantile(&mut scrape_ms, 0.5), quantile(&mut pass_ms, 0.5));
    let result = MetricsResult {
        machines,
        orders,
        running,
        scrapes,
        scrape_bytes,
        scrape_p50_ms,
        scrape_p99_ms: quantile(&mut scrape_ms, 0.99),
        machine_pass_p50_ms,
        ratio: scrape_p50_ms / machine_pass_p50_ms.max(1e-9),
    };
    output.print(&result, || {
        format!(
            "{} machines, {} orders ({} running): a /metrics scrape takes {:.2} ms (p50), {:.2} ms (p99), \
             {} bytes; one pass over the machines alone {:.2} ms: {:.1}x",
            result.machines,
            result.orders,
            result.running,
            result.scrape_p50_ms,
            result.scrape_p99_ms,
            result.scrape_bytes,
            result.machine_pass_p50_ms,
            result.ratio
        )
    });
    Ok(())
}
