//! The agent's own HTTP endpoint (`gpunet provider --metrics-listen`): its
//! Prometheus metrics at `/metrics` and, at `/v1/openapi.json`, the OpenAPI
//! document of this endpoint, as every node serves its own. Plain HTTP, read
//! only, and nothing in it is secret: it says what this machine ran and
//! earned, which the chain says too.

use crate::metrics::{AgentMetrics, METRICS_CONTENT_TYPE};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::sync::Arc;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What the generated OpenAPI document says beside its operations.
#[derive(utoipa::OpenApi)]
#[openapi(info(
    title = "gpunet provider agent endpoint",
    description = "What a provider agent serves for its operator's monitoring."
))]
struct EndpointDoc;

fn api() -> OpenApiRouter<Arc<AgentMetrics>> {
    OpenApiRouter::with_openapi(EndpointDoc::openapi())
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
}

/// The endpoint's OpenAPI 3.1 document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}

/// Serves the endpoint on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<AgentMetrics>) {
    let (routes, _) = api().split_for_parts();
    if let Err(e) = axum::serve(listener, routes.with_state(metrics)).await {
        tracing::warn!("the agent's metrics endpoint stopped: {e}");
    }
}

/// What this agent counts: leases, runs, challenges, executor errors,
/// earnings and slashes, as OpenMetrics text.
#[utoipa::path(
    get, path = "/metrics",
    responses((status = OK, description = "OpenMetrics text.", body = String, content_type = "application/openmetrics-text"))
)]
async fn metrics(State(metrics): State<Arc<AgentMetrics>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        metrics.render(),
    )
}

/// This endpoint's OpenAPI 3.1 document.
#[utoipa::path(
    get, path = "/v1/openapi.json",
    responses((status = OK, description = "The OpenAPI document of this endpoint.", body = Object))
)]
async fn openapi_json() -> impl IntoResponse {
    let json = openapi()
        .to_pretty_json()
        .expect("an OpenAPI document serializes");
    ([(header::CONTENT_TYPE, "application/json")], json)
}
