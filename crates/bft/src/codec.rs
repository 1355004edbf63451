//! One codec for everything Malachite sends or logs: borsh, which every
//! Malachite message supports and which the ledger already uses.

use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use malachitebft_app_channel::app::types::codec::Codec;
use std::cell::Cell;
use std::sync::Once;

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BorshCodec;

impl<T: BorshSerialize + BorshDeserialize + 'static> Codec<T> for BorshCodec {
    type Error = std::io::Error;

    fn decode(&self, bytes: Bytes) -> Result<T, Self::Error> {
        decode(&bytes)
    }

    fn encode(&self, msg: &T) -> Result<Bytes, Self::Error> {
        borsh::to_vec(msg).map(Bytes::from)
    }
}

thread_local! {
    /// Set while [`decode`] runs: a panic then is a refused message, not news.
    static DECODING: Cell<bool> = const { Cell::new(false) };
}

/// Installs, once, a panic hook that keeps quiet about panics inside
/// [`decode`] and hands every other panic to the hook there was before.
static QUIET_WHILE_DECODING: Once = Once::new();

/// Decodes a peer's message, with any panic in a decoder turned into an
/// error. Malachite 0.5 decodes a `PeerId` (in sync status, requests and
/// responses) with `unwrap`, so bytes any peer can send would otherwise
/// panic the node's network task (found by the `consensus` fuzz target).
/// The panic is not printed: a peer could otherwise fill the log with them.
pub(crate) fn decode<T: BorshDeserialize>(bytes: &[u8]) -> std::io::Result<T> {
    QUIET_WHILE_DECODING.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !DECODING.get() {
                previous(info);
            }
        }));
    });
    DECODING.set(true);
    let decoded = std::panic::catch_unwind(|| borsh::from_slice::<T>(bytes));
    DECODING.set(false);
    decoded.unwrap_or_else(|_| {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "a message whose decoding panicked",
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::GpunetContext;
    use malachitebft_app_channel::app::types::sync::Status;

    /// A sync status whose peer id is 116 bytes of garbage: Malachite's own
    /// decoder panics on it.
    #[test]
    fn a_message_whose_decoder_panics_is_refused_with_an_error() {
        let mut bytes = 116u32.to_le_bytes().to_vec();
        bytes.extend([0xAB; 116]);
        bytes.extend([0; 32]);
        let decoded: Result<Status<GpunetContext>, _> = BorshCodec.decode(Bytes::from(bytes));
        let error = decoded.expect_err("refused");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        // Panics elsewhere still panic.
        assert!(std::panic::catch_unwind(|| panic!("elsewhere")).is_err());
    }
}
