//! The web console every node serves at `/`: server-rendered HTML (maud),
//! charts drawn on the server (plotters, SVG inline), no script and no
//! request to anywhere else, so it works offline and behind any proxy.
//!
//! Read only, and public like the chain it shows: no page holds a secret or
//! a log (a job's logs need its client's signature; the CLI has them). The
//! figures come from the same ledger reads as the JSON API, and the browser
//! test in the CLI's tests checks that they match.

mod charts;
mod overview;
mod pages;

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use gpunet_node::Node;
use gpunet_primitives::json::format_rfc3339;
use gpunet_primitives::{format_amount, Amount};
use maud::{html, Markup, PreEscaped, DOCTYPE};

/// The console's pages, over `node`.
pub(crate) fn routes(node: Node) -> Router {
    Router::new()
        .route("/", get(overview::page))
        .route("/machines", get(pages::machines))
        .route("/machines/{id}", get(pages::machine))
        .route("/orders", get(pages::orders))
        .route("/orders/{id}", get(pages::order))
        .route("/blocks", get(pages::blocks))
        .route("/blocks/{height}", get(pages::block))
        .route("/accounts/{address}", get(pages::account))
        .route("/api", get(pages::api_reference))
        .route("/favicon.ico", get(favicon))
        .with_state(node)
}

/// No icon: an empty answer instead of a 404 the browser would log.
async fn favicon() -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::CACHE_CONTROL, "max-age=86400")],
    )
        .into_response()
}

/// A page: the layout around `body`, titled `title`; `refresh_secs` reloads
/// it that often (the live parts: no script needed).
fn layout(title: &str, refresh_secs: Option<u32>, body: Markup) -> Response {
    respond(StatusCode::OK, document(title, refresh_secs, body))
}

/// `page` as an answer with `status`.
fn respond(status: StatusCode, page: Markup) -> Response {
    (status, Html(page.into_string())).into_response()
}

/// The whole HTML document of a page (see [`layout`]).
fn document(title: &str, refresh_secs: Option<u32>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(secs) = refresh_secs {
                    meta http-equiv="refresh" content=(secs);
                }
                title { (title) " · gpunet" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                nav {
                    a.brand href="/" { "gpunet" }
                    a href="/machines" { "Machines" }
                    a href="/orders" { "Orders" }
                    a href="/blocks" { "Blocks" }
                    a href="/api" { "API" }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The HTML of the pages that read the whole ledger, as their routes
/// render them, from `state` at `head`: what `gpunet bench console` times.
pub mod render {
    use gpunet_ledger::State;
    use gpunet_primitives::BlockHeader;

    /// `/`, with no history and no finality measured.
    pub fn overview(head: &BlockHeader, state: &State) -> String {
        super::overview::overview(head, state, &[], None).into_string()
    }

    /// `/machines?q=QUERY&order=ORDER`.
    pub fn machines(state: &State, query: &str, order: &str) -> String {
        super::pages::machines_page(state, query, order)
            .1
            .into_string()
    }

    /// `/orders`.
    pub fn orders(state: &State) -> String {
        super::pages::orders_page(state).into_string()
    }
}

/// The page of a path that is none of the console's.
pub(crate) async fn not_found(uri: axum::http::Uri) -> Response {
    let path: String = uri.path().chars().take(200).collect();
    missing(StatusCode::NOT_FOUND, &format!("No page at {path}."))
}

/// A page saying what is not there, with its status.
fn missing(status: StatusCode, what: &str) -> Response {
    let mut response = layout("Not found", None, html! { p.empty { (what) } });
    *response.status_mut() = status;
    response
}

/// `amount` as people read it: `12.5 GPN`.
fn gpn(amount: Amount) -> String {
    let text = format_amount(amount);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} GPN")
}

/// An instant as the API writes it, shorter: `2026-12-04 05:40:38Z`.
fn instant(ms: u64) -> String {
    let text = format_rfc3339(ms);
    let seconds = text.split('.').next().unwrap_or(&text);
    format!("{}Z", seconds.replace('T', " "))
}

/// The first characters of a long hex id, linked or not by the caller.
fn short(hex: &impl std::fmt::Display) -> String {
    let text = hex.to_string();
    format!("{}…", &text[..text.len().min(12)])
}

/// A value's JSON name (`verified`, `timed_out`), as the API spells it.
fn spelled<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        other => format!("{other:?}"),
    }
}

const STYLE: &str = "
body{margin:0;font:15px/1.45 system-ui,sans-serif;color:#1d2433;background:#f6f7f9}
nav{display:flex;gap:1.2em;align-items:center;padding:.7em 1.5em;background:#1d2433}
nav a{color:#cdd6e4;text-decoration:none}nav a.brand{color:#fff;font-weight:700;margin-right:1em}
main{max-width:1200px;margin:0 auto;padding:1em 1.5em 3em}
h1{font-size:1.5em;margin:.4em 0 .8em}h2{font-size:1.15em;margin:1.6em 0 .5em}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:.8em}
.card{background:#fff;border:1px solid #e1e5ec;border-radius:8px;padding:.7em 1em}
.card .label{color:#66708a;font-size:.85em}.card .value{font-size:1.35em;font-weight:600}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #e1e5ec}
th,td{text-align:left;padding:.35em .7em;border-bottom:1px solid #eef0f4;white-space:nowrap}
th{background:#f0f2f6;font-weight:600;font-size:.9em}td.num,th.num{text-align:right}
a{color:#2456c6}.empty{color:#66708a}code{font-size:.9em}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:1em}
.chart{background:#fff;border:1px solid #e1e5ec;border-radius:8px;padding:.5em}
.chart svg{width:100%;height:auto}
form input[type=text]{width:min(560px,70%);padding:.4em;font:inherit}
form button{padding:.4em 1em;font:inherit}
.error{color:#a3261b}.badge{padding:.05em .5em;border-radius:1em;background:#eef0f4;font-size:.85em}
";

/// A figure card; `figure` names it for the browser test (`data-figure`).
fn card(label: &str, figure: &str, value: impl std::fmt::Display) -> Markup {
    html! {
        div.card {
            div.label { (label) }
            div.value data-figure=(figure) { (value) }
        }
    }
}
