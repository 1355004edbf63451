//! Deterministic matching of pending orders to machines, at the end of
//! every block, in four passes, each bounded:
//!
//! 1. the oldest pending orders look for a machine (order-side: the offers
//!    of each group, GPU model and size class, ranked by the order's
//!    placement);
//! 2. machines that freed up (`State::offered`) take the oldest orders
//!    they can (machine-side, through `State::wanting`);
//! 3. orders queued during the block look for a machine, order-side;
//! 4. a window of the other pending orders, moving on every block, looks
//!    for one, order-side.
//!
//! Passes 2 and 3 follow every change that can make an order fit: an order
//! arrives, or a machine gains room, comes online, passes its challenge,
//! lowers its price. So under load a freed machine goes to the oldest order
//! it fits at once, however long the queue, instead of waiting for the
//! window to reach that order; passes 1 and 4 catch what no stored change
//! marks (a provider's stake bonded, a machine's reliability grown past an
//! order's floor).
//!
//! Matching only ever takes room: nothing in these passes frees a machine,
//! lowers a price or brings one online. So an ask that no offer fits (after
//! every offer that could suit it was looked at) stays unfit for the rest
//! of the block, and the orders queued behind it that ask the same are
//! passed over without a search (`Unfit`): under load the oldest pending
//! orders are often those nothing can take, looked at again every block.

use super::audits::{advance_audit, audit_exclusions};
use super::emit;
use super::fit::{misfits, price_on};
use super::orders::close_with_refund;
use super::preparing;
use super::records::order;
use super::rentals::start_rental;
use super::Exec;
use crate::error::TxError;
use crate::order::Order;
use crate::state::{offer_keys, size_class, OfferKey, ANY_GPU, CPU_WORK};
use gpunet_primitives::{hash_of, Address, Amount, Hash, MachineId, OrderId, Placement, Resources};
use gpunet_types::{Event, Lease, Machine, OrderStatus};
use std::ops::Bound;

/// Pending orders examined per block, so one block's work stays bounded.
const MATCH_BATCH: usize = 1024;
/// Of those, the oldest pending orders, examined on every block.
const MATCH_HEAD: usize = MATCH_BATCH / 2;
/// Orders machines by id where ranks tie (ids as big-endian hash bytes).
fn id_rank(id: MachineId) -> Hash {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&id.to_be_bytes());
    Hash(bytes)
}

/// Offers examined per group (GPU model and size class) when matching one order.
const SCAN_PER_GROUP: usize = 64;
/// Orders queued during the block that pass 3 looks at.
const MATCH_ARRIVALS: usize = 1024;
/// Freed-up machines pass 2 serves per block, and orders it may examine in
/// all: enough for every machine freed in a minute-long block of a
/// 100,000-machine network, with one block's work still bounded.
const SERVE_MACHINES: usize = 4096;
const SERVE_EXAMINED: usize = 65_536;
/// Orders pass 2 examines per bucket of `wanting` for one machine: a bucket
/// whose oldest orders fit nothing yields to the next block's passes.
const SCAN_PER_BUCKET: usize = 32;

/// The last key an offer of `model` and size `class` could have.
fn group_end(model: u32, class: u8) -> OfferKey {
    (model, class, u128::MAX, u128::MAX, u64::MAX, MachineId::MAX)
}

/// How offers compare for an order, lowest first: the placement's two terms
/// (load and the job's price), then the time of the machine's last lease
/// (longest ago first: machines of the same load and price take turns),
/// then its id rank.
type Rank = (u128, u128, u64, Hash);

/// The job's hourly price on `m` if `m` can take `order` now (see
/// `exec::fit`: resources free, online, verified, reliable enough, the
/// price within the order's max, the owner's stake sufficient, not one
/// of the providers an audit run must avoid).
fn offer_for(ex: &Exec<'_>, order: &Order, m: &Machine, excluded: &[Address]) -> Option<Amount> {
    misfits(ex.state, order, m, excluded, false)
        .is_empty()
        .then(|| price_on(m, &order.spec.resources))
        .flatten()
}

/// Picks a machine for `order` and returns it with the job's hourly price.
///
/// Jobs and rentals walk the offer index (machines that can take work,
/// grouped by GPU model and size class of their free GPUs, or cores
/// without GPUs, each group ordered least loaded then by base price, or
/// by base price then least loaded for `Placement::Cheapest`): among at
/// most `SCAN_PER_GROUP` offers of every group whose model the job
/// accepts and whose class is not too small for it, the best fitting one
/// wins, by the placement's order on the
/// job's price (base plus resource terms, within its max), then by machine
/// id. The scan of a group stops at the first offer whose index terms are
/// past the best rank found, since a job's price is never below the base:
/// with plain base prices that is the first fitting offer, so matching
/// costs O(groups · log n) per order, not O(machines). Offers are quoted
/// and ranked from the index (which holds each machine's resource prices):
/// only one that would beat the best found is looked up and checked.
///
/// An audit run goes to a machine of another provider than those it
/// checks, drawn at random (by a hash of the parent block, the order and
/// the machine) among the first `SCAN_PER_GROUP` that fit in each group.
fn choose_machine(ex: &Exec<'_>, order: &Order) -> Result<(Machine, Amount), NoMachine> {
    let audit = order.audit_of().is_some();
    let excluded = if audit {
        audit_exclusions(ex, order)
    } else {
        Vec::new()
    };
    let index = match order.spec.placement {
        Placement::Spread => &ex.state.offers,
        Placement::Cheapest => &ex.state.cheap_offers,
    };
    let gpu = &order.spec.resources.gpu;
    let wanted_model = gpu.model.as_ref().map(|m| m.to_lowercase());
    let mut best: Option<(Rank, &Machine, Amount)> = None;
    let accepts = |model: u32| {
        gpu.count == 0
            || model != 0
                && wanted_model.as_ref().is_none_or(|w| {
                    let name = ex.state.gpu_models.get(&model);
                    name.is_some_and(|n| n.contains(w.as_str()))
                })
    };
    // Each pass looks the index up once: its first offer names the group.
    let mut from = Bound::Unbounded;
    // An audit run, which cannot stop early, looks at SCAN_PER_GROUP
    // offers per model whatever their classes: (model, offers seen).
    let mut audit_scanned = (u32::MAX, 0);
    // Whether a group had more offers than the scan looked at.
    let mut cut = audit;
    loop {
        let mut offers = index.range((from, Bound::Unbounded)).peekable();
        let Some(&(&(model, class, ..), _)) = offers.peek() else {
            break;
        };
        if !accepts(model) {
            from = Bound::Excluded(group_end(model, u8::MAX));
            continue;
        }
        let needed = size_class(model, order.spec.resources.cpu_cores, gpu.count);
        if class < needed {
            // Every machine in the classes below is too small for the job.
            from = Bound::Included((model, needed, 0, 0, 0, 0));
            continue;
        }
        let budget = if !audit {
            SCAN_PER_GROUP
        } else {
            if audit_scanned.0 != model {
                audit_scanned = (model, 0);
            }
            SCAN_PER_GROUP - audit_scanned.1
        };
        let group = offers
            .take_while(|(k, _)| (k.0, k.1) == (model, class))
            .take(budget);
        let mut scanned = 0;
        for (&(.., first_term, second_term, turn, id), prices) in group {
            scanned += 1;
            audit_scanned.1 += 1;
            // The index terms and the id bound the rank from below (a
            // job's price is never below the base price) and ascend, so
            // the scan stops once they reach the best rank found.
            let bound: Rank = (first_term, second_term, turn, id_rank(id));
            if !audit && best.as_ref().is_some_and(|(r, ..)| bound >= *r) {
                break;
            }
            // Quoted and ranked from the index, so that only an offer that
            // beats the best found is looked up and checked (most offers
            // of an idle market would pass the checks, the owner's stake,
            // an account lookup, among them).
            let (leases, base) = match order.spec.placement {
                Placement::Spread => (first_term, second_term),
                Placement::Cheapest => (second_term, first_term),
            };
            let Some(price) = prices.job_price(base, &order.spec.resources) else {
                continue;
            };
            let rank = match (audit, order.spec.placement) {
                (true, _) => (0, 0, 0, hash_of(&(ex.parent, order.id, id))),
                (false, Placement::Spread) => (leases, price, turn, id_rank(id)),
                (false, Placement::Cheapest) => (price, leases, turn, id_rank(id)),
            };
            if best.as_ref().is_some_and(|(r, ..)| rank >= *r) {
                continue;
            }
            let Some(m) = ex.state.machines.get(&id) else {
                continue;
            };
            if offer_for(ex, order, m, &excluded).is_some() {
                // Checked against the best of every group so far: no
                // per-group best is needed.
                best = Some((rank, m, price));
            }
        }
        // Conservative: a group of exactly `budget` offers counts as cut.
        cut |= scanned == budget;
        from = Bound::Excluded(group_end(model, class));
    }
    match (best, cut) {
        (Some((_, m, price)), _) => Ok((m.clone(), price)),
        (None, false) => Err(NoMachine::NoneFits),
        (None, true) => Err(NoMachine::ScanCut),
    }
}

/// Why [`choose_machine`] found no machine for an order.
enum NoMachine {
    /// Every offer that could suit the order was looked at and none fits.
    NoneFits,
    /// Some group held more offers than the scan looks at (or the order is
    /// an audit run, drawn from a sample): a machine past them might fit.
    ScanCut,
}

/// What decides which machines can take an order, besides the order's own
/// history (the machines that declined it or that it failed on) and an
/// audit run's exclusions: orders that ask alike fit the same machines.
struct Ask {
    resources: Resources,
    max_price_per_hour: Amount,
    region: Option<String>,
    min_reliability_bps: u32,
}

impl Ask {
    fn of(order: &Order) -> Ask {
        Ask {
            resources: order.spec.resources.clone(),
            max_price_per_hour: order.max_price_per_hour,
            region: order.spec.region.clone(),
            min_reliability_bps: order.spec.min_reliability_bps,
        }
    }

    fn asked_by(&self, order: &Order) -> bool {
        let spec = &order.spec;
        self.resources == spec.resources
            && self.max_price_per_hour == order.max_price_per_hour
            && self.region == spec.region
            && self.min_reliability_bps == spec.min_reliability_bps
    }
}

/// The asks no offer fitted during one block's matching (see the module's
/// doc: matching only takes room, so they stay unfit until the block ends).
#[derive(Default)]
struct Unfit(Vec<Ask>);

impl Unfit {
    /// At most this many asks are kept: each order looked at is compared
    /// with them.
    const MAX_ASKS: usize = 64;

    /// Whether `order` asks what no offer fitted: it cannot fit either,
    /// as its history and exclusions only rule more machines out.
    fn covers(&self, order: &Order) -> bool {
        self.0.iter().any(|ask| ask.asked_by(order))
    }

    /// Records that no offer fitted `order`, when that says something of
    /// every order asking the same: the search looked at every offer that
    /// could suit it, and the order's own history ruled none out.
    fn add(&mut self, order: &Order, why: NoMachine) {
        let general = order.declines.is_empty() && order.attempts().is_empty();
        if matches!(why, NoMachine::NoneFits) && general && self.0.len() < Unfit::MAX_ASKS {
            self.0.push(Ask::of(order));
        }
    }
}

/// Expires pending orders past their TTL, then matches in the four passes
/// the module describes.
pub(crate) fn match_pending(ex: &mut Exec<'_>) -> Result<(), TxError> {
    expire_pending(ex)?;
    let mut unfit = Unfit::default();
    let head: Vec<(u64, OrderId)> = ex
        .state
        .pending
        .iter()
        .take(MATCH_HEAD)
        .map(|(k, _)| *k)
        .collect();
    match_orders(ex, &head, &mut unfit)?;
    serve_machines(ex)?;
    let arrivals: Vec<(u64, OrderId)> = ex
        .state
        .pending
        .range((ex.now_ms, 0)..)
        .take(MATCH_ARRIVALS)
        .map(|(k, _)| *k)
        .collect();
    match_orders(ex, &arrivals, &mut unfit)?;
    let window = moving_window(ex, head.last().copied());
    match_orders(ex, &window, &mut unfit)
}

/// Closes pending orders past their TTL (at most `MATCH_BATCH` a block),
/// refunding their escrow.
fn expire_pending(ex: &mut Exec<'_>) -> Result<(), TxError> {
    // Expire from the front: the queue is ordered by submission time.
    let ttl = ex.state.params.order_ttl_ms;
    let expired: Vec<(u64, OrderId)> = ex
        .state
        .pending
        .iter()
        .take_while(|((t, _), _)| t.saturating_add(ttl) <= ex.now_ms)
        .take(MATCH_BATCH)
        .map(|(k, _)| *k)
        .collect();
    for key in expired {
        let order = order(ex, key.1)?;
        ex.state.unqueue_order(&order);
        let (client, audited) = (order.client, order.audit_of());
        let refunded = close_with_refund(ex, order, OrderStatus::Expired, 0)?;
        emit(
            ex,
            Event::OrderExpired {
                order: key.1,
                client,
                refunded,
            },
        );
        if let Some(parent) = audited {
            advance_audit(ex, parent)?;
        }
    }
    Ok(())
}

/// Leases, in turn, each of `keys` still pending that a machine can take,
/// passing over those that ask what `unfit` holds and adding to it.
fn match_orders(
    ex: &mut Exec<'_>,
    keys: &[(u64, OrderId)],
    unfit: &mut Unfit,
) -> Result<(), TxError> {
    for key in keys {
        // Copied only when a machine takes it: most orders looked at in a
        // full market stay where they are.
        let queued = ex.state.orders.get(&key.1);
        let queued = queued.ok_or(TxError::UnknownOrder(key.1))?;
        // Still pending (the invariants keep `pending` to exactly those),
        // read from the order rather than looked up in the queue again.
        let still_queued = queued.status() == OrderStatus::Pending && queued.queue_key() == *key;
        if !still_queued || unfit.covers(queued) {
            continue;
        }
        match choose_machine(ex, queued) {
            Ok((machine, price)) => {
                let order = Order::clone(queued);
                ex.state.unqueue_order(&order);
                lease(ex, order, machine, price)?;
            }
            Err(why) => unfit.add(queued, why),
        }
    }
    Ok(())
}

/// Pass 4's orders: up to `MATCH_BATCH - MATCH_HEAD` pending orders after
/// the head (which ends at `head_end`), from where the last block's window
/// stopped, wrapping around, so that orders nothing can serve now (at the
/// head or not) do not hold back those behind them.
fn moving_window(ex: &mut Exec<'_>, head_end: Option<(u64, OrderId)>) -> Vec<(u64, OrderId)> {
    let mut window = Vec::new();
    let mut next_cursor = None;
    if let (Some(head_end), true) = (head_end, ex.state.pending.len() > MATCH_HEAD) {
        let start = ex
            .state
            .globals()
            .match_cursor
            .filter(|c| *c > head_end)
            .unwrap_or(head_end);
        let room = MATCH_BATCH - MATCH_HEAD;
        window.extend(
            ex.state
                .pending
                .range((Bound::Excluded(start), Bound::Unbounded))
                .take(room)
                .map(|(k, _)| *k),
        );
        let after = window.len();
        window.extend(
            ex.state
                .pending
                .range((Bound::Excluded(head_end), Bound::Included(start)))
                .take(room - after)
                .map(|(k, _)| *k),
        );
        next_cursor = window.last().copied();
    }
    ex.state.update_globals(|g| g.match_cursor = next_cursor);
    window
}

/// Pass 2: up to `SERVE_MACHINES` machines of `State::offered` that can
/// take work (the first by id), in the spread index's order (least loaded,
/// cheapest, longest unleased first), each take the oldest waiting orders
/// they can, one at a time, until full or none fits; those served leave
/// `offered`, the rest (past a cap) wait for the next block. Orders queued
/// in this block are left to pass 3, which honours their placement; an
/// order already waiting takes the first machine that frees up for it,
/// whatever its placement, and audit runs, which draw their machine at
/// random, are not in `wanting`.
fn serve_machines(ex: &mut Exec<'_>) -> Result<(), TxError> {
    let mut machines = Vec::new();
    let mut gone = Vec::new();
    for (id, _) in ex.state.offered.iter() {
        if machines.len() == SERVE_MACHINES {
            break;
        }
        match ex.state.machines.get(id).and_then(offer_keys) {
            Some((spread, _)) => machines.push(spread),
            None => gone.push(*id),
        }
    }
    for id in gone {
        ex.state.offered.remove(&id);
    }
    machines.sort_unstable();
    let mut budget = SERVE_EXAMINED;
    for (.., id) in machines {
        if !serve_machine(ex, id, &mut budget)? {
            // Served in part: it keeps its place for the next block.
            return Ok(());
        }
        ex.state.offered.remove(&id);
    }
    Ok(())
}

/// A bucket of `wanting` (wanted model, class) as one machine walks it:
/// where the walk is, and the oldest order found there that fitted.
struct Walk {
    wanted: u32,
    class: u8,
    from: Bound<(u64, OrderId)>,
    found: Option<(u64, OrderId)>,
    /// Orders looked at that did not fit; at `SCAN_PER_BUCKET`, done.
    missed: usize,
}

/// Leases the machine `id` the oldest orders queued before this block that
/// it can take, one at a time, until it is full or none fits (true), or
/// until `budget`, the orders it may examine, runs out (false).
///
/// Every bucket the machine's free room and GPU model could serve is
/// walked once, oldest first: room only shrinks as it takes orders, so an
/// order that did not fit never fits later, and the oldest of the buckets'
/// first fitting orders, checked again when taken, is the oldest that fits.
fn serve_machine(ex: &mut Exec<'_>, id: MachineId, budget: &mut usize) -> Result<bool, TxError> {
    let Some(m) = ex.state.machines.get(&id) else {
        return Ok(true);
    };
    let free_cores = m.spec.cpu_cores.saturating_sub(m.allocated.cpu_cores);
    let free_gpus = m.spec.gpu_count().saturating_sub(m.allocated.gpus);
    let mut walks = Vec::new();
    let walk = |wanted, class| Walk {
        wanted,
        class,
        from: Bound::Included((0, 0)),
        found: None,
        missed: 0,
    };
    if m.gpu_model_id != 0 {
        let gpu_class = size_class(m.gpu_model_id, 0, free_gpus);
        for wanted in [m.gpu_model_id, ANY_GPU] {
            walks.extend((1..=gpu_class).map(|class| walk(wanted, class)));
        }
    }
    let cpu_class = size_class(0, free_cores, 0);
    walks.extend((0..=cpu_class).map(|class| walk(CPU_WORK, class)));
    loop {
        let Some(m) = ex
            .state
            .machines
            .get(&id)
            .filter(|m| offer_keys(m).is_some())
        else {
            return Ok(true);
        };
        let m = m.clone();
        for w in walks.iter_mut().filter(|w| w.found.is_none()) {
            if !find_next(ex, &m, w, budget)? {
                return Ok(false);
            }
        }
        let Some((key, w)) = walks
            .iter_mut()
            .filter_map(|w| w.found.map(|key| (key, w)))
            .min_by_key(|(key, _)| *key)
        else {
            return Ok(true);
        };
        w.found = None;
        w.from = Bound::Excluded(key);
        let queued = ex.state.orders.get(&key.1);
        let queued = queued.ok_or(TxError::UnknownOrder(key.1))?;
        // It fitted when found; the room taken since may leave it out.
        match offer_for(ex, queued, &m, &[]) {
            Some(price) => {
                let order = Order::clone(queued);
                ex.state.unqueue_order(&order);
                lease(ex, order, m, price)?;
            }
            None => w.missed += 1,
        }
    }
}

/// Walks `w` on from where it stopped to the next order queued before this
/// block that `m` can take, spending `budget`; false once it is spent.
fn find_next(
    ex: &Exec<'_>,
    m: &Machine,
    w: &mut Walk,
    budget: &mut usize,
) -> Result<bool, TxError> {
    if w.missed >= SCAN_PER_BUCKET {
        return Ok(true);
    }
    let lo = w.from.map(|(t, id)| (w.wanted, w.class, t, id));
    let hi = Bound::Excluded((w.wanted, w.class, ex.now_ms, 0));
    for (&(.., t, oid), _) in ex.state.wanting.range((lo, hi)) {
        if w.missed >= SCAN_PER_BUCKET {
            break;
        }
        if *budget == 0 {
            return Ok(false);
        }
        *budget -= 1;
        w.from = Bound::Excluded((t, oid));
        let order = ex.state.orders.get(&oid);
        let order = order.ok_or(TxError::UnknownOrder(oid))?;
        if offer_for(ex, order, m, &[]).is_some() {
            w.found = Some((t, oid));
            return Ok(true);
        }
        w.missed += 1;
    }
    // Nothing more here for this machine.
    w.missed = SCAN_PER_BUCKET;
    Ok(true)
}

/// Starts `order`'s run on `lease` now: a job's timeout counts from here
/// (its deadline queued), a rental's meter too. The caller stores it.
pub(crate) fn start_run(ex: &mut Exec<'_>, order: &mut Order, lease: Lease) -> Result<(), TxError> {
    let deadline_ms = ex
        .now_ms
        .saturating_add(order.spec.timeout_secs.saturating_mul(1000))
        .saturating_add(ex.state.params.report_grace_ms);
    let lease = Lease {
        start_ms: ex.now_ms,
        deadline_ms,
        ..lease
    };
    if order.is_rental() {
        // A rental's meter and its billing queue time it, not its deadline.
        return start_rental(ex, order, lease);
    }
    order.run_on(lease)?;
    ex.state.deadlines.insert((deadline_ms, order.id), ());
    Ok(())
}

fn lease(
    ex: &mut Exec<'_>,
    mut order: Order,
    mut machine: Machine,
    price_per_hour: Amount,
) -> Result<(), TxError> {
    let (r, a) = (&order.spec.resources, &mut machine.allocated);
    // `fits` held, so none of these overflows; checked all the same.
    a.cpu_cores = a
        .cpu_cores
        .checked_add(r.cpu_cores)
        .ok_or(TxError::Overflow)?;
    a.memory_mb = a
        .memory_mb
        .checked_add(r.memory_mb)
        .ok_or(TxError::Overflow)?;
    a.disk_mb = a.disk_mb.checked_add(r.disk_mb).ok_or(TxError::Overflow)?;
    a.gpus = a.gpus.checked_add(r.gpu.count).ok_or(TxError::Overflow)?;
    machine.active_leases += 1;
    machine.last_leased_ms = Some(ex.now_ms);
    let lease = Lease {
        machine: machine.id,
        provider: machine.owner,
        price_per_hour,
        leased_ms: ex.now_ms,
        start_ms: ex.now_ms,
        deadline_ms: 0,
        sealed_secrets: None,
    };
    if order.spec.preparation_ms() > 0 {
        // A pushed image to fetch first: its run starts when the provider
        // says so (`exec::preparing`).
        let deadline_ms = preparing::start_deadline(ex, &order.spec);
        order.prepare_on(Lease {
            deadline_ms,
            ..lease
        })?;
        ex.state.deadlines.insert((deadline_ms, order.id), ());
    } else {
        start_run(ex, &mut order, lease)?;
    }
    ex.state
        .provider_leases
        .insert((machine.owner, order.id), ());
    emit(
        ex,
        Event::OrderLeased {
            order: order.id,
            client: order.client,
            machine: machine.id,
            provider: machine.owner,
        },
    );
    ex.state.orders.insert(order.id, Box::new(order));
    ex.state.put_machine(machine);
    Ok(())
}
