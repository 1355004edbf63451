//! The API's handlers, one module per area; this module holds what they
//! share: error answers, path parsing, signed headers, bounded bodies.

mod accounts;
mod blobs;
mod chain;
mod logs;
mod machines;
mod orders;
mod tx;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use gpunet_node::Node;
use gpunet_primitives::RequestError;
use gpunet_types::{ApiError, ErrorCode, NodeAddress};

use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What the generated OpenAPI document says beside its operations.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "gpunet node API",
        description = "The HTTP JSON API every gpunet node serves over TLS pinned to its key \
            (`https://HOST:PORT#KEY`). Amounts are exact decimal GPN strings, instants RFC 3339, \
            durations integers of milliseconds under keys that end in `_ms`. Every error is \
            `{code, message}` with a stable `code` (see `ErrorCode`). Reads are public but for \
            blobs and live logs, which need a party's signed request in a header; writes are \
            signed transactions posted to `/v1/tx`."
    ),
    tags(
        (name = "chain", description = "The chain as this node sees it."),
        (name = "accounts", description = "Accounts and their orders."),
        (name = "transactions", description = "The only way anything changes."),
        (name = "machines", description = "Machines on offer and their hardware challenges."),
        (name = "orders", description = "Jobs and rentals, and why one waits."),
        (name = "blobs", description = "Job inputs and outputs."),
        (name = "logs", description = "Live logs of running jobs."),
        (name = "reference", description = "This document."),
    )
)]
struct ApiDoc;

/// Every route of the API with its OpenAPI operation: a route cannot be
/// added without its documentation, since this is the only way in.
pub(crate) fn api() -> OpenApiRouter<Node> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(openapi_json))
        .merge(chain::routes())
        .merge(accounts::routes())
        .merge(tx::routes())
        .merge(machines::routes())
        .merge(orders::routes())
        .merge(blobs::routes())
        .merge(logs::routes())
}

/// What a node's plain-HTTP listener serves beside the console (see
/// `serve_console`): its metrics and this document, public both.
pub(crate) fn public() -> axum::Router<Node> {
    chain::metrics_route()
        .routes(routes!(openapi_json))
        .split_for_parts()
        .0
}

/// The API's OpenAPI 3.1 document, generated from the handlers and the wire
/// types (what `GET /v1/openapi.json` answers).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(
    get, path = "/v1/openapi.json",
    tag = "reference",
    responses((status = OK, description = "The OpenAPI document of this API.", body = Object))
)]
async fn openapi_json() -> Response {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let json = DOCUMENT.get_or_init(|| {
        openapi()
            .to_pretty_json()
            .expect("an OpenAPI document serializes")
    });
    ([(header::CONTENT_TYPE, "application/json")], json.clone()).into_response()
}

pub(crate) type ApiResult<T> = Result<T, (StatusCode, Json<ApiError>)>;

pub(crate) fn fail(
    status: StatusCode,
    code: ErrorCode,
    message: impl Into<String>,
) -> (StatusCode, Json<ApiError>) {
    (status, Json(ApiError::new(code, message)))
}

pub(crate) fn not_found(what: String) -> (StatusCode, Json<ApiError>) {
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

/// The peers' API addresses, each with the key their certificates carry.
pub(crate) fn peer_addresses(node: &Node) -> Vec<NodeAddress> {
    node.consensus
        .peer_apis()
        .iter()
        .filter_map(|api| api.parse().ok())
        .collect()
}

/// Most machines `GET /v1/machines/closest` returns.
const MAX_CLOSEST: usize = 100;

/// Why a signed request failed the checks every kind shares.
fn request_error(e: &RequestError) -> (StatusCode, ErrorCode) {
    match e {
        RequestError::BadSignature | RequestError::WrongChain(_) => {
            (StatusCode::BAD_REQUEST, ErrorCode::BadSignature)
        }
        RequestError::Expired { .. } => (StatusCode::UNAUTHORIZED, ErrorCode::Expired),
    }
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

/// A blocking task that panicked or was cancelled.
fn blocking_failed(e: tokio::task::JoinError) -> (StatusCode, Json<ApiError>) {
    fail(
        StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::Internal,
        e.to_string(),
    )
}

/// Raw bytes in a body (`application/octet-stream`): blobs, snapshot files,
/// log chunks, transactions.
struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .content_media_type("application/octet-stream")
            .description(Some("Raw bytes."))
            .into()
    }
}

impl utoipa::ToSchema for Binary {}

#[cfg(test)]
mod tests {
    use gpunet_types::ErrorCode;
    use strum::IntoEnumIterator;

    /// The document's `ErrorCode` is the Rust one: every code, no other.
    #[test]
    fn the_document_lists_every_error_code() {
        let document = serde_json::to_value(super::openapi()).unwrap();
        let listed = &document["components"]["schemas"]["ErrorCode"]["enum"];
        let codes: Vec<&str> = ErrorCode::iter().map(ErrorCode::as_str).collect();
        assert_eq!(listed, &serde_json::json!(codes));
        assert_eq!(
            document["components"]["schemas"]["ApiError"]["properties"]["code"]["$ref"],
            "#/components/schemas/ErrorCode"
        );
    }

    /// Every operation says what it does, under a tag, and how it succeeds.
    #[test]
    fn every_operation_is_described() {
        let document = serde_json::to_value(super::openapi()).unwrap();
        let paths = document["paths"].as_object().unwrap();
        assert!(paths.len() >= 24, "{paths:?}");
        for (path, item) in paths {
            for (method, operation) in item.as_object().unwrap() {
                let what = format!("{method} {path}");
                assert!(operation["summary"].is_string(), "{what} has no summary");
                assert!(operation["tags"][0].is_string(), "{what} has no tag");
                let responses = operation["responses"].as_object().unwrap();
                assert!(
                    responses.keys().any(|status| status.starts_with('2')),
                    "{what} has no success"
                );
                for (status, response) in responses {
                    if !status.starts_with('2') {
                        assert_eq!(
                            response["content"]["application/json"]["schema"]["$ref"],
                            "#/components/schemas/ApiError",
                            "{what} answers {status} with an ApiError"
                        );
                    }
                }
            }
        }
    }
}
