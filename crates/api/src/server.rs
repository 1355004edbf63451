//! Routes of the node API.

use crate::blob_replication;
use crate::tls::{self, TlsListener};
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use futures_util::{Stream, StreamExt};
use gpunet_ledger::{Order, TxError};
use gpunet_node::metrics::{LocalState, METRICS_CONTENT_TYPE};
use gpunet_node::{
    wall_clock_ms, BlobError, BlobReadError, LiveLogError, LiveLogs, Node, ReadScope, SnapshotFile,
    SubmitError, UploadError,
};
use gpunet_primitives::{
    decode_signed_tx, Address, ChallengeId, Hash, Keypair, LogStream, MachineId, OrderId,
    RequestError, SignedBlobRead, SignedBlobUpload, SignedLogChunk, SignedLogRead,
    MAX_LOG_CHUNK_BYTES, MAX_TX_BYTES,
};
use gpunet_types::api::DryRun;
use gpunet_types::api::{
    AccountView, BlobInfo, BlockView, HolderProof, MachineSearch, OrdersPage, Peers, SnapshotInfo,
    Status, SubmitTx, Supply, BLOB_READ_HEADER, LOCAL_ONLY_HEADER, LOG_OFFSET_HEADER,
    LOG_READ_HEADER, MATCHED_HEADER, MAX_ORDERS_PAGE, ORDERS_PAGE, UPLOAD_HEADER,
};
use gpunet_types::{offers, ApiError, ChallengeView, ErrorCode, Machine, NodeAddress, OrderView};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;
use tokio_stream::wrappers::BroadcastStream;
use tower_http::timeout::RequestBodyTimeoutLayer;

type ApiResult<T> = Result<T, (StatusCode, Json<ApiError>)>;

fn fail(
    status: StatusCode,
    code: ErrorCode,
    message: impl Into<String>,
) -> (StatusCode, Json<ApiError>) {
    (status, Json(ApiError::new(code, message)))
}

fn not_found(what: String) -> (StatusCode, Json<ApiError>) {
    fail(StatusCode::NOT_FOUND, ErrorCode::NotFound, what)
}

fn bad_request(message: String) -> (StatusCode, Json<ApiError>) {
    fail(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
}

fn parse<T: std::str::FromStr>(what: &str, raw: &str) -> ApiResult<T>
where
    T::Err: std::fmt::Display,
{
    raw.parse()
        .map_err(|e| bad_request(format!("invalid {what} {raw:?}: {e}")))
}

/// All routes, over `node`.
pub fn router(node: Node) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/v1/status", get(status))
        .route("/v1/accounts/{address}", get(account))
        .route("/v1/accounts/{address}/orders", get(account_orders))
        // Hex in JSON doubles a transaction's size.
        .route("/v1/tx", post(submit_tx))
        .route("/v1/machines", get(machines))
        .route("/v1/machines/closest", get(closest_machines))
        .route("/v1/machines/{id}", get(machine))
        .route(
            "/v1/orders/dry-run",
            post(order_dry_run).layer(DefaultBodyLimit::max(MAX_DRY_RUN_BYTES)),
        )
        .route("/v1/orders/{id}", get(order))
        .route("/v1/orders/{id}/unmatched", get(order_unmatched))
        .route(
            "/v1/orders/{id}/logs",
            post(push_live_log).layer(DefaultBodyLimit::max(MAX_LOG_CHUNK_BYTES + 1024)),
        )
        .route("/v1/orders/{id}/logs/{stream}", get(live_log))
        .route("/v1/challenges/{id}", get(challenge))
        .route("/v1/providers/{address}/leases", get(provider_leases))
        .route("/v1/blocks/{height}", get(block))
        .route("/v1/events", get(events))
        .route("/v1/blobs", put(put_blob))
        .route("/v1/blobs/{hash}", get(get_blob))
        .route("/v1/blobs/{hash}/holder-proof", get(holder_proof))
        .route("/v1/peers", get(peers))
        .route("/v1/snapshots", get(snapshots))
        .route("/v1/snapshots/{height}/{file}", get(snapshot_file))
        .fallback(no_such_route)
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::map_response(errors_as_json))
        .with_state(node)
}

/// How long and how much a client may take: a slow or greedy client holds
/// a file descriptor and a task for no longer than these allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServeLimits {
    /// From a connection's first byte (or the end of its previous request)
    /// to the end of a request's headers.
    pub header_read: Duration,
    /// Longest wait for the next piece of a request body.
    pub body_idle: Duration,
    /// Connections one address may hold open at once.
    pub per_peer: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            header_read: Duration::from_secs(10),
            body_idle: Duration::from_secs(30),
            per_peer: tls::MAX_CONNECTIONS_PER_PEER,
        }
    }
}

/// Serves the API over TLS on `listener`, with a certificate of `key` (the
/// node's API key), until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    node: Node,
    key: &Keypair,
) -> std::io::Result<()> {
    serve_with(listener, node, key, ServeLimits::default()).await
}

/// [`serve`] within `limits`.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    node: Node,
    key: &Keypair,
    limits: ServeLimits,
) -> std::io::Result<()> {
    let config = tls::server_config(key).map_err(std::io::Error::other)?;
    let mut connections = TlsListener::with_peer_limit(listener, config, limits.per_peer)?;
    let app = router(node).layer(RequestBodyTimeoutLayer::new(limits.body_idle));
    loop {
        let (conn, _peer) = axum::serve::Listener::accept(&mut connections).await;
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            // axum::serve sets no timer, so hyper enforces no header timeout:
            // a client trickling a header byte now and then held its
            // connection for good.
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read)
                .serve_connection(TokioIo::new(conn), service)
                .await;
            if let Err(e) = served {
                tracing::debug!("API connection ended: {e}");
            }
        });
    }
}

/// Every error the API answers is JSON `{code, message}`, including those
/// axum's extractors and routing make (a bad query string, a body over its
/// limit, an unknown route), which are plain text or empty otherwise.
async fn errors_as_json(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let code = match status {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::TooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::REQUEST_TIMEOUT => ErrorCode::Timeout,
        s if s.is_server_error() => ErrorCode::Internal,
        _ => ErrorCode::BadRequest,
    };
    let text = axum::body::to_bytes(response.into_body(), MAX_ERROR_TEXT)
        .await
        .unwrap_or_default();
    let message = match String::from_utf8_lossy(&text).trim() {
        "" => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_string(),
        text => text.to_string(),
    };
    fail(status, code, message).into_response()
}

/// Longest text of an error axum made that is carried into its JSON.
const MAX_ERROR_TEXT: usize = 4096;

async fn no_such_route(uri: axum::http::Uri) -> (StatusCode, Json<ApiError>) {
    not_found(format!(
        "no such route: {}",
        uri.path().chars().take(200).collect::<String>()
    ))
}

/// The peers' API addresses, each with the key their certificates carry.
pub(crate) fn peer_addresses(node: &Node) -> Vec<NodeAddress> {
    node.consensus
        .peer_apis()
        .iter()
        .filter_map(|api| api.parse().ok())
        .collect()
}

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

async fn account(
    State(node): State<Node>,
    Path(raw): Path<String>,
) -> ApiResult<Json<AccountView>> {
    let address: Address = parse("address", &raw)?;
    let account = node.ledger.read().expect("ledger lock").account(&address);
    Ok(Json(AccountView { address, account }))
}

/// A page of the account's orders, newest first (see [`OrdersPage`]).
async fn account_orders(
    State(node): State<Node>,
    Path(raw): Path<String>,
    Query(page): Query<OrdersPage>,
) -> ApiResult<Json<Vec<OrderView>>> {
    let address: Address = parse("address", &raw)?;
    let limit = page.limit.unwrap_or(ORDERS_PAGE).min(MAX_ORDERS_PAGE);
    let l = node.ledger.read().expect("ledger lock");
    let orders = l.client_orders(&address, page.before, limit);
    Ok(Json(orders.into_iter().map(Order::view).collect()))
}

/// The stable code of a submission's failure, as [`tx_error`] answers it.
fn submit_error_code(e: &SubmitError) -> ErrorCode {
    match e {
        SubmitError::Rejected(e) => e.code(),
        SubmitError::Busy => ErrorCode::Busy,
        SubmitError::Stopped(_) => ErrorCode::Stopped,
        SubmitError::Expired => ErrorCode::Expired,
    }
}

fn tx_error(e: SubmitError) -> (StatusCode, Json<ApiError>) {
    match e {
        SubmitError::Rejected(e) => {
            let status = match e {
                TxError::Decode(_) => StatusCode::BAD_REQUEST,
                TxError::UnknownMachine(_) | TxError::UnknownOrder(_) => StatusCode::NOT_FOUND,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            fail(status, e.code(), e.to_string())
        }
        SubmitError::Busy | SubmitError::Stopped(_) => fail(
            StatusCode::SERVICE_UNAVAILABLE,
            submit_error_code(&e),
            e.to_string(),
        ),
        SubmitError::Expired => fail(
            StatusCode::GATEWAY_TIMEOUT,
            ErrorCode::Expired,
            e.to_string(),
        ),
    }
}

/// Accepts canonical transaction bytes (`application/octet-stream`) or JSON
/// `{"tx": "<hex>"}`; answers once the transaction is in a block, or why it is not.
async fn submit_tx(
    State(node): State<Node>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<gpunet_types::Included>> {
    // Hex in JSON doubles a transaction's size.
    let body = read_limited(body, 2 * MAX_TX_BYTES + 1024).await?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let bytes = if is_json {
        let req: SubmitTx = serde_json::from_slice(&body).map_err(|e| {
            fail(
                StatusCode::BAD_REQUEST,
                ErrorCode::Malformed,
                format!("malformed JSON body: {e}"),
            )
        })?;
        hex::decode(req.tx.trim()).map_err(|e| {
            fail(
                StatusCode::BAD_REQUEST,
                ErrorCode::Malformed,
                format!("tx is not hex: {e}"),
            )
        })?
    } else {
        body.to_vec()
    };
    let tx = decode_signed_tx(&bytes).map_err(|e| {
        node.metrics.count_refused(ErrorCode::Malformed);
        tx_error(SubmitError::Rejected(e.into()))
    })?;
    let arrived = std::time::Instant::now();
    match node.consensus.submit(tx).await {
        Ok(included) => {
            node.metrics.observe_included(arrived.elapsed());
            Ok(Json(included))
        }
        Err(e) => {
            node.metrics.count_refused(submit_error_code(&e));
            Err(tx_error(e))
        }
    }
}

/// The metrics' own scrape, with the consensus engine's: OpenMetrics text.
async fn metrics(State(node): State<Node>) -> ApiResult<Response> {
    // A pass over every machine and a listing of the blob directory: off
    // the async workers.
    let text = tokio::task::spawn_blocking(move || {
        let local = LocalState {
            mempool_txs: node.consensus.mempool_txs(),
            peers: node.consensus.peer_apis().len(),
            blob_bytes: node.blobs.stored_bytes(),
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

/// The filters and order of `search`, parsed.
fn offer_query(search: &MachineSearch) -> ApiResult<offers::Query> {
    let terms: Vec<String> = search.q.iter().cloned().collect();
    offers::Query::parse(&terms, search.order.as_deref()).map_err(|e| bad_request(e.to_string()))
}

/// The machines a search matches, in its order, at most `limit` of them;
/// header [`MATCHED_HEADER`] says how many matched.
async fn machines(
    State(node): State<Node>,
    Query(search): Query<MachineSearch>,
) -> ApiResult<([(&'static str, String); 1], Json<Vec<Machine>>)> {
    let query = offer_query(&search)?;
    // Only the matches are copied under the ledger's lock; sorting waits.
    let mut found: Vec<Machine> = node
        .ledger
        .read()
        .expect("ledger lock")
        .machines()
        .filter(|m| query.matches(m))
        .cloned()
        .collect();
    query.sort(&mut found);
    let matched = found.len();
    found.truncate(search.limit.unwrap_or(usize::MAX));
    Ok(([(MATCHED_HEADER, matched.to_string())], Json(found)))
}

/// The machines that come closest to a search (fewest filters missed), at
/// most `limit` (default 3), each with the filters it misses.
async fn closest_machines(
    State(node): State<Node>,
    Query(search): Query<MachineSearch>,
) -> ApiResult<Json<Vec<offers::NearMiss>>> {
    let query = offer_query(&search)?;
    let ledger = node.ledger.read().expect("ledger lock");
    let limit = search.limit.unwrap_or(3).min(MAX_CLOSEST);
    Ok(Json(query.closest(ledger.machines(), limit)))
}

/// Most machines `GET /v1/machines/closest` returns.
const MAX_CLOSEST: usize = 100;

async fn machine(State(node): State<Node>, Path(raw): Path<String>) -> ApiResult<Json<Machine>> {
    let id: MachineId = parse("machine id", &raw)?;
    let l = node.ledger.read().expect("ledger lock");
    l.machine(id)
        .cloned()
        .map(Json)
        .ok_or_else(|| not_found(format!("unknown machine {id}")))
}

/// Why an order finds no machine: how many machines miss each of its
/// requirements, and the `closest` (default 3, at most 100) that miss fewest.
async fn order_unmatched(
    State(node): State<Node>,
    Path(raw): Path<String>,
    Query(query): Query<UnmatchedQuery>,
) -> ApiResult<Json<gpunet_types::Unmatched>> {
    let id: OrderId = parse("order id", &raw)?;
    let closest = query.closest.unwrap_or(3).min(MAX_CLOSEST);
    let l = node.ledger.read().expect("ledger lock");
    l.unmatched(id, closest)
        .map(Json)
        .ok_or_else(|| not_found(format!("unknown order {id}")))
}

#[derive(Deserialize)]
struct UnmatchedQuery {
    closest: Option<usize>,
}

/// Largest dry-run body: a spec as JSON is a few times its borsh size.
const MAX_DRY_RUN_BYTES: usize = 4 * MAX_TX_BYTES;

/// What matching would make of an order now, without placing it (see
/// [`DryRun`]): the `closest` (default 3, at most 100) machines are those
/// that could take it, cheapest first, or else those that miss fewest.
async fn order_dry_run(
    State(node): State<Node>,
    Query(query): Query<UnmatchedQuery>,
    Json(dry_run): Json<DryRun>,
) -> ApiResult<Json<gpunet_types::Unmatched>> {
    let closest = query.closest.unwrap_or(3).min(MAX_CLOSEST);
    let l = node.ledger.read().expect("ledger lock");
    l.dry_run(
        &dry_run.spec,
        dry_run.max_price_per_hour,
        dry_run.rental,
        closest,
    )
    .map(Json)
    .map_err(|e| fail(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string()))
}

async fn order(State(node): State<Node>, Path(raw): Path<String>) -> ApiResult<Json<OrderView>> {
    let id: OrderId = parse("order id", &raw)?;
    let l = node.ledger.read().expect("ledger lock");
    l.order(id)
        .map(|o| Json(o.view()))
        .ok_or_else(|| not_found(format!("unknown order {id}")))
}

async fn challenge(
    State(node): State<Node>,
    Path(raw): Path<String>,
) -> ApiResult<Json<ChallengeView>> {
    let id: ChallengeId = parse("challenge id", &raw)?;
    let l = node.ledger.read().expect("ledger lock");
    l.challenge(id)
        .map(|c| Json(c.view()))
        .ok_or_else(|| not_found(format!("no open challenge {id}")))
}

async fn provider_leases(
    State(node): State<Node>,
    Path(raw): Path<String>,
) -> ApiResult<Json<Vec<OrderView>>> {
    let address: Address = parse("address", &raw)?;
    let l = node.ledger.read().expect("ledger lock");
    Ok(Json(
        l.open_leases(&address)
            .into_iter()
            .map(Order::view)
            .collect(),
    ))
}

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
async fn snapshots(State(node): State<Node>) -> Json<Vec<SnapshotInfo>> {
    let snapshots = node.snapshots.clone();
    Json(
        tokio::task::spawn_blocking(move || snapshots.list())
            .await
            .unwrap_or_default(),
    )
}

/// One file of a snapshot: its manifest, its block's certificate or a chunk.
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

#[derive(Deserialize)]
struct EventFilter {
    order: Option<OrderId>,
    address: Option<String>,
}

/// Server-sent events of committed blocks, filtered by order or by party.
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

fn blob_error(e: BlobError) -> (StatusCode, Json<ApiError>) {
    match e {
        BlobError::HashMismatch { .. } => fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::HashMismatch,
            e.to_string(),
        ),
        BlobError::TooLarge { .. } => fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            e.to_string(),
        ),
        BlobError::DiskFull { .. } => fail(
            StatusCode::INSUFFICIENT_STORAGE,
            ErrorCode::DiskFull,
            e.to_string(),
        ),
        BlobError::Io(_) => fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Storage,
            e.to_string(),
        ),
    }
}

/// Why a signed request failed the checks every kind shares.
fn request_error(e: &RequestError) -> (StatusCode, ErrorCode) {
    match e {
        RequestError::BadSignature | RequestError::WrongChain(_) => {
            (StatusCode::BAD_REQUEST, ErrorCode::BadSignature)
        }
        RequestError::Expired { .. } => (StatusCode::UNAUTHORIZED, ErrorCode::Expired),
    }
}

fn upload_error(e: UploadError) -> (StatusCode, Json<ApiError>) {
    let (status, code) = match &e {
        UploadError::Request(e) => request_error(e),
        UploadError::Unfunded(_) => (StatusCode::FORBIDDEN, ErrorCode::Unfunded),
        UploadError::OverQuota { .. } => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::OverQuota),
    };
    fail(status, code, e.to_string())
}

/// The upload request of `PUT /v1/blobs` (header [`UPLOAD_HEADER`]), admitted:
/// a current request of a funded account within its quota.
fn admitted_upload(node: &Node, headers: &HeaderMap) -> ApiResult<SignedBlobUpload> {
    let raw = headers.get(UPLOAD_HEADER).ok_or_else(|| {
        fail(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            format!("blobs are stored for an account's signed request ({UPLOAD_HEADER})"),
        )
    })?;
    let upload: SignedBlobUpload =
        signed_header(raw).ok_or_else(|| bad_request(format!("malformed {UPLOAD_HEADER}")))?;
    let ledger = node.ledger.read().expect("ledger lock");
    node.uploads
        .admit(&ledger, &upload, wall_clock_ms())
        .map_err(upload_error)?;
    Ok(upload)
}

/// A borsh value sent hex-encoded in a header.
fn signed_header<T: borsh::BorshDeserialize>(raw: &HeaderValue) -> Option<T> {
    let bytes = hex::decode(raw.to_str().ok()?).ok()?;
    borsh::from_slice(&bytes).ok()
}

/// Bytes of a refused upload read before the refusal is sent.
const REFUSED_BODY_DRAIN: usize = 1 << 20;

/// Reads up to [`REFUSED_BODY_DRAIN`] bytes of a refused request's body
/// before the refusal is sent: a server that answers a client still writing
/// and closes leaves it a broken pipe instead of the reason.
async fn drain_refused(stream: &mut axum::body::BodyDataStream) {
    let mut drained = 0;
    while drained < REFUSED_BODY_DRAIN {
        match stream.next().await {
            Some(Ok(chunk)) => drained += chunk.len(),
            _ => break,
        }
    }
}

/// Reads a request body of at most `limit` bytes; a longer one is refused
/// (413) once drained.
async fn read_limited(body: Body, limit: usize) -> ApiResult<Bytes> {
    let mut stream = body.into_data_stream();
    let mut read = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| bad_request(format!("request interrupted: {e}")))?;
        if read.len() + chunk.len() > limit {
            drain_refused(&mut stream).await;
            return Err(fail(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::TooLarge,
                format!("the request body is over its {limit}-byte limit"),
            ));
        }
        read.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(read))
}

/// Streams an upload into the blob store, for the account that signed its
/// request, and verifies it against the hash and size the request names.
async fn put_blob(
    State(node): State<Node>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<BlobInfo>> {
    let mut stream = body.into_data_stream();
    let admitted = match admitted_upload(&node, &headers) {
        Ok(signed) => node
            .blobs
            .writer(signed.body.size)
            .await
            .map(|writer| (signed.body, writer))
            .map_err(blob_error),
        Err(refused) => Err(refused),
    };
    let (upload, mut writer) = match admitted {
        Ok(admitted) => admitted,
        Err(refused) => {
            drain_refused(&mut stream).await;
            return Err(refused);
        }
    };
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| bad_request(format!("upload interrupted: {e}")))?;
        received += chunk.len() as u64;
        if received > upload.size {
            return Err(fail(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::TooLarge,
                format!(
                    "the upload is larger than the {} bytes it announced",
                    upload.size
                ),
            ));
        }
        writer.write(&chunk).await.map_err(blob_error)?;
    }
    // The quota was charged for the announced size, and a reader trusts the
    // size an input names: a shorter body with the right hash is refused too.
    if received != upload.size {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            ErrorCode::SizeMismatch,
            format!(
                "the upload is {received} bytes, not the {} it announced",
                upload.size
            ),
        ));
    }
    let (hash, size) = writer.finish(Some(upload.hash)).await.map_err(blob_error)?;
    Ok(Json(BlobInfo { hash, size }))
}

/// A blocking task that panicked or was cancelled.
fn blocking_failed(e: tokio::task::JoinError) -> (StatusCode, Json<ApiError>) {
    fail(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Internal,
        e.to_string(),
    )
}

fn blob_read_error(e: BlobReadError) -> (StatusCode, Json<ApiError>) {
    let (status, code) = match &e {
        BlobReadError::Request(e) => request_error(e),
        BlobReadError::UnknownOrder(_) | BlobReadError::Missing(_) => {
            (StatusCode::NOT_FOUND, ErrorCode::NotFound)
        }
        BlobReadError::NotAValidator(_)
        | BlobReadError::NotAParty { .. }
        | BlobReadError::NoHolderProof { .. }
        | BlobReadError::NotNamed { .. } => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
    };
    fail(status, code, e.to_string())
}

/// Checks the read request of a blob request (header [`BLOB_READ_HEADER`])
/// and that blob `hash` is in its scope (see [`gpunet_node::ReadScope`]);
/// returns the request. A blob, or the manifest that decides, that this node
/// lacks is first copied from a peer, which checks the same request.
async fn readable(node: &Node, headers: &HeaderMap, hash: Hash) -> ApiResult<SignedBlobRead> {
    let raw = headers.get(BLOB_READ_HEADER).ok_or_else(|| {
        fail(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            format!(
                "blobs are read with a request signed by a party to an order that names them ({BLOB_READ_HEADER})"
            ),
        )
    })?;
    let read: SignedBlobRead =
        signed_header(raw).ok_or_else(|| bad_request(format!("malformed {BLOB_READ_HEADER}")))?;
    let scope = {
        let ledger = node.ledger.read().expect("ledger lock");
        ReadScope::of(&ledger, &read, wall_clock_ms()).map_err(blob_read_error)?
    };
    if !headers.contains_key(LOCAL_ONLY_HEADER) {
        // A provider may have uploaded its outputs to another node.
        for needed in std::iter::once(hash).chain(scope.manifest_for(&hash)) {
            if !node.blobs.contains(&needed) {
                blob_replication::fetch_from_peers(node, needed, raw).await;
            }
        }
    }
    let blobs = node.blobs.clone();
    tokio::task::spawn_blocking(move || scope.allows(&blobs, &hash))
        .await
        .map_err(blocking_failed)?
        .map_err(blob_read_error)?;
    Ok(read)
}

/// Streams blob `hash` to a reader it is in scope for.
async fn get_blob(
    State(node): State<Node>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let hash: Hash = parse("hash", &raw)?;
    readable(&node, &headers, hash).await?;
    let file = tokio::fs::File::open(node.blobs.path(&hash))
        .await
        .map_err(|_| not_found(format!("no blob {hash}")))?;
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The proof that the reader holds blob `hash` (an input's `holder_proof`),
/// for a reader it is in scope for: a client names a file of one order's
/// result as an input of the next without downloading it.
async fn holder_proof(
    State(node): State<Node>,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<HolderProof>> {
    let hash: Hash = parse("hash", &raw)?;
    let holder = readable(&node, &headers, hash).await?.signer;
    let blobs = node.blobs.clone();
    let secret = tokio::task::spawn_blocking(move || blobs.read_secret(&hash))
        .await
        .map_err(blocking_failed)?
        .ok_or_else(|| not_found(format!("no blob {hash}")))?;
    Ok(Json(HolderProof {
        blob: hash,
        holder,
        proof: secret.proof_for(&holder),
    }))
}

/// Takes a chunk of a running job's log from the provider running it
/// (borsh-encoded [`SignedLogChunk`]).
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

#[derive(Deserialize)]
struct LiveLogQuery {
    #[serde(default)]
    from: u64,
}

/// What is kept of a running job's log from byte `from` on (the body), and
/// the offset it starts at (header [`LOG_OFFSET_HEADER`]): later than `from`
/// when bytes in between were not kept, earlier when this node holds less
/// than the reader has seen. Only for the order's client (a signed request,
/// header [`LOG_READ_HEADER`]). Asks the peers when this node holds nothing
/// of the order (its provider may push to another node).
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

/// Other nodes' APIs this node knows (empty with a single validator).
async fn peers(State(node): State<Node>) -> Json<Peers> {
    Json(Peers {
        apis: node.consensus.peer_apis(),
    })
}
