//! Orders: validation, escrow at submission, cancelling, sharing results,
//! refunds and the end of a lease. Matching them to machines is `matching`.

use super::bank::{credit, debit};
use super::emit;
use super::records::clients_order;
use super::specs::{check_order, SpecError};
use super::Exec;
use crate::error::{Covers, TxError, Wanted};
use crate::order::{Checks, JobPhase, Order, OrderKind, RentalPhase};
use gpunet_primitives::{
    Address, Amount, InputSource, JobSpec, OrderId, OutputHolder, WorkspaceRef,
};
use gpunet_types::pricing::CheckedAmount;
use gpunet_types::pricing::{min_deposit, runs_of, MS_PER_HOUR};
use gpunet_types::{
    ArrayPlace, Event, OrderStatus, Params, Settlement, ARRAY_INDEX_VAR, ARRAY_SIZE_VAR,
    MAX_ARRAY_SIZE,
};

/// Most accounts one order's result is shared with.
pub(crate) const MAX_RESULT_READERS: usize = 16;

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

pub(crate) fn submit_order(
    ex: &mut Exec<'_>,
    client: Address,
    spec: &JobSpec,
    max_price_per_hour: Amount,
    deposit: Amount,
    rental: bool,
) -> Result<(), TxError> {
    check_order(&ex.state.params, spec, max_price_per_hour, rental)?;
    check_workspace(ex, client, spec)?;
    check_kept_inputs(ex, client, spec)?;
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
    debit(ex, client, deposit)?;
    let id = queue_order(
        ex,
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
                attempts: Vec::new(),
                array: None,
            }
        },
    );
    emit(ex, Event::OrderSubmitted { order: id, client });
    Ok(())
}

/// The workspace `spec` names, if any, must be one that a rental of
/// `client`'s saved, with that root: a client mounts only its own work, and
/// the provider of the order may then read it (as the nodes' and
/// providers' read checks allow a party to an order naming it).
fn check_workspace(ex: &Exec<'_>, client: Address, spec: &JobSpec) -> Result<(), TxError> {
    let Some(WorkspaceRef { order: id, root }) = spec.workspace else {
        return Ok(());
    };
    let saved = clients_order(ex, client, id)?;
    match saved.workspace().and_then(|w| w.saved()) {
        Some((saved_root, _)) if saved_root == root => Ok(()),
        _ => Err(TxError::NoSavedWorkspace { order: id, root }),
    }
}

/// Each input of `spec` that a provider keeps (`InputSource::KeptResult`)
/// must be of a job of `client`'s whose result its provider keeps: that
/// provider then serves the file to the provider of this order (and of its
/// audit runs), as it would to the client. Which files the result holds is
/// the manifest's word, which the ledger does not read: the provider checks
/// the hash when it fetches.
fn check_kept_inputs(ex: &Exec<'_>, client: Address, spec: &JobSpec) -> Result<(), TxError> {
    for input in &spec.inputs {
        let InputSource::KeptResult { order: id } = input.source else {
            continue;
        };
        let earlier = clients_order(ex, client, id)?;
        let kept = earlier.report().and_then(|r| r.files_held_by()) == Some(OutputHolder::Provider);
        if !kept {
            return Err(TxError::NoKeptResult {
                path: input.path.clone(),
                order: id,
            });
        }
    }
    Ok(())
}

/// Places a job array (`TxBody::SubmitArray`): `size` jobs of `spec` with
/// consecutive ids, member `i`'s environment holding its index and the
/// size, each escrowing `deposit_each`. All or nothing: one member's spec
/// stands for all (they differ only in the index's digits), and the whole
/// deposit is debited before any is queued.
pub(crate) fn submit_array(
    ex: &mut Exec<'_>,
    client: Address,
    spec: &JobSpec,
    max_price_per_hour: Amount,
    deposit_each: Amount,
    size: u32,
) -> Result<(), TxError> {
    if size == 0 || size > MAX_ARRAY_SIZE {
        return Err(SpecError::ArraySize { got: size }.into());
    }
    if let Some(reserved) = [ARRAY_INDEX_VAR, ARRAY_SIZE_VAR]
        .into_iter()
        .find(|name| spec.env.iter().any(|(k, _)| k == name))
    {
        return Err(SpecError::ReservedVariable(reserved).into());
    }
    // The last member's spec: its index has the most digits.
    check_order(
        &ex.state.params,
        &array_member(spec, size - 1, size),
        max_price_per_hour,
        false,
    )?;
    check_workspace(ex, client, spec)?;
    check_kept_inputs(ex, client, spec)?;
    let need = min_deposit(max_price_per_hour, spec)?;
    if deposit_each < need {
        return Err(TxError::DepositTooSmall {
            deposit: deposit_each,
            need,
            covers: Covers::WholeTimeout {
                runs: runs_of(spec),
            },
        });
    }
    debit(ex, client, deposit_each.mul_or(Amount::from(size))?)?;
    let first = ex.state.globals().next_order_id;
    for index in 0..size {
        let id = queue_order(
            ex,
            client,
            array_member(spec, index, size),
            max_price_per_hour,
            deposit_each,
            OrderKind::Job {
                phase: JobPhase::Pending,
                checks: Checks::default(),
                attempts: Vec::new(),
                array: Some(ArrayPlace { first, index, size }),
            },
        );
        emit(ex, Event::OrderSubmitted { order: id, client });
    }
    Ok(())
}

/// Member `index` of an array of `size` jobs of `spec`: its environment
/// gains the index and the size (kept sorted by name, as every spec's is).
fn array_member(spec: &JobSpec, index: u32, size: u32) -> JobSpec {
    let mut member = spec.clone();
    member
        .env
        .push((ARRAY_INDEX_VAR.to_string(), index.to_string()));
    member
        .env
        .push((ARRAY_SIZE_VAR.to_string(), size.to_string()));
    member.env.sort();
    member
}

/// Records a new order of `kind`, pending, holding `deposit` in escrow;
/// returns its id.
pub(crate) fn queue_order(
    ex: &mut Exec<'_>,
    client: Address,
    spec: JobSpec,
    max_price_per_hour: Amount,
    deposit: Amount,
    kind: OrderKind,
) -> OrderId {
    let id = ex.state.globals().next_order_id;
    ex.state.update_globals(|g| g.next_order_id += 1);
    let order = Order {
        id,
        client,
        spec,
        max_price_per_hour,
        deposit,
        escrow: deposit,
        submitted_ms: ex.now_ms,
        queued_ms: ex.now_ms,
        kind,
        declines: Vec::new(),
        result_readers: Vec::new(),
    };
    ex.state.queue_order(&order);
    ex.state.orders.insert(id, Box::new(order));
    ex.state.client_orders.insert((client, id), ());
    id
}

pub(crate) fn cancel_order(ex: &mut Exec<'_>, client: Address, id: OrderId) -> Result<(), TxError> {
    let order = clients_order(ex, client, id)?;
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
    ex.state.unqueue_order(&order);
    let refunded = close_with_refund(ex, order, OrderStatus::Cancelled, 0)?;
    emit(
        ex,
        Event::OrderCancelled {
            order: id,
            client,
            refunded,
        },
    );
    Ok(())
}

/// Lets `reader` read order `id`'s result, or stops letting it. Any
/// order of the client's, in any state: a result shared before it exists
/// is readable once it does.
pub(crate) fn share_result(
    ex: &mut Exec<'_>,
    client: Address,
    id: OrderId,
    reader: Address,
    shared: bool,
) -> Result<(), TxError> {
    reader.key().map_err(|e| TxError::BadAddress(reader, e))?;
    let mut order = clients_order(ex, client, id)?;
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
    ex.state.orders.insert(id, Box::new(order));
    Ok(())
}

/// Closes an order, refunding its whole escrow to the client. Returns the refund.
pub(crate) fn close_with_refund(
    ex: &mut Exec<'_>,
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
            settled_ms: ex.now_ms,
            ..Default::default()
        },
    )?;
    credit(ex, order.client, refunded)?;
    order.escrow = 0;
    ex.state.orders.insert(order.id, Box::new(order));
    Ok(refunded)
}

/// Returns a lease's resources to its machine, counts how it ended in the
/// machine's record and drops its indexes.
pub(crate) fn end_lease(ex: &mut Exec<'_>, order: &Order, end: LeaseEnd) {
    let Some(lease) = order.lease() else { return };
    ex.state.deadlines.remove(&(lease.deadline_ms, order.id));
    ex.state.provider_leases.remove(&(lease.provider, order.id));
    if let Some(mut machine) = ex.state.machines.get(&lease.machine).cloned() {
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
        ex.state.put_machine(machine);
    }
}
