//! How the node API is served: TLS pinned to the node's key, limits on
//! slow and greedy clients, and every error as JSON `{code, message}`. The
//! handlers are in `routes`.

use crate::console;
use crate::routes::{self, fail, not_found};
use crate::tls::{self, TlsListener};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use gpunet_node::Node;
use gpunet_primitives::Keypair;
use gpunet_types::{ApiError, ErrorCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::time::Duration;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// All routes, over `node`: the JSON API, as [`routes::openapi`] documents
/// it, and the web console.
pub fn router(node: Node) -> Router {
    let (routes, _) = routes::api().split_for_parts();
    routes
        .with_state(node.clone())
        .merge(console::routes(node))
        .fallback(no_such_route)
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::map_response(errors_as_json))
}

/// Serves the web console, `/metrics` and `/v1/openapi.json` over plain
/// HTTP on `listener`, until the process ends: what a browser opens (none
/// takes the API's certificate, whose key is ed25519) and Prometheus
/// scrapes without skipping a certificate check. Public and read only;
/// put a TLS proxy in front of it to expose it beyond the machine.
pub async fn serve_console(listener: tokio::net::TcpListener, node: Node) -> std::io::Result<()> {
    let app = routes::public()
        .with_state(node.clone())
        .merge(console::routes(node))
        .fallback(console::not_found);
    axum::serve(listener, app).await
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
    // The console's pages answer their own errors, in HTML.
    let is_typed = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| {
            t.as_bytes().starts_with(b"application/json") || t.as_bytes().starts_with(b"text/html")
        });
    if !(status.is_client_error() || status.is_server_error()) || is_typed {
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
