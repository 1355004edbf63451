//! Declines: a provider hands back a lease its machine cannot start (the
//! image or program is missing, an input cannot be fetched).
//!
//! Such a job would otherwise be reported `Failed` and its provider slashed,
//! so a client could grief any provider for a transaction fee with a spec
//! that cannot run. A decline instead costs nobody anything: nothing ran, so
//! nothing is paid, the machine's record counts a decline (not a failure),
//! and the order goes back to matching without that machine. After
//! `max_declines` it closes `Declined`, refunded. A provider can decline only
//! within `decline_window_ms` of the lease's start (and a rental only before
//! its first bill), so a job that ran and broke is still a failure.

use super::audits::advance_audit;
use super::emit;
use super::orders::LeaseEnd;
use super::orders::{close_with_refund, end_lease};
use super::records::running_lease;
use super::settlement::MAX_REASON_LEN;
use super::Exec;
use crate::error::TxError;
use gpunet_primitives::{Address, OrderId};
use gpunet_types::{Decline, Event, OrderStatus};

pub(crate) fn decline_lease(
    ex: &mut Exec<'_>,
    provider: Address,
    id: OrderId,
    reason: &str,
) -> Result<(), TxError> {
    let (mut order, lease) = running_lease(ex, provider, id)?;
    if reason.len() > MAX_REASON_LEN {
        return Err(TxError::TooLong {
            what: "a decline reason",
            max: MAX_REASON_LEN,
        });
    }
    // A pushed image that does not arrive is declined however long it took.
    let window = ex
        .state
        .params
        .decline_window_ms
        .saturating_add(order.spec.preparation_ms());
    if ex.now_ms > lease.start_ms.saturating_add(window) {
        return Err(TxError::DeclineTooLate {
            order: id,
            window_ms: window,
        });
    }
    if let Some(rental) = order.rental() {
        if rental.paid_until_ms > lease.start_ms {
            return Err(TxError::RentalBilled(id));
        }
        if rental.awaits_answer() {
            return Err(TxError::ProbeOpen(id));
        }
        ex.state.rental_billing.remove(&(rental.next_bill_ms, id));
        // The next machine gets all the time bought, renewals included.
        order.spec.timeout_secs = (rental.ends_ms - lease.start_ms) / 1000;
    }
    end_lease(ex, &order, LeaseEnd::Declined);
    order.requeue()?;
    order.declines.push(Decline {
        machine: lease.machine,
        reason: reason.to_string(),
    });
    let client = order.client;
    let requeued = order.declines.len() < ex.state.params.max_declines as usize;
    let audited = order.audit_of();
    let refunded = if requeued {
        ex.state.queue_order(&order);
        ex.state.orders.insert(id, Box::new(order));
        0
    } else {
        close_with_refund(ex, order, OrderStatus::Declined, 0)?
    };
    emit(
        ex,
        Event::OrderDeclined {
            order: id,
            client,
            provider,
            machine: lease.machine,
            reason: reason.to_string(),
            requeued,
            refunded,
        },
    );
    if let (false, Some(parent)) = (requeued, audited) {
        advance_audit(ex, parent)?;
    }
    Ok(())
}
