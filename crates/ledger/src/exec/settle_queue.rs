//! The settlement queue: reported orders wait in it, keyed by the end of
//! their dispute window, until `settlement::settle_due` pays them.

use super::Exec;
use crate::error::TxError;
use crate::order::Order;
use gpunet_primitives::OrderId;

/// Marks a reported order for payment at the end of its dispute window.
pub(crate) fn queue_settlement(ex: &mut Exec<'_>, mut order: Order) -> Result<(), TxError> {
    order.hold(false)?;
    ex.state.settle_queue.insert(settle_key(ex, &order), ());
    ex.state.orders.insert(order.id, Box::new(order));
    Ok(())
}

/// A reported order's key in the settlement queue: it settles when its
/// dispute window ends.
pub(crate) fn settle_key(ex: &Exec<'_>, order: &Order) -> (u64, OrderId) {
    let reported_ms = order.report().map_or(ex.now_ms, |r| r.reported_ms);
    let settle_at = reported_ms.saturating_add(ex.state.params.dispute_window_ms);
    (settle_at, order.id)
}
