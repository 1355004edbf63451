//! Results, settlement and failure: who gets paid, what is burned, who is slashed.

use super::orders::{run_pay, LeaseEnd};
use super::Exec;
use crate::error::{CheckedAmount, TxError, Wanted};
use gpunet_types::{Event, Lease, OrderStatus, Report, Settlement};

use crate::order::{JobPhase, Order};
use gpunet_primitives::{Address, Amount, JobOutcome, OrderId};

/// Longest failure or decline reason a provider may give.
pub(crate) const MAX_REASON_LEN: usize = 1024;

impl Exec<'_> {
    pub(crate) fn report_result(
        &mut self,
        provider: Address,
        id: OrderId,
        outcome: &JobOutcome,
    ) -> Result<(), TxError> {
        let (mut order, lease) = self.running_lease(provider, id)?;
        if order.is_rental() {
            return Err(TxError::RentalHasNoResult(id));
        }
        match outcome {
            JobOutcome::Completed {
                exit_code,
                duration_ms,
                ..
            } => {
                self.end_lease(&order, LeaseEnd::Completed);
                let elapsed = self.now_ms.saturating_sub(lease.start_ms);
                let billable_ms = (*duration_ms)
                    .min(order.spec.timeout_secs.saturating_mul(1000))
                    .min(elapsed);
                let audited = order.audit_of();
                // An audit run waits for the verdict on the order it re-ran.
                order.record_report(
                    Report {
                        outcome: outcome.clone(),
                        reported_ms: self.now_ms,
                        billable_ms,
                        padded: None,
                    },
                    audited.is_some(),
                )?;
                self.emit(Event::OrderReported {
                    order: id,
                    client: order.client,
                    provider,
                    exit_code: *exit_code,
                });
                match audited {
                    Some(parent) => {
                        self.state.orders.insert(id, order);
                        self.advance_audit(parent)?;
                    }
                    None => self.queue_settlement(order)?,
                }
            }
            JobOutcome::Failed { reason } => {
                if reason.len() > MAX_REASON_LEN {
                    return Err(TxError::TooLong {
                        what: "a failure reason",
                        max: MAX_REASON_LEN,
                    });
                }
                self.end_lease(&order, LeaseEnd::Failed);
                order.record_report(
                    Report {
                        outcome: outcome.clone(),
                        reported_ms: self.now_ms,
                        billable_ms: 0,
                        padded: None,
                    },
                    false,
                )?;
                let (client, audited) = (order.client, order.audit_of());
                let slashed = self.slash(provider, self.state.params.slash_failed, "job failed")?;
                let refunded = self.close_with_refund(order, OrderStatus::Failed, slashed)?;
                if let Some(parent) = audited {
                    self.advance_audit(parent)?;
                }
                self.emit(Event::OrderFailed {
                    order: id,
                    client,
                    provider,
                    reason: reason.clone(),
                    refunded,
                });
            }
        }
        Ok(())
    }

    /// Marks a reported order for payment at the end of its dispute window.
    pub(crate) fn queue_settlement(&mut self, mut order: Order) -> Result<(), TxError> {
        order.hold(false)?;
        self.state.settle_queue.insert(self.settle_key(&order), ());
        self.state.orders.insert(order.id, order);
        Ok(())
    }

    /// A reported order's key in the settlement queue: it settles when its
    /// dispute window ends.
    pub(crate) fn settle_key(&self, order: &Order) -> (u64, OrderId) {
        let reported_ms = order.report().map_or(self.now_ms, |r| r.reported_ms);
        let settle_at = reported_ms.saturating_add(self.state.params.dispute_window_ms);
        (settle_at, order.id)
    }

    /// Pays out reported orders whose dispute window has passed.
    pub(crate) fn settle_due(&mut self) -> Result<(), TxError> {
        let due = self.state.settle_queue.due(self.now_ms);
        for key in due {
            self.state.settle_queue.remove(&key);
            let mut order = self.order(key.1)?;
            if self.draws_audit(&order) {
                self.start_audit_run(&mut order)?;
                self.state.orders.insert(order.id, order);
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
            let s = self.pay_out(&mut order, &lease, billable, OrderStatus::Settled, slashed)?;
            self.emit(Event::OrderSettled {
                order: order.id,
                client: order.client,
                provider: lease.provider,
                paid: s.paid_to_provider,
                burned: s.burned,
                refunded: s.refunded,
            });
            self.state.orders.insert(order.id, order);
        }
        Ok(())
    }

    /// Pays `lease`'s provider for `billable_ms` out of `order`'s escrow (the
    /// protocol's share burned), refunds the rest to the client, and closes
    /// the order as `status` with that settlement, which it returns.
    fn pay_out(
        &mut self,
        order: &mut Order,
        lease: &Lease,
        billable_ms: u64,
        status: OrderStatus,
        slashed: Amount,
    ) -> Result<Settlement, TxError> {
        let paid = run_pay(&self.state.params, order, lease.price_per_hour, billable_ms)?;
        let burned = paid.mul_or(self.state.params.burn_bps as u128)? / 10_000;
        let refunded = order.escrow - paid;
        let settlement = Settlement {
            paid_to_provider: paid - burned,
            burned,
            refunded,
            slashed,
            settled_ms: self.now_ms,
        };
        order.close(status, settlement.clone())?;
        self.credit(lease.provider, paid - burned)?;
        self.burn(burned)?;
        self.credit(order.client, refunded)?;
        order.escrow = 0;
        Ok(settlement)
    }

    /// The client stops its running job: the provider is paid the block time
    /// since its lease began (at most the job's timeout), nobody is slashed,
    /// and the provider's agent stops the run when it sees `JobStopped`.
    pub(crate) fn stop_job(&mut self, client: Address, id: OrderId) -> Result<(), TxError> {
        let mut order = self.clients_order(client, id)?;
        if order.is_rental() {
            return Err(TxError::RentalNotStopped(id));
        }
        if order.audit_of().is_some() {
            return Err(TxError::AuditRun {
                order: id,
                refused: "it cannot be stopped",
            });
        }
        let lease = match order.job_phase() {
            Some(JobPhase::Running { lease }) => lease.clone(),
            _ => {
                return Err(TxError::WrongStatus {
                    order: id,
                    status: order.status(),
                    wanted: Wanted::RunningJob,
                })
            }
        };
        self.end_lease(&order, LeaseEnd::Stopped);
        let ran_ms = self
            .now_ms
            .saturating_sub(lease.start_ms)
            .min(order.spec.timeout_secs.saturating_mul(1000));
        let s = self.pay_out(&mut order, &lease, ran_ms, OrderStatus::Stopped, 0)?;
        self.emit(Event::JobStopped {
            order: id,
            client,
            provider: lease.provider,
            paid: s.paid_to_provider,
            burned: s.burned,
            refunded: s.refunded,
        });
        self.state.orders.insert(id, order);
        Ok(())
    }

    /// Refunds clients and slashes providers whose leases passed their deadline unreported.
    pub(crate) fn expire_deadlines(&mut self) -> Result<(), TxError> {
        let due = self.state.deadlines.due(self.now_ms);
        for (_, id) in due {
            let order = self.order(id)?;
            let Some(JobPhase::Running { lease }) = order.job_phase().cloned() else {
                return Err(TxError::WrongPhase {
                    order: id,
                    status: order.status(),
                    change: "timed out at a lease deadline",
                });
            };
            self.end_lease(&order, LeaseEnd::Failed);
            let slashed = self.slash(
                lease.provider,
                self.state.params.slash_timeout,
                "missed lease deadline",
            )?;
            let (client, audited) = (order.client, order.audit_of());
            let refunded = self.close_with_refund(order, OrderStatus::TimedOut, slashed)?;
            if let Some(parent) = audited {
                self.advance_audit(parent)?;
            }
            self.emit(Event::OrderTimedOut {
                order: id,
                client,
                provider: lease.provider,
                refunded,
            });
        }
        Ok(())
    }
}
