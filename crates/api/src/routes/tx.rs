//! Transaction submission: the only way anything changes.

use super::{fail, read_limited, ApiResult, Binary};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use gpunet_ledger::TxError;
use gpunet_node::{Node, SubmitError};
use gpunet_primitives::{decode_signed_tx, MAX_TX_BYTES};
use gpunet_types::api::SubmitTx;
use gpunet_types::{ApiError, ErrorCode, Included};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This module's routes, each with its OpenAPI operation.
pub(super) fn routes() -> OpenApiRouter<Node> {
    OpenApiRouter::new().routes(routes!(submit_tx))
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
#[utoipa::path(
    post, path = "/v1/tx",
    tag = "transactions",
    request_body(description = "A signed transaction: its canonical bytes, or JSON with them in hex.", content((Binary = "application/octet-stream"), (SubmitTx = "application/json"))),
    responses(
        (status = OK, description = "The transaction is in a block: where, and what it did.", body = Included),
        (status = 400, description = "Bytes that do not decode as a signed transaction (`malformed`, `too_large`).", body = ApiError),
        (status = 404, description = "It names an unknown machine or order.", body = ApiError),
        (status = 413, description = "A body over its limit.", body = ApiError),
        (status = 422, description = "The ledger refused it: the code says why.", body = ApiError),
        (status = 503, description = "The node is busy or stopping: try again or elsewhere.", body = ApiError),
        (status = 504, description = "Not included in time (`expired`): it may still be.", body = ApiError),
    )
)]
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
