//! One codec for everything Malachite sends or logs: borsh, which every
//! Malachite message supports and which the ledger already uses.

use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use malachitebft_app_channel::app::types::codec::Codec;

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BorshCodec;

impl<T: BorshSerialize + BorshDeserialize + 'static> Codec<T> for BorshCodec {
    type Error = std::io::Error;

    fn decode(&self, bytes: Bytes) -> Result<T, Self::Error> {
        borsh::from_slice(&bytes)
    }

    fn encode(&self, msg: &T) -> Result<Bytes, Self::Error> {
        borsh::to_vec(msg).map(Bytes::from)
    }
}
