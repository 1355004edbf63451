//! Orders: validation, escrow at submission, deterministic matching to machines.

use super::fit::{misfits, price_on};
use super::specs::check_order;
use super::Exec;
use crate::error::{CheckedAmount, Covers, TxError, Wanted};
use gpunet_types::pricing::{min_deposit, runs_of, MS_PER_HOUR};
use gpunet_types::{Event, Lease, Machine, OrderStatus, Params, Settlement};

use crate::order::{Checks, JobPhase, Order, OrderKind, RentalPhase};
use crate::state::{size_class, OfferKey};

use gpunet_primitives::{hash_of, Address, Amount, Hash, JobSpec, MachineId, OrderId, Placement};
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

/// Most accounts one order's result is shared with.
pub(crate) const MAX_RESULT_READERS: usize = 16;

/// Offers examined per group (GPU model and size class) when matching one order.
const SCAN_PER_GROUP: usize = 64;

/// The last key an offer of `model` and size `class` could have.
fn group_end(model: u32, class: u8) -> OfferKey {
    (model, class, u128::MAX, u128::MAX, MachineId::MAX)
}

/// How offers compare for an order, lowest first: the placement's two terms
/// (load and the job's price), then the machine's id rank.
type Rank = (u128, u128, Hash);

/// What a provider is paid for `run` (leased at `price_per_hour`) billing
/// `billable_ms`: its time at that price, at least `audit_pay_floor` for an
/// audit or referee run, never more than the run's escrow.
pub(crate) fn run_pay(
    params: &Params,
    run: &Order,
    price_per_hour: Amount,
    billable_ms: u64,
) -> Result<Amount, TxError> {
    let mut paid = payment(price_per_hour, billable_ms)?;
    if run.audit_of().is_some() {
        paid = paid.max(params.audit_pay_floor);
    }
    Ok(paid.min(run.escrow))
}

/// What `billable_ms` of work costs at `price_per_hour` (rounded down).
pub(crate) fn payment(price_per_hour: Amount, billable_ms: u64) -> Result<Amount, TxError> {
    Ok(price_per_hour.mul_or(billable_ms as Amount)? / MS_PER_HOUR)
}

/// How a lease ended, for the machine's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LeaseEnd {
    Completed,
    Failed,
    Declined,
    /// Its client stopped it: counts neither for nor against the machine.
    Stopped,
}

impl Exec<'_> {
    pub(crate) fn order(&self, id: OrderId) -> Result<Order, TxError> {
        self.state
            .orders
            .get(&id)
            .cloned()
            .ok_or(TxError::UnknownOrder(id))
    }

    /// Order `id`, when `client` placed it.
    pub(crate) fn clients_order(&self, client: Address, id: OrderId) -> Result<Order, TxError> {
        let order = self.order(id)?;
        if order.client != client {
            return Err(TxError::NotYourOrder(id));
        }
        Ok(order)
    }

    /// Order `id` with its lease, when it is running on a machine of `provider`.
    pub(crate) fn running_lease(
        &self,
        provider: Address,
        id: OrderId,
    ) -> Result<(Order, Lease), TxError> {
        let order = self.order(id)?;
        let not_running = TxError::WrongStatus {
            order: id,
            status: order.status(),
            wanted: Wanted::Running,
        };
        let Some(lease) = order.lease().cloned() else {
            return Err(not_running);
        };
        if lease.provider != provider {
            return Err(TxError::NotYourLease(id));
        }
        if order.status() != OrderStatus::Running {
            return Err(not_running);
        }
        Ok((order, lease))
    }

    pub(crate) fn submit_order(
        &mut self,
        client: Address,
        spec: &JobSpec,
        max_price_per_hour: Amount,
        deposit: Amount,
        rental: bool,
    ) -> Result<(), TxError> {
        check_order(&self.state.params, spec, max_price_per_hour, rental)?;
        let need = min_deposit(max_price_per_hour, spec)?;
        if deposit < need {
            return Err(TxError::DepositTooSmall {
                deposit,
                need,
                covers: Covers::WholeTimeout {
                    runs: runs_of(spec),
                },
            });
        }
        self.debit(client, deposit)?;
        let id = self.queue_order(
            client,
            spec.clone(),
            max_price_per_hour,
            deposit,
            if rental {
                OrderKind::Rental(RentalPhase::Pending)
            } else {
                OrderKind::Job {
                    phase: JobPhase::Pending,
                    checks: Checks::default(),
                }
            },
        );
        self.emit(Event::OrderSubmitted { order: id, client });
        Ok(())
    }

    /// Records a new order of `kind`, pending, holding `deposit` in escrow;
    /// returns its id.
    pub(crate) fn queue_order(
        &mut self,
        client: Address,
        spec: JobSpec,
        max_price_per_hour: Amount,
        deposit: Amount,
        kind: OrderKind,
    ) -> OrderId {
        let id = self.state.globals().next_order_id;
        self.state.update_globals(|g| g.next_order_id += 1);
        self.state.orders.insert(
            id,
            Order {
                id,
                client,
                spec,
                max_price_per_hour,
                deposit,
                escrow: deposit,
                submitted_ms: self.now_ms,
                kind,
                declines: Vec::new(),
                result_readers: Vec::new(),
            },
        );
        self.state.pending.insert((self.now_ms, id), ());
        self.state.client_orders.insert((client, id), ());
        id
    }

    pub(crate) fn cancel_order(&mut self, client: Address, id: OrderId) -> Result<(), TxError> {
        let order = self.clients_order(client, id)?;
        if order.status() != OrderStatus::Pending {
            return Err(TxError::WrongStatus {
                order: id,
                status: order.status(),
                wanted: Wanted::Pending,
            });
        }
        if order.audit_of().is_some() {
            return Err(TxError::AuditRun {
                order: id,
                refused: "audits cannot be cancelled",
            });
        }
        self.state.pending.remove(&(order.submitted_ms, id));
        let refunded = self.close_with_refund(order, OrderStatus::Cancelled, 0)?;
        self.emit(Event::OrderCancelled {
            order: id,
            client,
            refunded,
        });
        Ok(())
    }

    /// Lets `reader` read order `id`'s result, or stops letting it. Any
    /// order of the client's, in any state: a result shared before it exists
    /// is readable once it does.
    pub(crate) fn share_result(
        &mut self,
        client: Address,
        id: OrderId,
        reader: Address,
        shared: bool,
    ) -> Result<(), TxError> {
        reader.key().map_err(|e| TxError::BadAddress(reader, e))?;
        let mut order = self.clients_order(client, id)?;
        let at = order.result_readers.binary_search(&reader);
        match (shared, at) {
            (true, Err(i)) => {
                if order.result_readers.len() >= MAX_RESULT_READERS {
                    return Err(TxError::TooManyReaders {
                        order: id,
                        max: MAX_RESULT_READERS,
                    });
                }
                order.result_readers.insert(i, reader);
            }
            (false, Ok(i)) => {
                order.result_readers.remove(i);
            }
            (true, Ok(_)) => return Err(TxError::AlreadyShared { order: id, reader }),
            (false, Err(_)) => return Err(TxError::NotShared { order: id, reader }),
        }
        self.state.orders.insert(id, order);
        Ok(())
    }

    /// Closes an order, refunding its whole escrow to the client. Returns the refund.
    pub(crate) fn close_with_refund(
        &mut self,
        mut order: Order,
        status: OrderStatus,
        slashed: Amount,
    ) -> Result<Amount, TxError> {
        let refunded = order.escrow;
        order.close(
            status,
            Settlement {
                refunded,
                slashed,
                settled_ms: self.now_ms,
                ..Default::default()
            },
        )?;
        self.credit(order.client, refunded)?;
        order.escrow = 0;
        self.state.orders.insert(order.id, order);
        Ok(refunded)
    }

    /// The job's hourly price on `m` if `m` can take `order` now (see
    /// `exec::fit`: resources free, online, verified, reliable enough, the
    /// price within the order's max, the owner's stake sufficient, not one
    /// of the providers an audit run must avoid).
    fn offer_for(&self, order: &Order, m: &Machine, excluded: &[Address]) -> Option<Amount> {
        misfits(self.state, order, m, excluded, false)
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
    /// costs O(groups · log n) per order, not O(machines).
    ///
    /// An audit run goes to a machine of another provider than those it
    /// checks, drawn at random (by a hash of the parent block, the order and
    /// the machine) among the first `SCAN_PER_GROUP` that fit in each group.
    fn choose_machine(&self, order: &Order) -> Option<(Machine, Amount)> {
        let audit = order.audit_of().is_some();
        let excluded = if audit {
            self.audit_exclusions(order)
        } else {
            Vec::new()
        };
        let index = match order.spec.placement {
            Placement::Spread => &self.state.offers,
            Placement::Cheapest => &self.state.cheap_offers,
        };
        let gpu = &order.spec.resources.gpu;
        let wanted_model = gpu.model.as_ref().map(|m| m.to_lowercase());
        let mut best: Option<(Rank, &Machine, Amount)> = None;
        let accepts = |model: u32| {
            gpu.count == 0
                || model != 0
                    && wanted_model.as_ref().is_none_or(|w| {
                        let name = self.state.gpu_models.get(&model);
                        name.is_some_and(|n| n.contains(w.as_str()))
                    })
        };
        // Each pass looks the index up once: its first offer names the group.
        let mut from = Bound::Unbounded;
        // An audit run, which cannot stop early, looks at SCAN_PER_GROUP
        // offers per model whatever their classes: (model, offers seen).
        let mut audit_scanned = (u32::MAX, 0);
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
                from = Bound::Included((model, needed, 0, 0, 0));
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
            let mut group_best: Option<(Rank, &Machine, Amount)> = None;
            for ((.., first_term, second_term, id), _) in group {
                audit_scanned.1 += 1;
                // The index terms and the id bound the rank from below (a
                // job's price is never below the base price) and ascend, so
                // the scan stops once they reach the best rank found.
                let bound: Rank = (*first_term, *second_term, id_rank(*id));
                let done = [&group_best, &best]
                    .iter()
                    .any(|b| b.as_ref().is_some_and(|(r, ..)| bound >= *r));
                if !audit && done {
                    break;
                }
                let Some(m) = self.state.machines.get(id) else {
                    continue;
                };
                let Some(price) = self.offer_for(order, m, &excluded) else {
                    continue;
                };
                let leases = u128::from(m.active_leases);
                let rank = match (audit, order.spec.placement) {
                    (true, _) => (0, 0, hash_of(&(self.parent, order.id, m.id))),
                    (false, Placement::Spread) => (leases, price, id_rank(m.id)),
                    (false, Placement::Cheapest) => (price, leases, id_rank(m.id)),
                };
                if group_best.as_ref().is_none_or(|(r, ..)| rank < *r) {
                    group_best = Some((rank, m, price));
                }
            }
            if let Some(candidate) = group_best {
                if best.as_ref().is_none_or(|(r, ..)| candidate.0 < *r) {
                    best = Some(candidate);
                }
            }
            from = Bound::Excluded(group_end(model, class));
        }
        best.map(|(_, m, price)| (m.clone(), price))
    }

    /// Expires pending orders past their TTL, then leases, oldest first, those
    /// of the `MATCH_HEAD` oldest pending orders that a machine can take, and
    /// then those of a window of the rest (moving on every block).
    pub(crate) fn match_pending(&mut self) -> Result<(), TxError> {
        // Expire from the front: the queue is ordered by submission time.
        let ttl = self.state.params.order_ttl_ms;
        let expired: Vec<(u64, OrderId)> = self
            .state
            .pending
            .iter()
            .take_while(|((t, _), _)| t.saturating_add(ttl) <= self.now_ms)
            .take(MATCH_BATCH)
            .map(|(k, _)| *k)
            .collect();
        for key in expired {
            self.state.pending.remove(&key);
            let order = self.order(key.1)?;
            let (client, audited) = (order.client, order.audit_of());
            let refunded = self.close_with_refund(order, OrderStatus::Expired, 0)?;
            self.emit(Event::OrderExpired {
                order: key.1,
                client,
                refunded,
            });
            if let Some(parent) = audited {
                self.advance_audit(parent)?;
            }
        }
        // The oldest orders first, so that work freed up goes to those that
        // waited longest; then a window that moves on every block, wrapping
        // around, so that orders nothing can serve now (at the head or not)
        // do not hold back those behind them.
        let mut queue: Vec<(u64, OrderId)> = self
            .state
            .pending
            .iter()
            .take(MATCH_HEAD)
            .map(|(k, _)| *k)
            .collect();
        let mut next_cursor = None;
        if let (Some(&head_end), true) = (queue.last(), self.state.pending.len() > MATCH_HEAD) {
            let start = self
                .state
                .globals()
                .match_cursor
                .filter(|c| *c > head_end)
                .unwrap_or(head_end);
            let room = MATCH_BATCH - queue.len();
            let after: Vec<_> = self
                .state
                .pending
                .range((Bound::Excluded(start), Bound::Unbounded))
                .take(room)
                .map(|(k, _)| *k)
                .collect();
            let wrapped: Vec<_> = self
                .state
                .pending
                .range((Bound::Excluded(head_end), Bound::Included(start)))
                .take(room - after.len())
                .map(|(k, _)| *k)
                .collect();
            next_cursor = wrapped.last().or(after.last()).copied();
            queue.extend(after);
            queue.extend(wrapped);
        }
        self.state.update_globals(|g| g.match_cursor = next_cursor);
        for key in queue {
            let order = self.order(key.1)?;
            if let Some((machine, price)) = self.choose_machine(&order) {
                self.state.pending.remove(&key);
                self.lease(order, machine, price)?;
            }
        }
        Ok(())
    }

    fn lease(
        &mut self,
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
        let deadline_ms = self
            .now_ms
            .saturating_add(order.spec.timeout_secs.saturating_mul(1000))
            .saturating_add(self.state.params.report_grace_ms);
        let lease = Lease {
            machine: machine.id,
            provider: machine.owner,
            price_per_hour,
            start_ms: self.now_ms,
            deadline_ms,
        };
        if order.is_rental() {
            self.start_rental(&mut order, lease)?;
        } else {
            order.run_on(lease)?;
            self.state.deadlines.insert((deadline_ms, order.id), ());
        }
        self.state
            .provider_leases
            .insert((machine.owner, order.id), ());
        self.emit(Event::OrderLeased {
            order: order.id,
            client: order.client,
            machine: machine.id,
            provider: machine.owner,
        });
        self.state.orders.insert(order.id, order);
        self.state.put_machine(machine);
        Ok(())
    }

    /// Returns a lease's resources to its machine, counts how it ended in the
    /// machine's record and drops its indexes.
    pub(crate) fn end_lease(&mut self, order: &Order, end: LeaseEnd) {
        let Some(lease) = order.lease() else { return };
        self.state.deadlines.remove(&(lease.deadline_ms, order.id));
        self.state
            .provider_leases
            .remove(&(lease.provider, order.id));
        if let Some(mut machine) = self.state.machines.get(&lease.machine).cloned() {
            let (r, a) = (&order.spec.resources, &mut machine.allocated);
            // The lease added exactly these, so nothing saturates.
            a.cpu_cores = a.cpu_cores.saturating_sub(r.cpu_cores);
            a.memory_mb = a.memory_mb.saturating_sub(r.memory_mb);
            a.disk_mb = a.disk_mb.saturating_sub(r.disk_mb);
            a.gpus = a.gpus.saturating_sub(r.gpu.count);
            machine.active_leases = machine.active_leases.saturating_sub(1);
            match end {
                LeaseEnd::Completed => machine.completed += 1,
                LeaseEnd::Failed => machine.failed += 1,
                LeaseEnd::Declined => machine.declined += 1,
                LeaseEnd::Stopped => {}
            }
            self.state.put_machine(machine);
        }
    }
}
