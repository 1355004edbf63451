//! Secrets: a client seals the values of its spec's `secrets` to the
//! provider of each lease (`TxBody::SealSecrets`; the box is made and opened
//! off chain, `gpunet_primitives::SecretEnv`). The ledger keeps the box on
//! the lease it was sealed for and cannot read it.
//!
//! - Only the order's client seals, only while the order runs on a lease,
//!   and once per lease: a run matched again to another machine (a retry,
//!   a decline) has a new lease, sealed anew for its provider.
//! - The ledger does not wait for them: the provider's agent does, and
//!   declines the lease (costing nobody anything, `exec::declines`) when
//!   they do not come within its decline window, or do not open.

use super::emit;
use super::records::clients_order;
use super::Exec;
use crate::error::TxError;
use gpunet_primitives::{Address, OrderId, SealedSecrets, MAX_SEALED_SECRETS_BYTES};
use gpunet_types::Event;

pub(crate) fn seal_secrets(
    ex: &mut Exec<'_>,
    client: Address,
    id: OrderId,
    sealed: &SealedSecrets,
) -> Result<(), TxError> {
    let mut order = clients_order(ex, client, id)?;
    if order.spec.secrets.is_empty() {
        return Err(TxError::NoSecrets(id));
    }
    if sealed.as_bytes().len() > MAX_SEALED_SECRETS_BYTES {
        return Err(TxError::TooLong {
            what: "sealed secrets",
            max: MAX_SEALED_SECRETS_BYTES,
        });
    }
    let lease = order.live_lease_mut()?;
    if lease.sealed_secrets.is_some() {
        return Err(TxError::SecretsAlreadySealed(id));
    }
    lease.sealed_secrets = Some(sealed.clone());
    let (provider, machine) = (lease.provider, lease.machine);
    emit(
        ex,
        Event::SecretsSealed {
            order: id,
            client,
            provider,
            machine,
        },
    );
    ex.state.orders.insert(id, Box::new(order));
    Ok(())
}
