//! Where accounts' data-plane peers are reached (`TxBody::AnnouncePeer`):
//! what the chain tells a client about its provider's peer, checked here so
//! that every reader gets addresses it can dial, each in one spelling.

use super::Exec;
use crate::error::TxError;
use crate::state::PeerRecord;
use gpunet_primitives::Address;
use gpunet_types::MAX_PEER_ADDRESSES;
use std::net::SocketAddr;

/// The longest relay URL.
pub(crate) const MAX_RELAY_URL_LEN: usize = 200;

/// Replaces `account`'s peer record; none at all withdraws it.
pub(crate) fn announce_peer(
    ex: &mut Exec<'_>,
    account: Address,
    direct: &[String],
    relay: Option<&str>,
) -> Result<(), TxError> {
    if direct.len() > MAX_PEER_ADDRESSES {
        return Err(TxError::TooManyPeerAddresses {
            given: direct.len(),
            max: MAX_PEER_ADDRESSES,
        });
    }
    let direct = direct
        .iter()
        .map(|address| match address.parse::<SocketAddr>() {
            Ok(parsed) if parsed.port() != 0 => Ok(parsed.to_string()),
            _ => Err(TxError::BadPeerAddress {
                address: address.chars().take(64).collect(),
            }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(relay) = relay {
        let scheme = relay.starts_with("http://") || relay.starts_with("https://");
        let printable = relay.bytes().all(|b| b.is_ascii_graphic());
        if !scheme || !printable || relay.len() > MAX_RELAY_URL_LEN {
            return Err(TxError::BadRelayUrl {
                max: MAX_RELAY_URL_LEN,
            });
        }
    }
    if direct.is_empty() && relay.is_none() {
        ex.state.peers.remove(&account);
    } else {
        let record = PeerRecord {
            direct,
            relay: relay.map(str::to_string),
        };
        ex.state.peers.insert(account, record);
    }
    Ok(())
}
