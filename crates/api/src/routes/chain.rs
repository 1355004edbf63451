//! The chain as a node sees it: status, blocks, events, snapshots, peers
//! and metrics.

use super::{fail, not_found, parse, ApiResult, Binary};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::{Stream, StreamExt};
use gpunet_node::metrics::{LocalState, METRICS_CONTENT_TYPE};
use gpunet_node::{Node, SnapshotFile};
use gpunet_primitives::{Address, OrderId};
use gpunet_types::api::{BlockView, Peers, SnapshotInfo, Status, Supply};
use gpunet_types::{ApiError, BlockEvent, ErrorCode};
use serde::Deserialize;
use std::convert::Infallible;
use tokio_stream::wrappers::BroadcastStream;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This module's routes, each with its OpenAPI operation.
pub(super) fn routes() -> OpenApiRouter<Node> {
    metrics_route()
        .routes(routes!(status))
        .routes(routes!(block))
        .routes(routes!(events))
        .routes(routes!(peers))
        .routes(routes!(snapshots))
        .routes(routes!(snapshot_file))
}

/// `/metrics` alone: the plain-HTTP listener serves it too.
pub(super) fn metrics_route() -> OpenApiRouter<Node> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// The chain as this node sees it: its newest block, the validators, the
/// parameters and where every token is.
#[utoipa::path(
    get, path = "/v1/status",
    tag = "chain",
    responses(
        (status = OK, description = "The newest block, the validators, the parameters and the supply.", body = Status),
    )
)]
async fn status(State(node): State<Node>) -> Json<Status> {
    let l = node.ledger.read().expect("ledger lock");
    let g = l.state().globals();
    Json(Status {
        chain_id: l.chain_id().to_string(),
        height: l.head().height,
        block_hash: l.head().hash(),
        state_root: l.state_root(),
        time_ms: l.head().time_ms,
        validators: l
            .validator_set(l.head().height + 1)
            .into_iter()
            .map(|(v, _)| v)
            .collect(),
        params: l.state().params.clone(),
        supply: Supply {
            genesis: g.genesis_supply,
            minted: g.minted,
            burned: g.burned,
            slashed: g.slashed,
            fees_paid: g.fees_paid,
        },
    })
}

/// The metrics' own scrape, with the consensus engine's: OpenMetrics text.
#[utoipa::path(
    get, path = "/metrics",
    tag = "chain",
    responses(
        (status = OK, description = "OpenMetrics text: what the node and its consensus engine count.", body = String, content_type = "application/openmetrics-text"),
        (status = 500, description = "The scrape failed.", body = ApiError),
    )
)]
async fn metrics(State(node): State<Node>) -> ApiResult<Response> {
    // A pass over every machine and a listing of the blob directory: off
    // the async workers.
    let text = tokio::task::spawn_blocking(move || {
        let local = LocalState {
            mempool_txs: node.consensus.mempool_txs(),
            peers: node.consensus.peer_apis().len(),
            blob_bytes: node.blobs.stored_bytes(),
            engine_restarts: node.consensus.engine_restarts(),
        };
        let engine = node.consensus.engine_metrics();
        let ledger = node.ledger.read().expect("ledger lock");
        node.metrics
            .render(ledger.head(), ledger.state(), &local, &engine)
    })
    .await
    .map_err(|e| {
        fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            e.to_string(),
        )
    })?;
    Ok(([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response())
}

/// The block at a height, with its hash.
#[utoipa::path(
    get, path = "/v1/blocks/{height}",
    tag = "chain",
    params(("height" = u64, Path, description = "The block's height.")),
    responses(
        (status = OK, description = "The block and its hash.", body = BlockView),
        (status = 400, description = "The height is not a number.", body = ApiError),
        (status = 404, description = "No block at that height (yet).", body = ApiError),
        (status = 500, description = "The block store failed.", body = ApiError),
    )
)]
async fn block(State(node): State<Node>, Path(raw): Path<String>) -> ApiResult<Json<BlockView>> {
    let height: u64 = parse("height", &raw)?;
    let block = node
        .ledger
        .read()
        .expect("ledger lock")
        .block(height)
        .map_err(|e| {
            fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Storage,
                e.to_string(),
            )
        })?
        .ok_or_else(|| not_found(format!("no block at height {height}")))?;
    Ok(Json(BlockView {
        hash: block.header.hash(),
        block,
    }))
}

/// The state snapshots this node serves, newest first.
#[utoipa::path(
    get, path = "/v1/snapshots",
    tag = "chain",
    responses(
        (status = OK, description = "The state snapshots this node serves, newest first.", body = Vec<SnapshotInfo>),
    )
)]
async fn snapshots(State(node): State<Node>) -> Json<Vec<SnapshotInfo>> {
    let snapshots = node.snapshots.clone();
    Json(
        tokio::task::spawn_blocking(move || snapshots.list())
            .await
            .unwrap_or_default(),
    )
}

/// One file of a snapshot: its manifest, its block's certificate or a chunk.
#[utoipa::path(
    get, path = "/v1/snapshots/{height}/{file}",
    tag = "chain",
    params(("height" = u64, Path, description = "The snapshot's height."), ("file" = String, Path, description = "`manifest`, `certificate` or `chunk-{index}`.")),
    responses(
        (status = OK, description = "The file's bytes.", body = Binary, content_type = "application/octet-stream"),
        (status = 400, description = "Not a height or a snapshot file name.", body = ApiError),
        (status = 404, description = "No such snapshot or file.", body = ApiError),
        (status = 500, description = "The snapshot store failed.", body = ApiError),
    )
)]
async fn snapshot_file(
    State(node): State<Node>,
    Path((raw_height, raw_file)): Path<(String, String)>,
) -> ApiResult<Response> {
    let height: u64 = parse("height", &raw_height)?;
    let file: SnapshotFile = parse("snapshot file", &raw_file)?;
    let snapshots = node.snapshots.clone();
    let read = tokio::task::spawn_blocking(move || snapshots.read(height, file))
        .await
        .map_err(|e| {
            fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                e.to_string(),
            )
        })?
        .map_err(|e| {
            fail(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Storage,
                e.to_string(),
            )
        })?;
    let bytes =
        read.ok_or_else(|| not_found(format!("no {file} of a snapshot at height {height}")))?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct EventFilter {
    /// Only events of this order.
    order: Option<OrderId>,
    /// Only events that involve this account (as client, provider, sender...).
    address: Option<String>,
}

/// Server-sent events of committed blocks, filtered by order or by party.
#[utoipa::path(
    get, path = "/v1/events",
    tag = "chain",
    params(EventFilter),
    responses(
        (status = OK, description = "Server-sent events: each `data` is a block event as JSON; an event named `lagged` says the subscriber missed some and should re-read the state.", body = BlockEvent, content_type = "text/event-stream"),
        (status = 400, description = "The address is not an account's key.", body = ApiError),
    )
)]
async fn events(
    State(node): State<Node>,
    Query(filter): Query<EventFilter>,
) -> ApiResult<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    let address: Option<Address> = filter
        .address
        .as_deref()
        .map(|a| parse("address", a))
        .transpose()?;
    let stream = BroadcastStream::new(node.events.subscribe()).filter_map(move |item| {
        let out = match item {
            Ok(e) => {
                let wanted = filter.order.is_none_or(|o| e.event.order() == Some(o))
                    && address.is_none_or(|a| e.event.involves(&a));
                wanted.then(|| SseEvent::default().json_data(&e).expect("events serialize"))
            }
            // A slow subscriber missed events: tell it to re-read state.
            Err(_) => Some(SseEvent::default().event("lagged").data("{}")),
        };
        std::future::ready(out.map(Ok))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Other nodes' APIs this node knows (empty with a single validator).
#[utoipa::path(
    get, path = "/v1/peers",
    tag = "chain",
    responses(
        (status = OK, description = "Other nodes' APIs this node knows.", body = Peers),
    )
)]
async fn peers(State(node): State<Node>) -> Json<Peers> {
    Json(Peers {
        apis: node.consensus.peer_apis(),
    })
}
