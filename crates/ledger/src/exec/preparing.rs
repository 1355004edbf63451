//! Preparing: a lease whose run needs a pushed image (`JobSpec::image_blob`)
//! starts with its provider fetching and loading it, a phase of its own
//! (`OrderStatus::Preparing`) that neither the job's timeout nor a
//! rental's meter counts.
//!
//! Fetching takes time no one can bound in advance, and a client should pay
//! for and wait on its run, not on moving its image. So the lease waits for
//! its provider's `StartLease`, by a deadline that gives the archive its
//! size at `IMAGE_FETCH_BYTES_PER_MS` plus the decline window; from that
//! block on the run is what a lease without an image is from its first
//! (the timeout's deadline, the decline window, a rental's meter and
//! billing all count from it). A lease not started by its deadline is
//! handed back as a decline, never slashed: an image too slow to arrive is
//! the network's or the client's doing as much as the machine's, and
//! nothing ran, so nothing is owed.

use super::declines::hand_back;
use super::emit;
use super::matching::start_run;
use super::records::leased;
use super::Exec;
use crate::error::{TxError, Wanted};
use crate::order::Order;
use gpunet_primitives::{Address, JobSpec, OrderId};
use gpunet_types::{Event, Lease};

/// Block time by which a lease of `spec` leased now must start.
pub(crate) fn start_deadline(ex: &Exec<'_>, spec: &JobSpec) -> u64 {
    ex.now_ms
        .saturating_add(spec.preparation_ms())
        .saturating_add(ex.state.params.decline_window_ms)
}

/// The provider of preparing lease `id` starts its run now.
pub(crate) fn start_lease(
    ex: &mut Exec<'_>,
    provider: Address,
    id: OrderId,
) -> Result<(), TxError> {
    let (mut order, lease) = leased(ex, provider, id)?;
    if order.preparing_lease().is_none() {
        return Err(TxError::WrongStatus {
            order: id,
            status: order.status(),
            wanted: Wanted::Preparing,
        });
    }
    ex.state.deadlines.remove(&(lease.deadline_ms, id));
    let prepared_ms = ex.now_ms.saturating_sub(lease.leased_ms);
    let (client, machine) = (order.client, lease.machine);
    start_run(ex, &mut order, lease)?;
    ex.state.orders.insert(id, Box::new(order));
    emit(
        ex,
        Event::LeaseStarted {
            order: id,
            client,
            machine,
            provider,
            prepared_ms,
        },
    );
    Ok(())
}

/// Hands back preparing `order`, whose start deadline passed.
pub(crate) fn not_started(ex: &mut Exec<'_>, order: Order, lease: Lease) -> Result<(), TxError> {
    let reason = format!(
        "not started by its preparation deadline ({} ms after its lease)",
        lease.deadline_ms.saturating_sub(lease.leased_ms)
    );
    hand_back(ex, order, lease, &reason)
}
