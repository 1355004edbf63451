//! Results, settlement and failure: who gets paid, what is burned, who is slashed.

use super::audits::{advance_audit, draws_audit, start_audit_run};
use super::bank::{burn, credit};
use super::emit;
use super::orders::{close_with_refund, end_lease};
use super::orders::{run_pay, LeaseEnd};
use super::preparing;
use super::records::clients_order;
use super::records::order;
use super::records::running_lease;
use super::settle_queue::queue_settlement;
use super::staking::slash;
use super::Exec;
use crate::error::{TxError, Wanted};
use crate::order::{JobPhase, Order};
use gpunet_primitives::{Address, Amount, JobOutcome, OrderId};
use gpunet_types::pricing::CheckedAmount;
use gpunet_types::{AttemptFailure, Event, Lease, OrderStatus, Report, Settlement};

/// Longest failure or decline reason a provider may give.
pub(crate) const MAX_REASON_LEN: usize = 1024;

pub(crate) fn report_result(
    ex: &mut Exec<'_>,
    provider: Address,
    id: OrderId,
    outcome: &JobOutcome,
) -> Result<(), TxError> {
    let (mut order, lease) = running_lease(ex, provider, id)?;
    if order.is_rental() {
        return Err(TxError::RentalHasNoResult(id));
    }
    match outcome {
        JobOutcome::Completed {
            exit_code,
            duration_ms,
            ..
        } => {
            end_lease(ex, &order, LeaseEnd::Completed);
            let elapsed = ex.now_ms.saturating_sub(lease.start_ms);
            let billable_ms = (*duration_ms)
                .min(order.spec.timeout_secs.saturating_mul(1000))
                .min(elapsed);
            let audited = order.audit_of();
            // An audit run waits for the verdict on the order it re-ran.
            order.record_report(
                Report {
                    outcome: outcome.clone(),
                    reported_ms: ex.now_ms,
                    billable_ms,
                    padded: None,
                },
                audited.is_some(),
            )?;
            emit(
                ex,
                Event::OrderReported {
                    order: id,
                    client: order.client,
                    provider,
                    exit_code: *exit_code,
                },
            );
            match audited {
                Some(parent) => {
                    ex.state.orders.insert(id, Box::new(order));
                    advance_audit(ex, parent)?;
                }
                None => queue_settlement(ex, order)?,
            }
        }
        JobOutcome::Failed { reason } => {
            if reason.len() > MAX_REASON_LEN {
                return Err(TxError::TooLong {
                    what: "a failure reason",
                    max: MAX_REASON_LEN,
                });
            }
            end_lease(ex, &order, LeaseEnd::Failed);
            let slashed = slash(ex, provider, ex.state.params.slash_failed, "job failed")?;
            if order.retries_a_failed_run() {
                let failure = AttemptFailure::Failed {
                    reason: reason.clone(),
                };
                return retry(ex, order, lease, failure, slashed);
            }
            order.record_report(
                Report {
                    outcome: outcome.clone(),
                    reported_ms: ex.now_ms,
                    billable_ms: 0,
                    padded: None,
                },
                false,
            )?;
            let (client, audited) = (order.client, order.audit_of());
            let refunded = close_with_refund(ex, order, OrderStatus::Failed, slashed)?;
            if let Some(parent) = audited {
                advance_audit(ex, parent)?;
            }
            emit(
                ex,
                Event::OrderFailed {
                    order: id,
                    client,
                    provider,
                    reason: reason.clone(),
                    refunded,
                },
            );
        }
    }
    Ok(())
}

/// Sends a job whose run on `lease` ended in `failure` (its provider
/// slashed `slashed` for it) back to matching, without that machine, its
/// escrow untouched: nothing was paid for the run.
fn retry(
    ex: &mut Exec<'_>,
    mut order: Order,
    lease: Lease,
    failure: AttemptFailure,
    slashed: Amount,
) -> Result<(), TxError> {
    order.retry(failure.clone(), slashed, ex.now_ms)?;
    ex.state.queue_order(&order);
    emit(
        ex,
        Event::OrderRetried {
            order: order.id,
            client: order.client,
            provider: lease.provider,
            machine: lease.machine,
            failure,
            attempts: u32::try_from(order.attempts().len()).unwrap_or(u32::MAX),
        },
    );
    ex.state.orders.insert(order.id, Box::new(order));
    Ok(())
}

/// Pays out reported orders whose dispute window has passed.
pub(crate) fn settle_due(ex: &mut Exec<'_>) -> Result<(), TxError> {
    let due = ex.state.settle_queue.due(ex.now_ms);
    for key in due {
        ex.state.settle_queue.remove(&key);
        let mut order = order(ex, key.1)?;
        if draws_audit(ex, &order) {
            start_audit_run(ex, &mut order)?;
            ex.state.orders.insert(order.id, Box::new(order));
            continue;
        }
        let (Some(lease), Some(report)) = (order.lease().cloned(), order.report()) else {
            return Err(TxError::WrongPhase {
                order: order.id,
                status: order.status(),
                change: "settled from the settlement queue",
            });
        };
        let (billable, slashed) = (report.billable_ms, report.padded.unwrap_or(0));
        let s = pay_out(
            ex,
            &mut order,
            &lease,
            billable,
            OrderStatus::Settled,
            slashed,
        )?;
        emit(
            ex,
            Event::OrderSettled {
                order: order.id,
                client: order.client,
                provider: lease.provider,
                paid: s.paid_to_provider,
                burned: s.burned,
                refunded: s.refunded,
            },
        );
        ex.state.orders.insert(order.id, Box::new(order));
    }
    Ok(())
}

/// Pays `lease`'s provider for `billable_ms` out of `order`'s escrow (the
/// protocol's share burned), refunds the rest to the client, and closes
/// the order as `status` with that settlement, which it returns.
fn pay_out(
    ex: &mut Exec<'_>,
    order: &mut Order,
    lease: &Lease,
    billable_ms: u64,
    status: OrderStatus,
    slashed: Amount,
) -> Result<Settlement, TxError> {
    let paid = run_pay(&ex.state.params, order, lease.price_per_hour, billable_ms)?;
    let burned = paid.mul_or(ex.state.params.burn_bps as u128)? / 10_000;
    let refunded = order.escrow - paid;
    let settlement = Settlement {
        paid_to_provider: paid - burned,
        burned,
        refunded,
        slashed,
        settled_ms: ex.now_ms,
    };
    order.close(status, settlement.clone())?;
    credit(ex, lease.provider, paid - burned)?;
    burn(ex, burned)?;
    credit(ex, order.client, refunded)?;
    order.escrow = 0;
    Ok(settlement)
}

/// The client stops its running or preparing job: the provider is paid the
/// block time since its run started (at most the job's timeout; nothing
/// while it prepared), nobody is slashed, and the provider's agent stops
/// the run when it sees `JobStopped`.
pub(crate) fn stop_job(ex: &mut Exec<'_>, client: Address, id: OrderId) -> Result<(), TxError> {
    let mut order = clients_order(ex, client, id)?;
    if order.is_rental() {
        return Err(TxError::RentalNotStopped(id));
    }
    if order.audit_of().is_some() {
        return Err(TxError::AuditRun {
            order: id,
            refused: "it cannot be stopped",
        });
    }
    let (lease, started) = match order.job_phase() {
        Some(JobPhase::Running { lease }) => (lease.clone(), true),
        // Nothing ran yet: nothing is owed.
        Some(JobPhase::Preparing { lease }) => (lease.clone(), false),
        _ => {
            return Err(TxError::WrongStatus {
                order: id,
                status: order.status(),
                wanted: Wanted::RunningJob,
            })
        }
    };
    end_lease(ex, &order, LeaseEnd::Stopped);
    let ran_ms = match started {
        true => ex
            .now_ms
            .saturating_sub(lease.start_ms)
            .min(order.spec.timeout_secs.saturating_mul(1000)),
        false => 0,
    };
    let s = pay_out(ex, &mut order, &lease, ran_ms, OrderStatus::Stopped, 0)?;
    emit(
        ex,
        Event::JobStopped {
            order: id,
            client,
            provider: lease.provider,
            paid: s.paid_to_provider,
            burned: s.burned,
            refunded: s.refunded,
        },
    );
    ex.state.orders.insert(id, Box::new(order));
    Ok(())
}

/// Slashes providers whose leases passed their deadline unreported, and
/// sends each such job back to matching if its spec allows another run,
/// else refunds its client. A preparing lease past its start deadline is
/// handed back instead (`exec::preparing`).
pub(crate) fn expire_deadlines(ex: &mut Exec<'_>) -> Result<(), TxError> {
    let due = ex.state.deadlines.due(ex.now_ms);
    for (_, id) in due {
        let order = order(ex, id)?;
        if let Some(lease) = order.preparing_lease().cloned() {
            preparing::not_started(ex, order, lease)?;
            continue;
        }
        let Some(JobPhase::Running { lease }) = order.job_phase().cloned() else {
            return Err(TxError::WrongPhase {
                order: id,
                status: order.status(),
                change: "timed out at a lease deadline",
            });
        };
        end_lease(ex, &order, LeaseEnd::Failed);
        let slashed = slash(
            ex,
            lease.provider,
            ex.state.params.slash_timeout,
            "missed lease deadline",
        )?;
        if order.retries_a_failed_run() {
            retry(ex, order, lease, AttemptFailure::TimedOut, slashed)?;
            continue;
        }
        let (client, audited) = (order.client, order.audit_of());
        let refunded = close_with_refund(ex, order, OrderStatus::TimedOut, slashed)?;
        if let Some(parent) = audited {
            advance_audit(ex, parent)?;
        }
        emit(
            ex,
            Event::OrderTimedOut {
                order: id,
                client,
                provider: lease.provider,
                refunded,
            },
        );
    }
    Ok(())
}
