//! Sessions in a rental: a command run in the rented container, its input,
//! output and exit code carried over a QUIC connection to the provider's
//! peer ([`gpunet_p2p::access`]). The peer is found on chain, and dialled
//! with this wallet's key, which the provider checks is the rental's
//! renter; the provider's key is checked in the same handshake.

use crate::{ClientError, Wallet};
use gpunet_p2p::access::{AccessRequest, Dialer, RenterSession};
use gpunet_types::OrderStatus;

/// An open session and the endpoint it runs on (close it when done).
pub struct OpenSession {
    /// The session.
    pub session: RenterSession,
    /// The renter's endpoint.
    pub dialer: Dialer,
}

/// Opens a session asking `request` in the rental the request names.
pub async fn open_session(
    wallet: &Wallet,
    request: &AccessRequest,
) -> Result<OpenSession, ClientError> {
    let id = request.order();
    let refused = |why: String| ClientError::RentalSession(why);
    let order = wallet.node().order(id).await?;
    if order.rental.is_none() {
        return Err(refused(format!(
            "order {id} is a job, not a rental: `gpunet job logs {id}` follows it"
        )));
    }
    let lease = match (&order.lease, order.status) {
        (Some(lease), OrderStatus::Running) => lease,
        (_, status) => {
            return Err(refused(format!(
                "rental {id} is {status}: sessions open only while it runs"
            )))
        }
    };
    let provider = lease.provider;
    let Some(peer) = wallet.node().peer(&provider).await? else {
        return Err(refused(format!(
            "rental {id}'s provider {provider} runs no data-plane peer, so its rentals take \
             no sessions (its agent was started with --no-peer)"
        )));
    };
    let unreachable = |e: gpunet_p2p::P2pError| {
        refused(format!(
            "cannot reach rental {id}'s provider {provider}: {e} (its agent must be running)"
        ))
    };
    let dialer = Dialer::start(wallet.key(), peer.relay.clone())
        .await
        .map_err(unreachable)?;
    match dialer.open(&peer, request).await {
        Ok(session) => Ok(OpenSession { session, dialer }),
        Err(e) => {
            dialer.close().await;
            Err(unreachable(e))
        }
    }
}
