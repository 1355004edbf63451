//! Declines: a provider hands back a lease its machine cannot start (the
//! image or program is missing, an input cannot be fetched).
//!
//! Such a job would otherwise be reported `Failed` and its provider slashed,
//! so a client could grief any provider for a transaction fee with a spec
//! that cannot run. A decline instead costs nobody anything: nothing ran, so
//! nothing is paid, the machine's record counts a decline (not a failure),
//! and the order goes back to matching without that machine. After
//! `max_declines` it closes `Declined`, refunded. A provider can decline a
//! preparing lease until its start deadline, and a started one only within
//! `decline_window_ms` of its start (a rental only before its first bill),
//! so a job that ran and broke is still a failure.

use super::audits::advance_audit;
use super::emit;
use super::orders::LeaseEnd;
use super::orders::{close_with_refund, end_lease};
use super::records::leased;
use super::settlement::MAX_REASON_LEN;
use super::Exec;
use crate::error::TxError;
use crate::order::Order;
use gpunet_primitives::{Address, OrderId};
use gpunet_types::{Decline, Event, Lease, OrderStatus};

pub(crate) fn decline_lease(
    ex: &mut Exec<'_>,
    provider: Address,
    id: OrderId,
    reason: &str,
) -> Result<(), TxError> {
    let (order, lease) = leased(ex, provider, id)?;
    if reason.len() > MAX_REASON_LEN {
        return Err(TxError::TooLong {
            what: "a decline reason",
            max: MAX_REASON_LEN,
        });
    }
    // A preparing lease may be handed back until its start deadline (which
    // ends it by itself); a started one only within the window.
    if order.preparing_lease().is_none() {
        let window = ex.state.params.decline_window_ms;
        if ex.now_ms > lease.start_ms.saturating_add(window) {
            return Err(TxError::DeclineTooLate {
                order: id,
                window_ms: window,
            });
        }
    }
    if let Some(rental) = order.rental() {
        if rental.paid_until_ms > lease.start_ms {
            return Err(TxError::RentalBilled(id));
        }
        if rental.awaits_answer() {
            return Err(TxError::ProbeOpen(id));
        }
    }
    hand_back(ex, order, lease, reason)
}

/// Ends `order`'s `lease` as declined for `reason`: the order goes back to
/// matching without that machine, or closes `Declined` after
/// `max_declines`.
pub(crate) fn hand_back(
    ex: &mut Exec<'_>,
    mut order: Order,
    lease: Lease,
    reason: &str,
) -> Result<(), TxError> {
    let id = order.id;
    if let Some(rental) = order.rental() {
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
            provider: lease.provider,
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
