//! The life of a job from the client's side: submit, follow, fetch and verify.

use crate::error::ClientError;
use crate::jobfile::JobFile;
use crate::node_client::NodeClient;
use crate::stall_watch::{self, StallWatch};
use crate::wallet::Wallet;
use gpunet_primitives::manifest::{Manifest, ManifestEntry};
use gpunet_primitives::{Amount, Hash, JobOutcome, JobSpec, OrderId, OutputHolder, TxBody};
use gpunet_types::api::OrdersPage;
use gpunet_types::{Event, Included, Misfit, OrderStatus, OrderView, Unmatched};
use std::path::Path;
use std::time::Duration;

/// Places a job's inputs (uploaded, or recorded for `gpunet serve`) and
/// submits its order; returns the order id.
pub async fn submit_job(wallet: &Wallet, job: &JobFile) -> Result<OrderId, ClientError> {
    submit(wallet, job, false).await
}

/// Rents a machine for the job file's `timeout_secs`, running its container
/// for the renter until the rental ends (renew or end it with
/// `TxBody::RenewRental` / `TxBody::EndRental`).
pub async fn submit_rental(wallet: &Wallet, job: &JobFile) -> Result<OrderId, ClientError> {
    submit(wallet, job, true).await
}

/// Places a job's inputs once and submits `size` copies of it as a job
/// array (`TxBody::SubmitArray`): each member sees its index in
/// `GPUNET_ARRAY_INDEX` and escrows the deposit one job would. Returns the
/// members' ids, in index order.
pub async fn submit_array(
    wallet: &Wallet,
    job: &JobFile,
    size: u32,
) -> Result<Vec<OrderId>, ClientError> {
    let prepared = job.prepare(wallet).await?;
    let placed = job.place_inputs(wallet, &prepared).await?;
    let ids = submitted(
        wallet,
        TxBody::SubmitArray {
            spec: prepared.spec,
            max_price_per_hour: prepared.max_price_per_hour,
            deposit_each: prepared.deposit,
            size,
        },
    )
    .await?;
    if ids.len() != size as usize {
        return Err(ClientError::BadResponse(format!(
            "the node reported {} new orders for an array of {size}",
            ids.len()
        )));
    }
    placed.named_by(&ids)?;
    Ok(ids)
}

/// The members of the job array order `id` belongs to, in index order.
pub async fn array_members(node: &NodeClient, id: OrderId) -> Result<Vec<OrderView>, ClientError> {
    let order = node.order(id).await?;
    let Some(array) = order.array else {
        return Err(ClientError::Invalid(format!(
            "order {id} is not a member of a job array (`gpunet job run FILE --array N` makes one)"
        )));
    };
    // Members have consecutive ids and one client (one transaction placed
    // them all): they are one page of its orders, newest first.
    let last = array
        .first
        .saturating_add(u64::from(array.size).saturating_sub(1));
    let page = OrdersPage {
        before: Some(last.saturating_add(1)),
        limit: Some(array.size as usize),
    };
    let mut members: Vec<OrderView> = node
        .orders_of(&order.client, &page)
        .await?
        .into_iter()
        .filter(|o| o.array.as_ref().is_some_and(|a| a.first == array.first))
        .collect();
    members.reverse();
    let ids_in_order = members.iter().map(|o| o.id).eq(array.orders());
    if !ids_in_order {
        return Err(ClientError::BadResponse(format!(
            "the node listed {} orders of array {} for its {} members",
            members.len(),
            array.first,
            array.size
        )));
    }
    Ok(members)
}

async fn submit(wallet: &Wallet, job: &JobFile, rental: bool) -> Result<OrderId, ClientError> {
    let prepared = job.prepare(wallet).await?;
    let placed = job.place_inputs(wallet, &prepared).await?;
    let (spec, max_price_per_hour, deposit) =
        (prepared.spec, prepared.max_price_per_hour, prepared.deposit);
    let body = if rental {
        TxBody::Rent {
            spec,
            max_price_per_hour,
            deposit,
        }
    } else {
        TxBody::SubmitOrder {
            spec,
            max_price_per_hour,
            deposit,
        }
    };
    let id = submitted(wallet, body)
        .await?
        .first()
        .copied()
        .ok_or_else(|| {
            ClientError::BadResponse("the node did not report the new order's id".into())
        })?;
    placed.named_by(&[id])?;
    Ok(id)
}

/// Sends `body` and returns the ids of the orders it placed.
async fn submitted(wallet: &Wallet, body: TxBody) -> Result<Vec<OrderId>, ClientError> {
    let included = wallet.send(body).await?;
    Ok(included
        .events
        .iter()
        .filter_map(|e| match e {
            Event::OrderSubmitted { order, .. } => Some(*order),
            _ => None,
        })
        .collect())
}

/// Disputes order `id`'s reported result, naming `expected_root` as the
/// right output (a canary job's known answer, e.g. the root of
/// [`Manifest::of_result_dir`]); pays the deposit a referee run needs.
pub async fn dispute_result(
    wallet: &Wallet,
    id: OrderId,
    expected_root: Hash,
) -> Result<(), ClientError> {
    let order = wallet.node().order(id).await?;
    dispute(wallet, &order, expected_root).await
}

/// Disputes only the time order `id` billed: a referee re-runs the job, and
/// a provider whose time is far over the referee's is billed what the
/// referee's run allows and slashed (see the ledger's duration checks).
pub async fn dispute_duration(wallet: &Wallet, id: OrderId) -> Result<(), ClientError> {
    let order = wallet.node().order(id).await?;
    let Some(root) = order.output_root() else {
        return Err(ClientError::Invalid(format!(
            "order {id} has no completed result whose time could be disputed"
        )));
    };
    dispute(wallet, &order, root).await
}

async fn dispute(
    wallet: &Wallet,
    order: &OrderView,
    expected_root: Hash,
) -> Result<(), ClientError> {
    let id = order.id;
    let deposit = gpunet_types::run_cost(order.max_price_per_hour, &order.spec)
        .map_err(|e| ClientError::Invalid(e.to_string()))?;
    wallet
        .send(TxBody::DisputeResult {
            order: id,
            expected_root,
            deposit,
        })
        .await?;
    Ok(())
}

/// Whether an order has reached a state it will not leave.
pub fn is_final(status: OrderStatus) -> bool {
    !status.is_open()
}

/// A machine that could take a job now, as a dry run shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Offer {
    /// The machine.
    pub machine: gpunet_types::Machine,
    /// The job's hourly price on it.
    #[serde(with = "gpunet_primitives::json::gpn")]
    pub price_per_hour: Amount,
    /// The most the job costs there: its whole timeout at that price.
    #[serde(with = "gpunet_primitives::json::gpn")]
    pub max_cost: Amount,
}

/// The machines of `unmatched` that could take a job of `spec` now, with
/// what it costs on each (cheapest first, as the node ranks them).
pub fn offers(spec: &JobSpec, unmatched: &Unmatched) -> Vec<Offer> {
    unmatched
        .closest
        .iter()
        .filter(|(_, misses)| misses.is_empty())
        .filter_map(|(m, _)| {
            let price_per_hour = m
                .resource_prices
                .job_price(m.price_per_hour, &spec.resources)?;
            Some(Offer {
                machine: m.clone(),
                price_per_hour,
                max_cost: gpunet_types::max_payment(price_per_hour, spec.timeout_secs).ok()?,
            })
        })
        .collect()
}

/// What `misfit` means for a job of `spec` at `max_price_per_hour`, in words.
fn misfit_text(misfit: Misfit, spec: &JobSpec, max_price_per_hour: Amount) -> String {
    let r = &spec.resources;
    match misfit {
        Misfit::Price => format!(
            "the job costs more on it than your max of {} GPN/hour",
            gpunet_primitives::format_amount(max_price_per_hour)
        ),
        Misfit::Offline => "paused or held down".into(),
        Misfit::Unverified => "its hardware is not proven".into(),
        Misfit::GpuCount => format!("fewer than {} free GPUs", r.gpu.count),
        Misfit::GpuVendor => format!("no {} GPUs", r.gpu.vendor.as_deref().unwrap_or("")),
        Misfit::GpuModel => format!("no {} GPUs", r.gpu.model.as_deref().unwrap_or("")),
        Misfit::GpuMemory => format!("GPUs of under {} MiB", r.gpu.min_vram_mb),
        Misfit::Cpu => format!("fewer than {} free cores", r.cpu_cores),
        Misfit::Memory => format!("under {} MiB of free memory", r.memory_mb),
        Misfit::Disk => format!("under {} MiB of free disk", r.disk_mb),
        Misfit::Region => format!("not in region {}", spec.region.as_deref().unwrap_or("")),
        Misfit::Reliability => format!("reliability under {}%", spec.min_reliability_bps / 100),
        Misfit::Stake => "its owner's stake is short".into(),
        Misfit::Declined => "it declined this order".into(),
        Misfit::FailedBefore => "it failed this order before".into(),
        Misfit::Audited => "it is the provider being checked".into(),
    }
}

/// Why `order` waits, from what `unmatched` found: `None` when some machine
/// can take it (it is matched at the next block).
pub fn explain_unmatched(order: &OrderView, unmatched: &Unmatched) -> Option<String> {
    (unmatched.fitting == 0).then(|| {
        why_none_fits(
            &format!("order {}", order.id),
            &order.spec,
            order.max_price_per_hour,
            unmatched,
        )
    })
}

/// Why no machine can take `what` (a job of `spec` at `max_price_per_hour`),
/// from what `unmatched` found: how many machines miss each requirement, and
/// what the closest miss.
pub fn why_none_fits(
    what: &str,
    spec: &JobSpec,
    max_price_per_hour: Amount,
    unmatched: &Unmatched,
) -> String {
    if unmatched.machines == 0 {
        return format!("no machine can take {what}: no machine is registered");
    }
    let mut text = format!(
        "no machine can take {what} now (none of {} machines):",
        unmatched.machines
    );
    for (misfit, count) in &unmatched.missed {
        text += &format!(
            "\n  {count} with {}",
            misfit_text(*misfit, spec, max_price_per_hour)
        );
    }
    text += "\nclosest:";
    for (m, misses) in &unmatched.closest {
        let misses: Vec<String> = misses
            .iter()
            .map(|x| misfit_text(*x, spec, max_price_per_hour))
            .collect();
        text += &format!(
            "\n  machine {} ({}): {}",
            m.id,
            machine_summary(m),
            misses.join("; ")
        );
    }
    text
}

/// A machine in a few words: its GPUs, cores, memory, base price and region.
pub fn machine_summary(m: &gpunet_types::Machine) -> String {
    let gpu = m.spec.gpu.as_ref().map_or("no GPU".to_string(), |g| {
        format!("{}x {} {} MiB", g.count, g.model, g.vram_mb)
    });
    format!(
        "{gpu}, {} cores, {} MiB, {} GPN/hour, {}",
        m.spec.cpu_cores,
        m.spec.memory_mb,
        gpunet_primitives::format_amount(m.price_per_hour),
        m.spec.region
    )
}

/// The command that ends a pending `order` and refunds its deposit.
pub fn end_command(order: &OrderView) -> String {
    if order.rental.is_some() {
        format!("gpunet rent end {}", order.id)
    } else {
        format!("gpunet job cancel {}", order.id)
    }
}

/// What a wait that ran out leaves behind, and what its client can do.
fn left_behind(order: &OrderView, waited: Duration) -> String {
    let (id, secs) = (order.id, waited.as_secs());
    let end = format!("`{}`", end_command(order));
    match order.status {
        OrderStatus::Pending => format!(
            "order {id} is still pending after {secs}s: no machine has taken it yet, and its \
             deposit stays in escrow until one does or the order expires; see why with \
             `gpunet job describe {id}`, or take the deposit back with {end}"
        ),
        OrderStatus::Preparing => format!(
            "order {id} is still preparing after {secs}s: its provider fetches and loads its \
             pushed image (neither its timeout nor a rental's meter counts meanwhile), and hands \
             it back if that fails or runs past its deadline; see `gpunet job describe {id}`, \
             or end it with `{}`",
            stop_command(order)
        ),
        OrderStatus::Running if order.rental.is_some() => format!(
            "rental {id} is running but not ready after {secs}s (its ports are not announced \
             yet); see `gpunet job describe {id}`, or end it with {end}"
        ),
        status => format!(
            "order {id} is still {status} after {secs}s and goes on; follow it with \
             `gpunet job describe {id}` and `gpunet job logs {id} --follow`"
        ),
    }
}

/// The command that ends a leased `order`: a rental ends, a job stops.
fn stop_command(order: &OrderView) -> String {
    match order.rental {
        Some(_) => format!("gpunet rent end {}", order.id),
        None => format!("gpunet job stop {}", order.id),
    }
}

/// Whether a rental is ready to use, or will never be: it has a machine,
/// an address for each port it exposes and its secrets sealed to the
/// provider, or it ended. What `rent start` waits for.
pub fn rental_ready(order: &OrderView) -> bool {
    match order.status {
        OrderStatus::Pending | OrderStatus::Preparing => false,
        OrderStatus::Running => {
            let sealed = order.spec.secrets.is_empty()
                || order
                    .lease
                    .as_ref()
                    .is_some_and(|l| l.sealed_secrets.is_some());
            let announced = order
                .rental
                .as_ref()
                .is_some_and(|r| r.endpoints.len() == order.spec.ports.len());
            sealed && announced
        }
        _ => true,
    }
}

/// Extends running rental `id` by `extra_secs`, paying for them into
/// escrow at its lease's price; returns what went into escrow and where
/// the renewal was included.
pub async fn renew_rental(
    wallet: &Wallet,
    id: OrderId,
    extra_secs: u64,
) -> Result<(Amount, Included), ClientError> {
    let order = wallet.node().order(id).await?;
    let lease = order
        .lease
        .as_ref()
        .ok_or_else(|| ClientError::Invalid(format!("rental {id} has no machine yet")))?;
    let deposit = gpunet_types::max_payment(lease.price_per_hour, extra_secs)
        .map_err(|_| ClientError::Invalid(format!("{extra_secs} s at this price is too much")))?;
    let included = wallet
        .send(TxBody::RenewRental {
            order: id,
            extra_secs,
            deposit,
        })
        .await?;
    Ok((deposit, included))
}

/// Ends rental `id` now, its unused escrow refunded. With `save`, its
/// provider first stores /workspace: this waits up to `wait` for it to be
/// saved (the order's `workspace` then holds the root).
pub async fn end_rental(
    wallet: &Wallet,
    id: OrderId,
    save: bool,
    wait: Duration,
) -> Result<OrderView, ClientError> {
    wallet.send(TxBody::EndRental { order: id, save }).await?;
    match save {
        false => wallet.node().order(id).await,
        true => {
            let saved = |o: &OrderView| o.status != OrderStatus::Saving;
            wait_for_order(wallet.node(), id, wait, saved, |_| {}).await
        }
    }
}

/// Follows an order until `done(order)` holds, calling `progress` on every status
/// change and every decline. Uses the event stream, with a slow poll in case
/// the stream breaks, and moves to another node when its node stops following
/// the chain ([`crate::stall_watch`]).
pub async fn wait_for_order(
    node: &NodeClient,
    id: OrderId,
    timeout: Duration,
    done: impl Fn(&OrderView) -> bool,
    mut progress: impl FnMut(&OrderView),
) -> Result<OrderView, ClientError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut stream = node.events(Some(id), None).await.ok();
    let mut watch = StallWatch::default();
    let mut check = stall_watch::checks();
    let mut last = None;
    // Submitted through another node, the order may be unknown to one
    // behind: asked once of the node furthest ahead.
    let mut asked_ahead = false;
    loop {
        let order = match node.order(id).await {
            Err(e) if e.code() == Some("not_found") && !asked_ahead => {
                asked_ahead = true;
                if node.move_to_furthest_ahead().await {
                    stream = node.events(Some(id), None).await.ok();
                }
                continue;
            }
            read => read?,
        };
        // A decline or a failed run sends the order back to pending: a
        // change too.
        let now = (order.status, order.declines.len(), order.attempts.len());
        if last != Some(now) {
            progress(&order);
            last = Some(now);
        }
        if done(&order) {
            return Ok(order);
        }
        let wake = tokio::time::sleep(Duration::from_secs(2));
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                return Err(ClientError::Invalid(left_behind(&order, timeout)));
            }
            _ = wake => {}
            _ = check.tick() => {
                // The node reads go to, which the stream came from unless a
                // node could not be reached since.
                if let Some(stalled) = watch.check(&node.address(), &node.heights().await) {
                    node.prefer(&stalled.ahead);
                    stream = node.events(Some(id), None).await.ok();
                }
            }
            item = async { match stream.as_mut() { Some(s) => s.next().await, None => std::future::pending().await } } => {
                if item.is_none() { stream = None; }
            }
        }
    }
}

/// Downloads every output of a completed order (or the workspace a rental
/// saved) into `dir`, verifying each file and the manifest against the
/// root recorded on chain. `wallet`'s account reads them: the order's
/// client (or the provider that ran it). Files kept by the provider come
/// from its peer ([`crate::peer_fetch`]), the others from the node.
pub async fn fetch_outputs(
    wallet: &Wallet,
    order: &OrderView,
    dir: &Path,
) -> Result<Manifest, ClientError> {
    let Some((root, held_by)) = order.result_files() else {
        return Err(match order.report.as_ref().map(|r| &r.outcome) {
            Some(JobOutcome::Failed { reason }) => ClientError::Invalid(format!(
                "order {} failed on the provider: {reason}",
                order.id
            )),
            _ => ClientError::Invalid(format!(
                "order {} has no result yet (status {}); wait with `gpunet job describe {}`",
                order.id, order.status, order.id
            )),
        });
    };
    fetch_files(wallet, order, order.id, (root, held_by), dir).await
}

/// Downloads the workspace that rental `saved` saved into `dir` (its files
/// under `workspace/`), read as a party to order `through`, whose spec
/// starts with it: its provider, which puts them in the run's /workspace.
pub async fn fetch_saved_workspace(
    wallet: &Wallet,
    saved: &OrderView,
    through: OrderId,
    dir: &Path,
) -> Result<Manifest, ClientError> {
    let Some(result) = saved.workspace.as_ref().and_then(|w| w.saved()) else {
        return Err(ClientError::Invalid(format!(
            "rental {} saved no workspace",
            saved.id
        )));
    };
    fetch_files(wallet, saved, through, result, dir).await
}

/// Fetches the files of `order`'s result (`root`, kept by `held_by`),
/// signing reads as a party to order `through`.
async fn fetch_files(
    wallet: &Wallet,
    order: &OrderView,
    through: OrderId,
    (root, held_by): (Hash, OutputHolder),
    dir: &Path,
) -> Result<Manifest, ClientError> {
    let node = wallet.node();
    let manifest = node
        .manifest(&root, &wallet.blob_read(through).await?)
        .await?;
    if held_by == OutputHolder::Provider {
        crate::peer_fetch::fetch_result(wallet, order, &manifest, dir).await?;
        return Ok(manifest);
    }
    for file in &manifest.files {
        // Signed per file: a long download outlives a request's validity.
        let read = wallet.blob_read(through).await?;
        let size = node
            .download_blob(&file.hash, &dir.join(&file.path), &read)
            .await?;
        if size != file.size {
            return Err(ClientError::BadResponse(format!(
                "{} has {size} bytes, the manifest says {}",
                file.path, file.size
            )));
        }
    }
    Ok(manifest)
}

/// The entry `path` (e.g. `outputs/model.bin`) of `order`'s result, read
/// as `wallet`'s account (the order's client or provider).
pub async fn output_entry(
    wallet: &Wallet,
    order: &OrderView,
    path: &str,
) -> Result<ManifestEntry, ClientError> {
    let Some(output_root) = order.output_root() else {
        return Err(ClientError::Invalid(format!(
            "order {} has no outputs (status {})",
            order.id, order.status
        )));
    };
    let read = wallet.blob_read(order.id).await?;
    let manifest = wallet.node().manifest(&output_root, &read).await?;
    manifest.get(path).cloned().ok_or_else(|| {
        let paths: Vec<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
        ClientError::Invalid(format!(
            "order {} has no output {path} (it has {})",
            order.id,
            paths.join(", ")
        ))
    })
}

/// Reads one file of an order's outputs (e.g. `logs/stdout.log`) into
/// memory, as `wallet`'s account (the order's client or provider).
pub async fn read_output(
    wallet: &Wallet,
    order: &OrderView,
    path: &str,
) -> Result<Vec<u8>, ClientError> {
    let entry = output_entry(wallet, order, path).await?;
    if order.result_files().map(|(_, held_by)| held_by) == Some(OutputHolder::Provider) {
        // Through a scratch directory: the peer verifies and stores it there.
        let scratch =
            std::env::temp_dir().join(format!("gpunet-read-{}-{}", std::process::id(), entry.hash));
        let one = Manifest {
            files: vec![entry.clone()],
        };
        let fetched = crate::peer_fetch::fetch_result(wallet, order, &one, &scratch).await;
        let bytes = fetched.and_then(|()| Ok(std::fs::read(scratch.join(&entry.path))?));
        let _ = std::fs::remove_dir_all(&scratch);
        return bytes;
    }
    let read = wallet.blob_read(order.id).await?;
    wallet.node().get_blob(&entry.hash, &read).await
}
