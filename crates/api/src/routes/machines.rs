//! The machines on offer, searched with the offer query, and their
//! hardware challenges.

use super::{bad_request, not_found, parse, ApiResult, MAX_CLOSEST};
use axum::extract::{Path, Query, State};
use axum::Json;
use gpunet_node::Node;
use gpunet_primitives::{ChallengeId, MachineId};
use gpunet_types::api::{MachineSearch, MATCHED_HEADER};
use gpunet_types::offers::NearMiss;
use gpunet_types::{offers, ApiError, ChallengeView, Machine};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This module's routes, each with its OpenAPI operation.
pub(super) fn routes() -> OpenApiRouter<Node> {
    OpenApiRouter::new()
        .routes(routes!(machines))
        .routes(routes!(closest_machines))
        .routes(routes!(machine))
        .routes(routes!(challenge))
}

/// The filters and order of `search`, parsed.
fn offer_query(search: &MachineSearch) -> ApiResult<offers::Query> {
    let terms: Vec<String> = search.q.iter().cloned().collect();
    offers::Query::parse(&terms, search.order.as_deref()).map_err(|e| bad_request(e.to_string()))
}

/// The machines a search matches, in its order, at most `limit` of them;
/// header [`MATCHED_HEADER`] says how many matched.
#[utoipa::path(
    get, path = "/v1/machines",
    tag = "machines",
    params(MachineSearch),
    responses(
        (status = OK, description = "The machines the search matches, in its order.", body = Vec<Machine>, headers(("x-gpunet-matched" = usize, description = "How many matched, when `limit` cut the list."))),
        (status = 400, description = "The query does not parse.", body = ApiError),
    )
)]
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
#[utoipa::path(
    get, path = "/v1/machines/closest",
    tag = "machines",
    params(MachineSearch),
    responses(
        (status = OK, description = "The machines that miss fewest of the filters, each with those it misses.", body = Vec<NearMiss>),
        (status = 400, description = "The query does not parse.", body = ApiError),
    )
)]
async fn closest_machines(
    State(node): State<Node>,
    Query(search): Query<MachineSearch>,
) -> ApiResult<Json<Vec<offers::NearMiss>>> {
    let query = offer_query(&search)?;
    let ledger = node.ledger.read().expect("ledger lock");
    let limit = search.limit.unwrap_or(3).min(MAX_CLOSEST);
    Ok(Json(query.closest(ledger.machines(), limit)))
}

/// One machine: its offer, what is leased out of it, what it has proven.
#[utoipa::path(
    get, path = "/v1/machines/{id}",
    tag = "machines",
    params(("id" = u64, Path, description = "The machine's id.")),
    responses(
        (status = OK, description = "The machine.", body = Machine),
        (status = 400, description = "Not a machine id.", body = ApiError),
        (status = 404, description = "No such machine.", body = ApiError),
    )
)]
async fn machine(State(node): State<Node>, Path(raw): Path<String>) -> ApiResult<Json<Machine>> {
    let id: MachineId = parse("machine id", &raw)?;
    let l = node.ledger.read().expect("ledger lock");
    l.machine(id)
        .cloned()
        .map(Json)
        .ok_or_else(|| not_found(format!("unknown machine {id}")))
}

/// An open hardware challenge.
#[utoipa::path(
    get, path = "/v1/challenges/{id}",
    tag = "machines",
    params(("id" = u64, Path, description = "The challenge's id.")),
    responses(
        (status = OK, description = "An open hardware challenge.", body = ChallengeView),
        (status = 400, description = "Not a challenge id.", body = ApiError),
        (status = 404, description = "No open challenge by that id.", body = ApiError),
    )
)]
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
