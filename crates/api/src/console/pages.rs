//! The console's pages but the overview: machines and the offer search,
//! orders, blocks, accounts and the API reference.

use super::{card, document, gpn, instant, layout, missing, respond, short, spelled};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use gpunet_ledger::{Order, State as LedgerState};
use gpunet_node::Node;
use gpunet_primitives::{Address, JobOutcome, MachineId, OrderId, OutputHolder};
use gpunet_types::{offers, Machine, OrderStatus, OrderView, WorkspaceState};
use maud::{html, Markup};
use serde::Deserialize;

/// Machines listed on one page, and orders and blocks.
const ROWS: usize = 100;

/// The offer search of `/machines`, as the CLI's `machines list` takes it.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Search {
    /// Filter terms, e.g. `gpu_model=H100 vram>=80`.
    #[serde(default)]
    q: String,
    /// Sort keys, e.g. `-gops,price`.
    #[serde(default)]
    order: String,
}

/// `/machines`: the offer search with the CLI's query language.
pub(super) async fn machines(State(node): State<Node>, Query(search): Query<Search>) -> Response {
    // A pass over every machine: off the async workers.
    tokio::task::spawn_blocking(move || {
        let ledger = node.ledger.read().expect("ledger lock");
        let (status, page) = machines_page(ledger.state(), &search.q, &search.order);
        respond(status, page)
    })
    .await
    .unwrap_or_else(|e| missing(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))
}

/// The machines of `state` that `q` matches, sorted by `order`, or why the
/// query is not one.
pub(super) fn machines_page(state: &LedgerState, q: &str, order: &str) -> (StatusCode, Markup) {
    let form = html! {
        form method="get" action="/machines" {
            input type="text" name="q" value=(q) placeholder="gpu_model=H100 vram>=80 price<=2.5 verified=true";
            " "
            input type="text" name="order" value=(order) placeholder="-gops,price" style="width:10em";
            " "
            button type="submit" { "Search" }
        }
        p.empty { "Fields: " (offers::field_names().collect::<Vec<_>>().join(", ")) "; operators = != < <= > >=; sort keys with - first for descending." }
    };
    let terms = vec![q.to_string()];
    let query = match offers::Query::parse(&terms, (!order.is_empty()).then_some(order)) {
        Ok(query) => query,
        Err(e) => {
            let body = html! { (form) p.error data-figure="query-error" { (e) } };
            return (StatusCode::BAD_REQUEST, document("Machines", None, body));
        }
    };
    let machines = || state.machines.iter().map(|(_, m)| m);
    let mut found: Vec<&Machine> = machines().filter(|m| query.matches(m)).collect();
    let closest = found.is_empty().then(|| query.closest(machines(), 3));
    query.sort(&mut found);
    let matched = found.len();
    found.truncate(ROWS);
    let body = html! {
        (form)
        p { span data-figure="matched" { (matched) } " machines match" @if matched > ROWS { ", the first " (ROWS) " shown" } "." }
        (machine_table(&found))
        @if let Some(closest) = closest {
            @if !closest.is_empty() {
                h2 { "Closest offers" }
                table {
                    tr { th { "Machine" } th { "Misses" } }
                    @for near in &closest {
                        tr {
                            td { a href={ "/machines/" (near.machine.id) } { (near.machine.id) } }
                            td { (near.unmet.join(", ")) }
                        }
                    }
                }
            }
        }
    };
    (StatusCode::OK, document("Machines", None, body))
}

fn machine_table(machines: &[&Machine]) -> Markup {
    html! {
        table {
            tr {
                th.num { "Id" } th { "GPUs" } th.num { "CPU" } th.num { "RAM GB" } th { "Region" }
                th.num { "Price/h" } th.num { "GPU price/h" } th.num { "Score (Gops)" }
                th.num { "Reliability" } th { "Hardware" } th { "Online" } th.num { "Leases" }
            }
            @for m in machines {
                tr data-machine=(m.id) {
                    td.num { a href={ "/machines/" (m.id) } { (m.id) } }
                    td { (gpus(m)) }
                    td.num { (m.spec.cpu_cores) }
                    td.num { (m.spec.memory_mb / 1024) }
                    td { (m.spec.region) }
                    td.num { (gpn(m.price_per_hour)) }
                    td.num { (gpn(m.resource_prices.per_gpu_hour)) }
                    td.num { (m.compute_gops) }
                    td.num { (percent_bps(m.reliability_bps())) }
                    td { span.badge { (spelled(&m.hardware)) } }
                    td { @if m.online { "yes" } @else { "no" } }
                    td.num { (m.active_leases) }
                }
            }
        }
    }
}

fn gpus(m: &Machine) -> String {
    match &m.spec.gpu {
        Some(g) => format!("{} × {} ({} GB)", g.count, g.model, g.vram_mb / 1024),
        None => "none".to_string(),
    }
}

fn percent_bps(bps: u32) -> String {
    format!("{}.{:02} %", bps / 100, bps % 100)
}

/// `/machines/{id}`: one machine, its proofs and its open leases.
pub(super) async fn machine(State(node): State<Node>, Path(raw): Path<String>) -> Response {
    let Ok(id) = raw.parse::<MachineId>() else {
        return missing(
            StatusCode::BAD_REQUEST,
            &format!("{raw:?} is not a machine id"),
        );
    };
    let (machine, leases) = {
        let ledger = node.ledger.read().expect("ledger lock");
        let Some(machine) = ledger.machine(id).cloned() else {
            return missing(StatusCode::NOT_FOUND, &format!("No machine {id}."));
        };
        let leases: Vec<OrderView> = ledger
            .open_leases(&machine.owner)
            .into_iter()
            .map(Order::view)
            .filter(|o| o.lease.as_ref().is_some_and(|l| l.machine == id))
            .collect();
        (machine, leases)
    };
    let body = html! {
        div.cards {
            (card("GPUs", "gpus", gpus(&machine)))
            (card("Compute score", "gops", format!("{} Gops", machine.compute_gops)))
            (card("CPU score", "cpu-mops", format!("{} Mops", machine.cpu_mops)))
            (card("Reliability", "reliability", percent_bps(machine.reliability_bps())))
            (card("Hardware", "hardware", spelled(&machine.hardware)))
            (card("Challenges passed", "challenges-passed", machine.challenges_passed))
            (card("Price per hour", "price", gpn(machine.price_per_hour)))
            (card("Per GPU-hour", "gpu-price", gpn(machine.resource_prices.per_gpu_hour)))
            (card("Completed", "completed", machine.completed))
            (card("Failed", "failed", machine.failed))
            (card("Declined", "declined", machine.declined))
            (card("Online", "online", if machine.online { "yes" } else { "no" }))
        }
        h2 { "Offer" }
        table {
            tr { th { "Owner" } td { a href={ "/accounts/" (machine.owner) } { code { (machine.owner) } } } }
            tr { th { "CPU cores" } td { (machine.spec.cpu_cores) } }
            tr { th { "Memory" } td { (machine.spec.memory_mb) " MB" } }
            tr { th { "Disk" } td { (machine.spec.disk_mb) " MB" } }
            tr { th { "Region" } td { (machine.spec.region) } }
            tr { th { "Executor" } td { (machine.spec.executor) } }
            tr { th { "Registered" } td { (instant(machine.registered_ms)) } }
            tr { th { "Open challenge" } td {
                @match machine.challenge { Some(c) => { "challenge " (c) } None => "none" }
            } }
            tr { th { "Allocated" } td {
                (machine.allocated.gpus) " GPUs, " (machine.allocated.cpu_cores) " cores, "
                (machine.allocated.memory_mb) " MB"
            } }
        }
        h2 { "Open leases" }
        (order_table(&leases))
    };
    layout(&format!("Machine {id}"), Some(15), body)
}

fn order_table(orders: &[OrderView]) -> Markup {
    html! {
        @if orders.is_empty() {
            p.empty { "None." }
        } @else {
            table {
                tr {
                    th.num { "Order" } th { "Kind" } th { "Status" } th { "Client" } th { "Image" }
                    th.num { "Deposit" } th { "Submitted" } th.num { "Paid to provider" }
                }
                @for o in orders {
                    tr data-order=(o.id) {
                        td.num { a href={ "/orders/" (o.id) } { (o.id) } }
                        td { @if o.rental.is_some() { "rental" } @else if o.audit_of.is_some() { "audit" } @else { "job" } }
                        td { span.badge { (o.status) } }
                        td { a href={ "/accounts/" (o.client) } { code { (short(&o.client)) } } }
                        td { code { (o.spec.image) } }
                        td.num { (gpn(o.deposit)) }
                        td { (instant(o.submitted_ms)) }
                        td.num { (o.settlement.as_ref().map_or("-".to_string(), |s| gpn(s.paid_to_provider))) }
                    }
                }
            }
        }
    }
}

/// `/orders`: the latest orders.
pub(super) async fn orders(State(node): State<Node>) -> Response {
    let ledger = node.ledger.read().expect("ledger lock");
    respond(StatusCode::OK, orders_page(ledger.state()))
}

/// The latest orders of `state`, newest first.
pub(super) fn orders_page(state: &LedgerState) -> Markup {
    let orders: Vec<OrderView> = state
        .orders
        .iter()
        .rev()
        .take(ROWS)
        .map(|(_, o)| o.view())
        .collect();
    let body = html! {
        p.empty { "The latest " (ROWS) ", newest first. A job's logs need its client's key: " code { "gpunet job logs ID" } "." }
        (order_table(&orders))
    };
    document("Orders", Some(10), body)
}

/// `/orders/{id}`: a job or a rental, its lease, result and settlement.
pub(super) async fn order(State(node): State<Node>, Path(raw): Path<String>) -> Response {
    let Ok(id) = raw.parse::<OrderId>() else {
        return missing(
            StatusCode::BAD_REQUEST,
            &format!("{raw:?} is not an order id"),
        );
    };
    let Some(o) = node
        .ledger
        .read()
        .expect("ledger lock")
        .order(id)
        .map(Order::view)
    else {
        return missing(StatusCode::NOT_FOUND, &format!("No order {id}."));
    };
    let live = matches!(
        o.status,
        OrderStatus::Pending
            | OrderStatus::Preparing
            | OrderStatus::Running
            | OrderStatus::Reported
            | OrderStatus::Auditing
    );
    let body = html! {
        div.cards {
            (card("Status", "status", o.status))
            (card("Deposit", "deposit", gpn(o.deposit)))
            (card("In escrow", "escrow", gpn(o.escrow)))
            (card("Max price per hour", "max-price", gpn(o.max_price_per_hour)))
            @if let Some(s) = &o.settlement {
                (card("Paid to provider", "paid-to-provider", gpn(s.paid_to_provider)))
                (card("Burned", "order-burned", gpn(s.burned)))
                (card("Refunded", "refunded", gpn(s.refunded)))
                (card("Slashed", "order-slashed", gpn(s.slashed)))
            }
        }
        h2 { "Spec" }
        table {
            tr { th { "Client" } td { a href={ "/accounts/" (o.client) } { code { (o.client) } } } }
            tr { th { "Image" } td { code { (o.spec.image) } } }
            tr { th { "Command" } td { code { (o.spec.command.join(" ")) } } }
            tr { th { "Resources" } td {
                (o.spec.resources.gpu.count) " GPUs, "
                (o.spec.resources.cpu_cores) " cores, " (o.spec.resources.memory_mb) " MB"
            } }
            tr { th { "Timeout" } td { (o.spec.timeout_secs) " s" } }
            tr { th { "Submitted" } td { (instant(o.submitted_ms)) } }
        }
        @if let Some(lease) = &o.lease {
            h2 { "Lease" }
            table {
                tr { th { "Machine" } td { a href={ "/machines/" (lease.machine) } { (lease.machine) } } }
                tr { th { "Provider" } td { a href={ "/accounts/" (lease.provider) } { code { (lease.provider) } } } }
                tr { th { "Started" } td { (instant(lease.start_ms)) } }
                tr { th { "Deadline" } td { (instant(lease.deadline_ms)) } }
            }
        }
        @if let Some(report) = &o.report {
            h2 { "Result" }
            table {
                tr { th { "Reported" } td { (instant(report.reported_ms)) } }
                @match &report.outcome {
                    JobOutcome::Completed { exit_code, output_root, output_bytes, duration_ms, stopped, held_by } => {
                        tr { th { "Outcome" } td data-figure="outcome" { "completed" } }
                        tr { th { "Exit code" } td { (exit_code) } }
                        tr { th { "Ran" } td { (duration_ms) " ms" @if let Some(stop) = stopped { " (stopped at its " (stop.name()) " limit)" } } }
                        tr { th { "Output" } td { (output_bytes) " bytes, root " code { (output_root) } } }
                        tr { th { "Files kept by" } td { (held_by_words(*held_by)) } }
                    }
                    JobOutcome::Failed { reason } => {
                        tr { th { "Outcome" } td data-figure="outcome" { "failed" } }
                        tr { th { "Reason" } td { (reason) } }
                    }
                }
            }
        }
        @if let Some(workspace) = &o.workspace {
            h2 { "Saved workspace" }
            table {
                @match workspace {
                    WorkspaceState::Saving { deadline_ms } => {
                        tr { th { "State" } td data-figure="workspace" { "saving" } }
                        tr { th { "Due" } td { (instant(*deadline_ms)) } }
                    }
                    WorkspaceState::Saved { root, bytes, held_by } => {
                        tr { th { "State" } td data-figure="workspace" { "saved" } }
                        tr { th { "Root" } td { (bytes) " bytes, root " code { (root) } } }
                        tr { th { "Files kept by" } td { (held_by_words(*held_by)) } }
                    }
                    WorkspaceState::Failed { reason } => {
                        tr { th { "State" } td data-figure="workspace" { "failed" } }
                        tr { th { "Reason" } td { (reason) } }
                    }
                    WorkspaceState::NotReported => {
                        tr { th { "State" } td data-figure="workspace" { "not reported by its deadline" } }
                    }
                }
            }
        }
        @if let Some(s) = &o.settlement {
            h2 { "Settlement" }
            table {
                tr { th { "Settled" } td { (instant(s.settled_ms)) } }
            }
        }
        p.empty { "Logs are the client's: " code { "gpunet job logs " (id) } "." }
    };
    layout(&format!("Order {id}"), live.then_some(5), body)
}

/// `/blocks`: the latest blocks.
pub(super) async fn blocks(State(node): State<Node>) -> Response {
    let ledger = node.ledger.read().expect("ledger lock");
    let head = ledger.head().height;
    let rows: Vec<_> = (head.saturating_sub(ROWS as u64 - 1)..=head)
        .rev()
        .filter_map(|h| ledger.block(h).ok().flatten())
        .collect();
    drop(ledger);
    let body = html! {
        table {
            tr { th.num { "Height" } th { "Time" } th { "Proposer" } th.num { "Transactions" } th { "Hash" } }
            @for b in &rows {
                tr {
                    td.num { a href={ "/blocks/" (b.header.height) } { (b.header.height) } }
                    td { (instant(b.header.time_ms)) }
                    td { a href={ "/accounts/" (b.header.proposer) } { code { (short(&b.header.proposer)) } } }
                    td.num { (b.txs.len()) }
                    td { code { (short(&b.header.hash())) } }
                }
            }
        }
    };
    layout("Blocks", Some(5), body)
}

/// `/blocks/{height}`: a block and its transactions.
pub(super) async fn block(State(node): State<Node>, Path(raw): Path<String>) -> Response {
    let Ok(height) = raw.parse::<u64>() else {
        return missing(StatusCode::BAD_REQUEST, &format!("{raw:?} is not a height"));
    };
    let block = match node.ledger.read().expect("ledger lock").block(height) {
        Ok(Some(block)) => block,
        Ok(None) => {
            return missing(
                StatusCode::NOT_FOUND,
                &format!("No block at height {height}."),
            )
        }
        Err(e) => return missing(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let body = html! {
        table {
            tr { th { "Hash" } td { code data-figure="block-hash" { (block.header.hash()) } } }
            tr { th { "Time" } td { (instant(block.header.time_ms)) } }
            tr { th { "Proposer" } td { a href={ "/accounts/" (block.header.proposer) } { code { (block.header.proposer) } } } }
            tr { th { "State root" } td { code { (block.header.state_root) } } }
            tr { th { "Parent" } td { @if height > 0 { a href={ "/blocks/" (height - 1) } { code { (block.header.parent) } } } } }
        }
        h2 { "Transactions" }
        @if block.txs.is_empty() {
            p.empty { "None." }
        } @else {
            table {
                tr { th { "Hash" } th { "Kind" } th { "Sender" } th.num { "Nonce" } th.num { "Fee" } }
                @for tx in &block.txs {
                    tr {
                        td { code { (short(&tx.hash())) } }
                        td data-figure="tx-kind" { (tx.tx.body.kind()) }
                        td { a href={ "/accounts/" (tx.tx.sender) } { code { (short(&tx.tx.sender)) } } }
                        td.num { (tx.tx.nonce) }
                        td.num { (gpn(tx.tx.fee)) }
                    }
                }
            }
        }
    };
    layout(&format!("Block {height}"), None, body)
}

/// `/accounts/{address}`: what an account holds, its machines and orders.
pub(super) async fn account(State(node): State<Node>, Path(raw): Path<String>) -> Response {
    let address: Address = match raw.parse() {
        Ok(address) => address,
        Err(e) => {
            return missing(
                StatusCode::BAD_REQUEST,
                &format!("{raw:?} is not an account: {e}"),
            )
        }
    };
    let (account, machines, orders) = {
        let ledger = node.ledger.read().expect("ledger lock");
        let machines: Vec<Machine> = ledger
            .machines()
            .filter(|m| m.owner == address)
            .cloned()
            .collect();
        let orders: Vec<OrderView> = ledger
            .client_orders(&address, None, ROWS)
            .into_iter()
            .map(Order::view)
            .collect();
        (ledger.account(&address), machines, orders)
    };
    let body = html! {
        p { code { (address) } }
        div.cards {
            (card("Balance", "balance", gpn(account.balance)))
            (card("Bonded", "bonded", gpn(account.bonded)))
            (card("Validator stake", "validator-bonded", gpn(account.validator_bonded)))
            (card("Nonce", "nonce", account.nonce))
            (card("Machines", "account-machines", account.machines))
            (card("GPUs", "account-gpus", account.gpus))
        }
        h2 { "Machines" }
        @if machines.is_empty() { p.empty { "None." } } @else { (machine_table(&machines.iter().collect::<Vec<_>>())) }
        h2 { "Orders" }
        (order_table(&orders))
    };
    layout("Account", Some(15), body)
}

/// `/api`: the OpenAPI document, as a reference to read.
pub(super) async fn api_reference() -> Response {
    let document = crate::routes::openapi();
    let body = html! {
        p {
            "Every route of this node's JSON API. The document itself: "
            a href="/v1/openapi.json" { code { "/v1/openapi.json" } } " (OpenAPI 3.1)."
        }
        @for (path, item) in &document.paths.paths {
            @for (method, operation) in operations(item) {
                h2 id=(anchor(method, path)) { code { (method) " " (path) } }
                @if let Some(summary) = &operation.summary { p { (summary) } }
                table {
                    tr { th { "Status" } th { "Means" } }
                    @for (status, response) in &operation.responses.responses {
                        tr {
                            td { (status) }
                            td { @match response {
                                utoipa::openapi::RefOr::T(r) => (r.description),
                                utoipa::openapi::RefOr::Ref(r) => (r.ref_location),
                            } }
                        }
                    }
                }
            }
        }
    };
    layout("API reference", None, body)
}

fn operations(
    item: &utoipa::openapi::PathItem,
) -> Vec<(&'static str, &utoipa::openapi::path::Operation)> {
    [
        ("GET", &item.get),
        ("PUT", &item.put),
        ("POST", &item.post),
        ("DELETE", &item.delete),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_ref().map(|o| (method, o)))
    .collect()
}

fn anchor(method: &str, path: &str) -> String {
    format!(
        "{}{}",
        method.to_lowercase(),
        path.replace(['/', '{', '}', '.'], "-")
    )
}

/// Who keeps a result's files, for a reader deciding where to fetch them.
fn held_by_words(held_by: OutputHolder) -> &'static str {
    match held_by {
        OutputHolder::Nodes => "the validators' nodes",
        OutputHolder::Provider => "its provider (fetched peer to peer)",
    }
}
