//! Live logs of running jobs: pushed by their provider, read by their
//! client.

use super::{
    bad_request, fail, not_found, parse, peer_addresses, request_error, signed_header, ApiResult,
    Binary,
};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gpunet_node::{wall_clock_ms, LiveLogError, LiveLogs, Node};
use gpunet_primitives::{LogStream, OrderId, SignedLogChunk, SignedLogRead, MAX_LOG_CHUNK_BYTES};
use gpunet_types::api::{LOCAL_ONLY_HEADER, LOG_OFFSET_HEADER, LOG_READ_HEADER};
use gpunet_types::{ApiError, ErrorCode};
use serde::Deserialize;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// This module's routes, each with its OpenAPI operation.
pub(super) fn routes() -> OpenApiRouter<Node> {
    OpenApiRouter::new()
        .routes(routes!(push_live_log).layer(DefaultBodyLimit::max(MAX_LOG_CHUNK_BYTES + 1024)))
        .routes(routes!(live_log))
}

/// Takes a chunk of a running job's log from the provider running it
/// (borsh-encoded [`SignedLogChunk`]).
#[utoipa::path(
    post, path = "/v1/orders/{id}/logs",
    tag = "logs",
    params(("id" = u64, Path, description = "The running order.")),
    request_body(description = "A provider's signed chunk (`SignedLogChunk`, borsh).", content((Binary = "application/octet-stream"))),
    responses(
        (status = NO_CONTENT, description = "The chunk is kept."),
        (status = 400, description = "A malformed chunk, or one for another order.", body = ApiError),
        (status = 401, description = "An expired chunk.", body = ApiError),
        (status = 403, description = "Not from the order's provider.", body = ApiError),
        (status = 404, description = "No such order.", body = ApiError),
        (status = 409, description = "The order is not running.", body = ApiError),
        (status = 413, description = "A chunk over its limit.", body = ApiError),
    )
)]
async fn push_live_log(
    State(node): State<Node>,
    Path(raw): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let id: OrderId = parse("order id", &raw)?;
    let signed: SignedLogChunk =
        borsh::from_slice(&body).map_err(|e| bad_request(format!("malformed log chunk: {e}")))?;
    if signed.body.order != id {
        return Err(bad_request(format!(
            "the chunk is for order {}, not {id}",
            signed.body.order
        )));
    }
    let ledger = node.ledger.read().expect("ledger lock");
    node.live_logs
        .push(&ledger, &signed, wall_clock_ms())
        .map_err(live_log_error)?;
    Ok(StatusCode::NO_CONTENT)
}

fn live_log_error(e: LiveLogError) -> (StatusCode, Json<ApiError>) {
    let (status, code) = match &e {
        LiveLogError::Request(e) => request_error(e),
        LiveLogError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge),
        LiveLogError::UnknownOrder(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
        LiveLogError::NotTheProvider(_) => (StatusCode::FORBIDDEN, ErrorCode::NotTheProvider),
        LiveLogError::NotTheOwner(_) => (StatusCode::FORBIDDEN, ErrorCode::NotTheOwner),
        LiveLogError::NotRunning(_) => (StatusCode::CONFLICT, ErrorCode::NotRunning),
    };
    fail(status, code, e.to_string())
}

/// The signed read request of a live-log request (header [`LOG_READ_HEADER`]),
/// checked: the order's client's, current, for order `id`.
fn authorized_read(node: &Node, headers: &HeaderMap, id: OrderId) -> ApiResult<HeaderValue> {
    let raw = headers.get(LOG_READ_HEADER).ok_or_else(|| {
        fail(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            format!("live logs are read with a request signed by the order's client ({LOG_READ_HEADER})"),
        )
    })?;
    let read: SignedLogRead =
        signed_header(raw).ok_or_else(|| bad_request(format!("malformed {LOG_READ_HEADER}")))?;
    if read.body.order != id {
        return Err(bad_request(format!(
            "the read request is for order {}, not {id}",
            read.body.order
        )));
    }
    let ledger = node.ledger.read().expect("ledger lock");
    LiveLogs::authorize(&ledger, &read, wall_clock_ms()).map_err(live_log_error)?;
    Ok(raw.clone())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct LiveLogQuery {
    /// The first byte of the log wanted (default 0).
    #[serde(default)]
    from: u64,
}

/// What is kept of a running job's log from byte `from` on (the body), and
/// the offset it starts at (header [`LOG_OFFSET_HEADER`]): later than `from`
/// when bytes in between were not kept, earlier when this node holds less
/// than the reader has seen. Only for the order's client (a signed request,
/// header [`LOG_READ_HEADER`]). Asks the peers when this node holds nothing
/// of the order (its provider may push to another node).
#[utoipa::path(
    get, path = "/v1/orders/{id}/logs/{stream}",
    tag = "logs",
    params(("id" = u64, Path, description = "The order."), ("stream" = String, Path, description = "`stdout` or `stderr`."), LiveLogQuery, ("x-gpunet-log-read" = String, Header, description = "The client's signed request (`SignedLogRead`, borsh, hex).")),
    responses(
        (status = OK, description = "The log from the offset in the header on.", body = Binary, content_type = "application/octet-stream", headers(("x-gpunet-log-offset" = u64, description = "The byte of the log the body starts at."))),
        (status = 400, description = "A malformed id, stream or request.", body = ApiError),
        (status = 401, description = "No read request, or an expired one.", body = ApiError),
        (status = 403, description = "Not the order's client.", body = ApiError),
        (status = 404, description = "No live log of the order here or at any peer.", body = ApiError),
    )
)]
async fn live_log(
    State(node): State<Node>,
    Path((raw, stream)): Path<(String, String)>,
    Query(q): Query<LiveLogQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let id: OrderId = parse("order id", &raw)?;
    let stream: LogStream = parse("log", &stream)?;
    let read = authorized_read(&node, &headers, id)?;
    let kept = match node.live_logs.read(id, stream, q.from) {
        Some(kept) => Some(kept),
        None if !headers.contains_key(LOCAL_ONLY_HEADER) => {
            live_log_from_peers(&node, id, stream, q.from, read).await
        }
        None => None,
    };
    let (offset, bytes) =
        kept.ok_or_else(|| not_found(format!("no live log of order {id} here")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::HeaderName::from_static(LOG_OFFSET_HEADER),
                offset.to_string(),
            ),
        ],
        bytes,
    )
        .into_response())
}

async fn live_log_from_peers(
    node: &Node,
    id: OrderId,
    stream: LogStream,
    from: u64,
    read: HeaderValue,
) -> Option<(u64, Vec<u8>)> {
    let peers = peer_addresses(node);
    let http = gpunet_client::tls::http_client_for(&peers);
    for peer in &peers {
        let Ok(resp) = http
            .get(format!(
                "{}/v1/orders/{id}/logs/{}?from={from}",
                peer.url,
                stream.name()
            ))
            .header(LOCAL_ONLY_HEADER, "1")
            .header(LOG_READ_HEADER, read.clone())
            .send()
            .await
        else {
            continue;
        };
        let offset = resp
            .headers()
            .get(LOG_OFFSET_HEADER)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        if let (true, Some(offset)) = (resp.status().is_success(), offset) {
            if let Ok(bytes) = resp.bytes().await {
                return Some((offset, bytes.to_vec()));
            }
        }
    }
    None
}
