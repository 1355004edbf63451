//! Records loaded for a transaction, or the typed error that says why there
//! is none: an order, a client's own order, a provider's running lease, a
//! machine. Every handler looks records up here, so each refusal reads the
//! same wherever it happens.

use super::Exec;
use crate::error::{TxError, Wanted};
use crate::order::Order;
use gpunet_primitives::{Address, MachineId, OrderId};
use gpunet_types::{Lease, Machine, OrderStatus};

/// Order `id`.
pub(crate) fn order(ex: &Exec<'_>, id: OrderId) -> Result<Order, TxError> {
    ex.state
        .orders
        .get(&id)
        .map(|o| Order::clone(o))
        .ok_or(TxError::UnknownOrder(id))
}

/// Order `id`, when `client` placed it.
pub(crate) fn clients_order(ex: &Exec<'_>, client: Address, id: OrderId) -> Result<Order, TxError> {
    let order = order(ex, id)?;
    if order.client != client {
        return Err(TxError::NotYourOrder(id));
    }
    Ok(order)
}

/// Order `id` with its lease, when it is running on a machine of `provider`.
pub(crate) fn running_lease(
    ex: &Exec<'_>,
    provider: Address,
    id: OrderId,
) -> Result<(Order, Lease), TxError> {
    lease_in(ex, provider, id, |status| status == OrderStatus::Running)
}

/// Order `id` with its lease, when it is preparing or running on a machine
/// of `provider`.
pub(crate) fn leased(
    ex: &Exec<'_>,
    provider: Address,
    id: OrderId,
) -> Result<(Order, Lease), TxError> {
    lease_in(ex, provider, id, OrderStatus::is_leased)
}

/// Order `id` with its lease, when its status is one `wanted` accepts and
/// the lease is on a machine of `provider`; a lease of another provider is
/// named as such whatever its status.
fn lease_in(
    ex: &Exec<'_>,
    provider: Address,
    id: OrderId,
    wanted: fn(OrderStatus) -> bool,
) -> Result<(Order, Lease), TxError> {
    let order = order(ex, id)?;
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
    if !wanted(order.status()) {
        return Err(not_running);
    }
    Ok((order, lease))
}

/// Machine `id`.
pub(crate) fn machine(ex: &Exec<'_>, id: MachineId) -> Result<Machine, TxError> {
    ex.state
        .machines
        .get(&id)
        .cloned()
        .ok_or(TxError::UnknownMachine(id))
}
