//! Accounts and the orders they place or run.

use super::{not_found, parse, ApiResult};
use axum::extract::{Path, Query, State};
use axum::Json;
use gpunet_ledger::Order;
use gpunet_node::Node;
use gpunet_primitives::Address;
use gpunet_types::api::{AccountView, OrdersPage, MAX_ORDERS_PAGE, ORDERS_PAGE};
use gpunet_types::{ApiError, OrderView, PeerAddr};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This module's routes, each with its OpenAPI operation.
pub(super) fn routes() -> OpenApiRouter<Node> {
    OpenApiRouter::new()
        .routes(routes!(account))
        .routes(routes!(account_orders))
        .routes(routes!(provider_leases))
        .routes(routes!(peer))
}

/// Where an account's data-plane peer is reached, as it last announced
/// (`TxBody::AnnouncePeer`): a provider's results and images are fetched
/// there.
#[utoipa::path(
    get, path = "/v1/accounts/{address}/peer",
    tag = "accounts",
    params(("address" = Address, Path, description = "The account.")),
    responses(
        (status = OK, description = "Its peer's addresses and relay.", body = PeerAddr),
        (status = 400, description = "Not an account's key.", body = ApiError),
        (status = 404, description = "It announced no peer.", body = ApiError),
    )
)]
async fn peer(State(node): State<Node>, Path(raw): Path<String>) -> ApiResult<Json<PeerAddr>> {
    let address: Address = parse("address", &raw)?;
    let peer = node.ledger.read().expect("ledger lock").peer(&address);
    peer.map(Json)
        .ok_or_else(|| not_found(format!("account {address} announced no peer")))
}

/// What an account holds: balance, stake, nonce.
#[utoipa::path(
    get, path = "/v1/accounts/{address}",
    tag = "accounts",
    params(("address" = Address, Path, description = "The account.")),
    responses(
        (status = OK, description = "What the account holds (all zero if never used).", body = AccountView),
        (status = 400, description = "Not an account's key.", body = ApiError),
    )
)]
async fn account(
    State(node): State<Node>,
    Path(raw): Path<String>,
) -> ApiResult<Json<AccountView>> {
    let address: Address = parse("address", &raw)?;
    let account = node.ledger.read().expect("ledger lock").account(&address);
    Ok(Json(AccountView { address, account }))
}

/// A page of the account's orders, newest first (see [`OrdersPage`]).
#[utoipa::path(
    get, path = "/v1/accounts/{address}/orders",
    tag = "accounts",
    params(("address" = Address, Path, description = "The client."), OrdersPage),
    responses(
        (status = OK, description = "A page of the account's orders, newest first.", body = Vec<OrderView>),
        (status = 400, description = "Not an account's key, or a bad page.", body = ApiError),
    )
)]
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

/// The orders leased to a provider's machines and not yet ended.
#[utoipa::path(
    get, path = "/v1/providers/{address}/leases",
    tag = "accounts",
    params(("address" = Address, Path, description = "The provider.")),
    responses(
        (status = OK, description = "The orders leased to the provider's machines and not yet ended.", body = Vec<OrderView>),
        (status = 400, description = "Not an account's key.", body = ApiError),
    )
)]
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
