//! Rentals: a lease with a time budget instead of a command's result.
//!
//! A rental is an order (`OrderKind::Rental`) matched like a job; once leased, its
//! escrow streams to the provider every `rental_billing_ms` of block time
//! (the burn share taken each time), renewals extend it with more escrow, the
//! renter may end it early (the unused escrow is refunded), and when its time
//! runs out it closes by itself: no free compute, no stranded lease.
//!
//! A renter who cannot reach the machine reports it; the provider must answer
//! a liveness probe within `probe_answer_ms`, and the time from the report on
//! is billed only once it does. Unanswered, the machine is held down from the
//! report on: not billed (the renter gets that time back at the end),
//! delisted, and its owner slashed `slash_down_per_hour` per started hour
//! down, settled when it answers again or the rental ends. A rental that ends
//! with a probe still open is billed to its end: the provider was not shown
//! down, and a renter cannot skip paying its last minutes by reporting them.
//!
//! A renter may end a rental asking to save its workspace: it is billed to
//! then, but its machine stays leased (`RentalPhase::Saving`) while the
//! provider stores `/workspace` and reports its root (`ReportWorkspace`),
//! at most `workspace_save_ms`; the billing queue times that deadline, and
//! the rental closes without a saved workspace if no report came. Saving
//! costs the renter nothing and earns the provider nothing: it is paid for
//! the rented time, and its renter's next order may be its next lease. A
//! rental whose spec says `save_on_end` is saved the same way when it ends
//! by itself (its time runs out, or its container stops for good).

use super::bank::{burn, credit, debit};
use super::emit;
use super::matching::start_run;
use super::orders::{cancel_order, end_lease};
use super::orders::{payment, LeaseEnd};
use super::records::clients_order;
use super::records::order;
use super::records::running_lease;
use super::settlement::MAX_REASON_LEN;
use super::staking::slash;
use super::Exec;
use crate::error::{Covers, TxError};
use crate::order::{Order, SaveEnd};
use crate::SpecError;
use gpunet_primitives::{Address, Amount, ContainerStop, OrderId, WorkspaceSave};
use gpunet_types::pricing::CheckedAmount;
use gpunet_types::{max_payment, Event, Lease, OrderStatus, Probe, Rental, Settlement};

/// Longest `host:port` a provider may announce.
const MAX_ENDPOINT_LEN: usize = 255;

fn running_rental(ex: &Exec<'_>, client: Address, id: OrderId) -> Result<Order, TxError> {
    let mut order = clients_order(ex, client, id)?;
    order.active_rental()?;
    Ok(order)
}

/// Starts the clock of a rental being leased now on `lease`. The caller
/// stores it.
pub(crate) fn start_rental(
    ex: &mut Exec<'_>,
    order: &mut Order,
    lease: Lease,
) -> Result<(), TxError> {
    let ends_ms = ex
        .now_ms
        .saturating_add(order.spec.timeout_secs.saturating_mul(1000));
    let next_bill_ms = ex
        .now_ms
        .saturating_add(ex.state.params.rental_billing_ms)
        .min(ends_ms);
    order.rent_out(
        lease,
        Rental {
            ends_ms,
            paid_until_ms: ex.now_ms,
            next_bill_ms,
            ..Rental::default()
        },
    )?;
    ex.state.rental_billing.insert((next_bill_ms, order.id), ());
    Ok(())
}

/// Streams what the rental owes up to `upto` (capped at its end) from
/// escrow to the provider, burning the protocol's share.
fn bill(ex: &mut Exec<'_>, order: &mut Order, upto: u64) -> Result<(), TxError> {
    let escrow = order.escrow;
    let (lease, rental) = order.active_rental()?;
    let (provider, start_ms, price) = (lease.provider, lease.start_ms, lease.price_per_hour);
    // Time held down is not billed, nor time under a probe until answered.
    let upto = upto
        .min(rental.ends_ms)
        .min(rental.down_since_ms.unwrap_or(u64::MAX))
        .min(rental.probe.map_or(u64::MAX, |p| p.reported_ms));
    if upto <= rental.paid_until_ms {
        return Ok(());
    }
    // Owed from the start, minus what was streamed: no rounding drift.
    let billable = (upto - start_ms).saturating_sub(rental.down_ms);
    let owed = payment(price, billable)?;
    let due = owed
        .saturating_sub(rental.paid.add_or(rental.burned)?)
        .min(escrow);
    let burned = due.mul_or(ex.state.params.burn_bps as u128)? / 10_000;
    rental.paid = rental.paid.add_or(due - burned)?;
    rental.burned = rental.burned.add_or(burned)?;
    rental.paid_until_ms = upto;
    order.escrow -= due;
    credit(ex, provider, due - burned)?;
    burn(ex, burned)
}

/// Ends a hold-down: the downtime is added up and the owner slashed per
/// started hour of it.
fn end_downtime(ex: &mut Exec<'_>, order: &mut Order) -> Result<(), TxError> {
    let (lease, rental) = order.active_rental()?;
    let provider = lease.provider;
    let Some(since) = rental.down_since_ms.take() else {
        return Ok(());
    };
    let down = ex.now_ms.saturating_sub(since);
    rental.down_ms += down;
    let hours = u128::from(down.div_ceil(3_600_000).max(1));
    let slashed = slash(
        ex,
        provider,
        ex.state.params.slash_down_per_hour.mul_or(hours)?,
        "rented machine down",
    )?;
    rental.slashed = rental.slashed.add_or(slashed)?;
    emit(
        ex,
        Event::MachineBackUp {
            order: order.id,
            client: order.client,
            provider,
            down_ms: down,
            slashed,
        },
    );
    Ok(())
}

/// Closes `order`'s open liveness probe, if it has one, with its
/// deadline's index entry; says whether it had one.
fn close_probe(ex: &mut Exec<'_>, order: &mut Order) -> bool {
    let Some(probe) = order.active_rental().ok().and_then(|(_, r)| r.probe.take()) else {
        return false;
    };
    ex.state
        .probe_deadlines
        .remove(&(probe.deadline_ms, order.id));
    true
}

/// Bills an active rental up to now, closing its probe and its downtime:
/// nothing is owed after this.
fn bill_to_now(ex: &mut Exec<'_>, order: &mut Order) -> Result<(), TxError> {
    close_probe(ex, order);
    bill(ex, order, ex.now_ms)?;
    end_downtime(ex, order)
}

/// Bills what is left up to now, frees the machine and refunds what
/// escrow is left.
fn close_rental(ex: &mut Exec<'_>, mut order: Order) -> Result<(), TxError> {
    bill_to_now(ex, &mut order)?;
    finish_rental(ex, order, None)
}

/// Frees the machine of a rental billed to its end (an active one, or a
/// saving one with how its `save` ended) and refunds what escrow is left.
fn finish_rental(
    ex: &mut Exec<'_>,
    mut order: Order,
    save: Option<SaveEnd>,
) -> Result<(), TxError> {
    end_lease(ex, &order, LeaseEnd::Completed);
    let (Some(lease), Some(rental)) = (order.lease(), order.rental()) else {
        return Err(TxError::NotARental(order.id));
    };
    let (provider, rental) = (lease.provider, rental.clone());
    let refunded = order.escrow;
    let settlement = Settlement {
        paid_to_provider: rental.paid,
        burned: rental.burned,
        refunded,
        slashed: rental.slashed,
        settled_ms: ex.now_ms,
    };
    match save {
        None => order.close(OrderStatus::Settled, settlement)?,
        Some(save) => order.close_saved(save, settlement)?,
    }
    credit(ex, order.client, refunded)?;
    order.escrow = 0;
    emit(
        ex,
        Event::RentalEnded {
            order: order.id,
            client: order.client,
            provider,
            paid: rental.paid,
            burned: rental.burned,
            refunded,
        },
    );
    ex.state.orders.insert(order.id, Box::new(order));
    Ok(())
}

/// Bills the rentals that are due, and closes those whose time ran out
/// and those whose workspace's save is past its deadline.
pub(crate) fn bill_rentals(ex: &mut Exec<'_>) -> Result<(), TxError> {
    let due = ex.state.rental_billing.due(ex.now_ms);
    for key in due {
        ex.state.rental_billing.remove(&key);
        let mut order = order(ex, key.1)?;
        if order.status() == OrderStatus::Saving {
            finish_rental(ex, order, Some(SaveEnd::NotReported))?;
            continue;
        }
        bill(ex, &mut order, ex.now_ms)?;
        let (_, rental) = order.active_rental()?;
        if ex.now_ms >= rental.ends_ms {
            end_by_itself(ex, order)?;
        } else {
            rental.next_bill_ms = ex
                .now_ms
                .saturating_add(ex.state.params.rental_billing_ms)
                .min(rental.ends_ms);
            ex.state
                .rental_billing
                .insert((rental.next_bill_ms, order.id), ());
            ex.state.orders.insert(order.id, Box::new(order));
        }
    }
    Ok(())
}

pub(crate) fn renew_rental(
    ex: &mut Exec<'_>,
    client: Address,
    id: OrderId,
    extra_secs: u64,
    deposit: Amount,
) -> Result<(), TxError> {
    let mut order = running_rental(ex, client, id)?;
    let (lease, rental) = order.active_rental()?;
    let lease = lease.clone();
    let max_ms = ex.state.params.max_job_timeout_secs.saturating_mul(1000);
    let ends_ms = rental
        .ends_ms
        .saturating_add(extra_secs.saturating_mul(1000));
    if extra_secs == 0 || ends_ms - lease.start_ms > max_ms {
        return Err(TxError::ImpossibleSpec(SpecError::OutOfRange {
            field: "rental length in seconds",
            got: (ends_ms - lease.start_ms) / 1000,
            min: 1,
            max: ex.state.params.max_job_timeout_secs,
        }));
    }
    let need = max_payment(lease.price_per_hour, extra_secs)?;
    if deposit < need {
        return Err(TxError::DepositTooSmall {
            deposit,
            need,
            covers: Covers::Renewal { secs: extra_secs },
        });
    }
    debit(ex, client, deposit)?;
    rental.ends_ms = ends_ms;
    order.escrow = order.escrow.add_or(deposit)?;
    emit(
        ex,
        Event::RentalRenewed {
            order: id,
            client,
            provider: lease.provider,
            ends_ms,
        },
    );
    ex.state.orders.insert(id, Box::new(order));
    Ok(())
}

/// Records where the renter reaches the rental's ports (`spec.ports`).
pub(crate) fn announce_endpoints(
    ex: &mut Exec<'_>,
    provider: Address,
    id: OrderId,
    endpoints: &[String],
) -> Result<(), TxError> {
    let (mut order, _) = running_lease(ex, provider, id)?;
    if endpoints.len() != order.spec.ports.len() {
        return Err(TxError::EndpointCount {
            order: id,
            ports: order.spec.ports.len(),
            endpoints: endpoints.len(),
        });
    }
    if endpoints
        .iter()
        .any(|e| e.is_empty() || e.len() > MAX_ENDPOINT_LEN)
    {
        return Err(TxError::BadEndpoint {
            max: MAX_ENDPOINT_LEN,
        });
    }
    let (_, rental) = order.active_rental()?;
    rental.endpoints = endpoints.to_vec();
    emit(
        ex,
        Event::EndpointsAnnounced {
            order: id,
            client: order.client,
            provider,
        },
    );
    ex.state.orders.insert(id, Box::new(order));
    Ok(())
}

/// Ends a rental now: a running one is billed to now and its unused
/// escrow refunded, after its provider saved its workspace when `save`
/// asks it to; one still waiting for a machine is cancelled, its whole
/// deposit refunded (no machine may ever take it, and it has no workspace).
pub(crate) fn end_rental(
    ex: &mut Exec<'_>,
    client: Address,
    id: OrderId,
    save: bool,
) -> Result<(), TxError> {
    let mut pending = clients_order(ex, client, id)?;
    if pending.is_rental() && pending.status() == OrderStatus::Pending && !save {
        return cancel_order(ex, client, id);
    }
    if let (true, Some(lease)) = (pending.is_rental(), pending.preparing_lease().cloned()) {
        // Nothing ran yet, so there is no workspace to save: its meter
        // starts and stops in this block, and the whole escrow goes back.
        ex.state.deadlines.remove(&(lease.deadline_ms, id));
        start_run(ex, &mut pending, lease)?;
        unqueue_bill(ex, &mut pending)?;
        return close_rental(ex, pending);
    }
    let mut order = running_rental(ex, client, id)?;
    unqueue_bill(ex, &mut order)?;
    match save {
        false => close_rental(ex, order),
        true => start_saving(ex, order),
    }
}

/// Drops an active rental's next bill from the billing queue.
fn unqueue_bill(ex: &mut Exec<'_>, order: &mut Order) -> Result<(), TxError> {
    let next = order.active_rental()?.1.next_bill_ms;
    ex.state.rental_billing.remove(&(next, order.id));
    Ok(())
}

/// Bills a running rental whose bill is off the billing queue to now and
/// has its provider save its workspace, by the deadline the billing queue
/// now holds for it.
fn start_saving(ex: &mut Exec<'_>, mut order: Order) -> Result<(), TxError> {
    bill_to_now(ex, &mut order)?;
    let deadline_ms = ex.now_ms.saturating_add(ex.state.params.workspace_save_ms);
    order.start_saving(deadline_ms)?;
    ex.state.rental_billing.insert((deadline_ms, order.id), ());
    let provider = order.saving_rental()?.provider;
    emit(
        ex,
        Event::WorkspaceSaveAsked {
            order: order.id,
            client: order.client,
            provider,
            deadline_ms,
        },
    );
    ex.state.orders.insert(order.id, Box::new(order));
    Ok(())
}

/// The provider of a saving rental reports how saving its workspace went:
/// the rental closes.
pub(crate) fn report_workspace(
    ex: &mut Exec<'_>,
    provider: Address,
    id: OrderId,
    save: &WorkspaceSave,
) -> Result<(), TxError> {
    let order = order(ex, id)?;
    if order.lease().is_none_or(|l| l.provider != provider) {
        return Err(TxError::NotYourLease(id));
    }
    order.saving_rental()?;
    if let WorkspaceSave::Failed { reason } = save {
        if reason.len() > MAX_REASON_LEN {
            return Err(TxError::TooLong {
                what: "a failure reason",
                max: MAX_REASON_LEN,
            });
        }
    }
    if let Some(key) = order.billing_key() {
        ex.state.rental_billing.remove(&key);
    }
    finish_rental(ex, order, Some(SaveEnd::Reported(save.clone())))
}

/// The provider says the rental's container stopped by itself: nothing
/// runs for the renter any more, so the rental ends now, billed to now.
pub(crate) fn rental_stopped(
    ex: &mut Exec<'_>,
    provider: Address,
    id: OrderId,
    how: ContainerStop,
) -> Result<(), TxError> {
    let (mut order, _) = running_lease(ex, provider, id)?;
    let (_, rental) = order.active_rental()?;
    rental.stopped = Some(how);
    unqueue_bill(ex, &mut order)?;
    end_by_itself(ex, order)
}

/// Ends a rental whose bill is off the billing queue and that ends without
/// its renter: its workspace is saved first if its spec asks so.
fn end_by_itself(ex: &mut Exec<'_>, order: Order) -> Result<(), TxError> {
    match order.spec.save_on_end {
        true => start_saving(ex, order),
        false => close_rental(ex, order),
    }
}

pub(crate) fn report_offline(
    ex: &mut Exec<'_>,
    client: Address,
    id: OrderId,
) -> Result<(), TxError> {
    let mut order = running_rental(ex, client, id)?;
    let (lease, rental) = order.active_rental()?;
    let provider = lease.provider;
    if rental.awaits_answer() {
        return Err(TxError::AlreadyProbed(id));
    }
    let deadline_ms = ex.now_ms.saturating_add(ex.state.params.probe_answer_ms);
    rental.probe = Some(Probe {
        reported_ms: ex.now_ms,
        deadline_ms,
    });
    ex.state.probe_deadlines.insert((deadline_ms, id), ());
    emit(
        ex,
        Event::LivenessProbe {
            order: id,
            client,
            provider,
            deadline_ms,
        },
    );
    ex.state.orders.insert(id, Box::new(order));
    Ok(())
}

pub(crate) fn answer_probe(
    ex: &mut Exec<'_>,
    provider: Address,
    id: OrderId,
) -> Result<(), TxError> {
    let mut order = order(ex, id)?;
    if order.lease().is_none_or(|l| l.provider != provider) {
        return Err(TxError::NotYourLease(id));
    }
    let (lease, rental) = order.active_rental()?;
    let (machine_id, down) = (lease.machine, rental.down_since_ms.is_some());
    // An open probe is answered in time; otherwise the machine comes back up.
    if !close_probe(ex, &mut order) {
        if !down {
            return Err(TxError::NoProbe(id));
        }
        end_downtime(ex, &mut order)?;
        if let Some(mut machine) = ex.state.machines.get(&machine_id).cloned() {
            machine.online = true;
            ex.state.put_machine(machine);
        }
    }
    ex.state.orders.insert(id, Box::new(order));
    Ok(())
}

/// Holds down the machines of rentals whose probe went unanswered.
pub(crate) fn expire_probes(ex: &mut Exec<'_>) -> Result<(), TxError> {
    let due = ex.state.probe_deadlines.due(ex.now_ms);
    for key in due {
        ex.state.probe_deadlines.remove(&key);
        let mut order = order(ex, key.1)?;
        let (lease, rental) = order.active_rental()?;
        let lease = lease.clone();
        // Down since the report: billing stopped there already. The
        // index names only open probes; one that is not is skipped.
        let Some(probe) = rental.probe.take() else {
            continue;
        };
        rental.down_since_ms = Some(probe.reported_ms);
        if let Some(mut machine) = ex.state.machines.get(&lease.machine).cloned() {
            machine.online = false;
            ex.state.put_machine(machine);
        }
        emit(
            ex,
            Event::MachineDown {
                order: order.id,
                client: order.client,
                provider: lease.provider,
            },
        );
        ex.state.orders.insert(order.id, Box::new(order));
    }
    Ok(())
}
