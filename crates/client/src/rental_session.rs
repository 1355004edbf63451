//! Sessions in a rental: a command run in the rented container, or a
//! connection to one of its ports, carried over a QUIC connection to the
//! provider's peer ([`gpunet_p2p::access`]). The peer is found on chain, and
//! dialled with this wallet's key, which the provider checks is the
//! rental's renter; the provider's key is checked in the same handshake.

use crate::{ClientError, Wallet};
use gpunet_p2p::access::{AccessRequest, Dialer, RenterSession};
use gpunet_primitives::OrderId;
use gpunet_types::{OrderStatus, PeerAddr};

/// The way to a running rental's provider, on which sessions open (all on
/// one connection). Close it when done.
pub struct RentalLink {
    order: OrderId,
    peer: PeerAddr,
    dialer: Dialer,
}

impl RentalLink {
    /// Finds rental `order`'s provider on chain and starts this wallet's
    /// endpoint; refused unless the order is a running rental whose
    /// provider runs a peer.
    pub async fn connect(wallet: &Wallet, order: OrderId) -> Result<RentalLink, ClientError> {
        let refused = |why: String| ClientError::RentalSession(why);
        let view = wallet.node().order(order).await?;
        if view.rental.is_none() {
            return Err(refused(format!(
                "order {order} is a job, not a rental: `gpunet job logs {order}` follows it"
            )));
        }
        let lease = match (&view.lease, view.status) {
            (Some(lease), OrderStatus::Running) => lease,
            (_, status) => {
                return Err(refused(format!(
                    "rental {order} is {status}: sessions open only while it runs"
                )))
            }
        };
        let provider = lease.provider;
        let Some(peer) = wallet.node().peer(&provider).await? else {
            return Err(refused(format!(
                "rental {order}'s provider {provider} runs no data-plane peer, so its rentals \
                 take no sessions (its agent was started with --no-peer)"
            )));
        };
        let dialer = Dialer::start(wallet.key(), peer.relay.clone())
            .await
            .map_err(|e| refused(format!("cannot start this wallet's endpoint: {e}")))?;
        Ok(RentalLink {
            order,
            peer,
            dialer,
        })
    }

    /// Opens a session asking `request`, which must name this rental.
    pub async fn open(&self, request: &AccessRequest) -> Result<RenterSession, ClientError> {
        let order = self.order;
        if request.order() != order {
            return Err(ClientError::Invalid(format!(
                "a request about order {} on rental {order}'s link",
                request.order()
            )));
        }
        self.dialer.open(&self.peer, request).await.map_err(|e| {
            ClientError::RentalSession(format!(
                "cannot reach rental {order}'s provider {}: {e} (its agent must be running)",
                self.peer.account
            ))
        })
    }

    /// Closes the endpoint and every session on it.
    pub async fn close(&self) {
        self.dialer.close().await;
    }
}
