//! Orders, and what matching makes (or would make) of them.

use super::{fail, not_found, parse, ApiResult, MAX_CLOSEST};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use gpunet_node::Node;
use gpunet_primitives::{OrderId, MAX_TX_BYTES};
use gpunet_types::api::DryRun;
use gpunet_types::{ApiError, OrderView, Unmatched};
use serde::Deserialize;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// This module's routes, each with its OpenAPI operation.
pub(super) fn routes() -> OpenApiRouter<Node> {
    OpenApiRouter::new()
        .routes(routes!(order_dry_run).layer(DefaultBodyLimit::max(MAX_DRY_RUN_BYTES)))
        .routes(routes!(order))
        .routes(routes!(order_unmatched))
}

/// Why an order finds no machine: how many machines miss each of its
/// requirements, and the `closest` (default 3, at most 100) that miss fewest.
#[utoipa::path(
    get, path = "/v1/orders/{id}/unmatched",
    tag = "orders",
    params(("id" = u64, Path, description = "The order's id."), UnmatchedQuery),
    responses(
        (status = OK, description = "How many machines miss each requirement, and the closest.", body = Unmatched),
        (status = 400, description = "Not an order id.", body = ApiError),
        (status = 404, description = "No such order.", body = ApiError),
    )
)]
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct UnmatchedQuery {
    /// How many of the closest machines to list (default 3, at most 100).
    closest: Option<usize>,
}

/// Largest dry-run body: a spec as JSON is a few times its borsh size.
const MAX_DRY_RUN_BYTES: usize = 4 * MAX_TX_BYTES;

/// What matching would make of an order now, without placing it (see
/// [`DryRun`]): the `closest` (default 3, at most 100) machines are those
/// that could take it, cheapest first, or else those that miss fewest.
#[utoipa::path(
    post, path = "/v1/orders/dry-run",
    tag = "orders",
    params(UnmatchedQuery),
    request_body = DryRun,
    responses(
        (status = OK, description = "The machines that could take it, cheapest first, or those that miss fewest.", body = Unmatched),
        (status = 400, description = "A body that is not a dry run.", body = ApiError),
        (status = 413, description = "A body over its limit.", body = ApiError),
        (status = 422, description = "A spec the ledger would refuse: the code says why.", body = ApiError),
    )
)]
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

/// One order: a job or a rental, in its phase.
#[utoipa::path(
    get, path = "/v1/orders/{id}",
    tag = "orders",
    params(("id" = u64, Path, description = "The order's id.")),
    responses(
        (status = OK, description = "The order, in its phase.", body = OrderView),
        (status = 400, description = "Not an order id.", body = ApiError),
        (status = 404, description = "No such order.", body = ApiError),
    )
)]
async fn order(State(node): State<Node>, Path(raw): Path<String>) -> ApiResult<Json<OrderView>> {
    let id: OrderId = parse("order id", &raw)?;
    let l = node.ledger.read().expect("ledger lock");
    l.order(id)
        .map(|o| Json(o.view()))
        .ok_or_else(|| not_found(format!("unknown order {id}")))
}
