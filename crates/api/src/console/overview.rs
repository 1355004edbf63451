//! `/`: the network at a glance, refreshed every 10 s.

use super::{card, charts, document, gpn, missing, respond};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use gpunet_ledger::State as LedgerState;
use gpunet_node::census::census;
use gpunet_node::history::Sample;
use gpunet_node::metrics::FinalityQuantiles;
use gpunet_node::Node;
use gpunet_primitives::BlockHeader;
use maud::{html, Markup, PreEscaped};

/// The overview: chain, machines and GPUs, tokens, finality, validators.
pub(super) async fn page(State(node): State<Node>) -> Response {
    // A pass over every machine: off the async workers.
    tokio::task::spawn_blocking(move || {
        let finality = node.metrics.recent_finality();
        let ledger = node.ledger.read().expect("ledger lock");
        // The chart ends now, whenever the last minute's sample was.
        node.history.sample(&ledger);
        let samples = node.history.samples();
        respond(
            StatusCode::OK,
            overview(ledger.head(), ledger.state(), &samples, finality),
        )
    })
    .await
    .unwrap_or_else(|e| missing(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))
}

/// The overview of `state` at `head`, charting `samples`.
pub(super) fn overview(
    head: &BlockHeader,
    state: &LedgerState,
    samples: &[Sample],
    finality: Option<FinalityQuantiles>,
) -> Markup {
    let census = census(state);
    let g = state.globals();
    let supply = (g.minted, g.burned, g.slashed, g.fees_paid);
    let validators = state.validator_set(head.height + 1);
    let listed: u64 = census.gpus.iter().map(|m| m.listed).sum();
    let rented: u64 = census.gpus.iter().map(|m| m.rented).sum();
    let utilization = (rented * 100).checked_div(listed).unwrap_or(0);
    let charts = [
        charts::utilization(samples),
        charts::gpus_by_model(&census.gpus),
    ];
    let total_power: u64 = validators.iter().map(|(_, power)| power).sum();
    let body = html! {
        div.cards {
            (card("Height", "height", head.height))
            (card("Block time", "block-time", super::instant(head.time_ms)))
            (card("Machines", "machines", census.machines))
            (card("Online", "machines-online", census.online))
            (card("Verified", "machines-verified", census.verified))
            (card("GPUs listed", "gpus-listed", listed))
            (card("GPUs rented", "gpus-rented", rented))
            (card("GPU utilization", "utilization", format!("{utilization} %")))
            (card("Minted", "minted", gpn(supply.0)))
            (card("Burned", "burned", gpn(supply.1)))
            (card("Slashed", "slashed", gpn(supply.2)))
            (card("Fees paid", "fees-paid", gpn(supply.3)))
            @match finality {
                Some(f) => {
                    (card("Finality p50", "finality-p50", format!("{} ms", f.p50.as_millis())))
                    (card("Finality p99", "finality-p99", format!("{} ms", f.p99.as_millis())))
                }
                None => (card("Finality", "finality-p50", "no transaction yet")),
            }
        }
        h2 { "Over time" }
        div.charts {
            @for chart in &charts {
                div.chart {
                    @match chart {
                        Ok(svg) => (PreEscaped(svg)),
                        Err(e) => p.error { "chart failed: " (e) },
                    }
                }
            }
        }
        h2 { "GPUs by model" }
        @if census.gpus.is_empty() {
            p.empty { "No machine with a GPU is registered." }
        } @else {
            table {
                tr {
                    th { "Model" } th.num { "Registered" } th.num { "Listed" } th.num { "Rented" }
                    th.num { "Median price per GPU-hour" }
                }
                @for model in &census.gpus {
                    tr data-model=(model.model) {
                        td { a href={ "/machines?q=" (query(&format!("gpu_model={}", model.model))) } { (model.model) } }
                        td.num { (model.registered) }
                        td.num data-figure="model-listed" { (model.listed) }
                        td.num data-figure="model-rented" { (model.rented) }
                        td.num { (model.median_price().map_or("-".to_string(), gpn)) }
                    }
                }
            }
        }
        h2 { "Validators" }
        table {
            tr { th { "Validator" } th.num { "Voting power" } th.num { "Share" } }
            @for (validator, power) in &validators {
                tr {
                    td { a href={ "/accounts/" (validator) } { code { (validator) } } }
                    td.num data-figure="validator-power" { (power) }
                    td.num { (power * 100 / total_power.max(1)) " %" }
                }
            }
        }
    };
    document("Network", Some(10), body)
}

/// `text` encoded for a URL's query.
fn query(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
