//! Entry points for the fuzz targets (`crates/fuzz`): what a peer's bytes go
//! through before the engine sees them. Not an API: hidden from the docs and
//! free to change with the codec.

use crate::context::{GpunetContext, Height, ProposalPart, ValidatorAddress};
use crate::evidence::{VoteWatch, WatchingCodec};
use bytes::Bytes;
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::Round;
use malachitebft_app_channel::app::types::sync::{Request, Response, Status};
use malachitebft_app_channel::app::types::SignedConsensusMsg;

/// Decodes `bytes` as every kind of message a consensus peer sends, through
/// the network codec (votes are shown to a double-sign watch, as on a live
/// node). Panics if decoding panics, or if a message decodes from bytes that
/// are not its own encoding: one message must have one encoding, or a peer
/// could make one vote look like two.
pub fn network_message(bytes: &[u8]) {
    let (watch, _found) = VoteWatch::new("fuzz");
    let codec = WatchingCodec { watch };
    round_trip::<SignedConsensusMsg<GpunetContext>>(&codec, bytes);
    round_trip::<LivenessMsg<GpunetContext>>(&codec, bytes);
    round_trip::<StreamMessage<ProposalPart>>(&codec, bytes);
    round_trip::<ProposalPart>(&codec, bytes);
    round_trip::<Status<GpunetContext>>(&codec, bytes);
    round_trip::<Request<GpunetContext>>(&codec, bytes);
    round_trip::<Response<GpunetContext>>(&codec, bytes);
}

/// Encoded messages to start fuzzing [`network_message`] from: the parts
/// of a proposal, as streamed.
pub fn seeds() -> Vec<Vec<u8>> {
    let proposer = ValidatorAddress(gpunet_primitives::Keypair::from_label("seed").address());
    let parts = [
        ProposalPart::Init {
            height: Height(7),
            round: Round::new(1),
            pol_round: Round::Nil,
            proposer,
        },
        ProposalPart::Data(b"block bytes".to_vec()),
        ProposalPart::Fin {
            signature: gpunet_primitives::Signature([7; 64]),
        },
    ];
    let stream = StreamId::new(Bytes::from_static(b"stream"));
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let message = StreamMessage::new(stream.clone(), i as u64, StreamContent::Data(part));
            borsh::to_vec(&message).expect("encodes into a Vec")
        })
        .collect()
}

fn round_trip<T>(codec: &WatchingCodec, bytes: &[u8])
where
    WatchingCodec: Codec<T>,
{
    if let Ok(message) = codec.decode(Bytes::copy_from_slice(bytes)) {
        let encoded = codec
            .encode(&message)
            .unwrap_or_else(|_| panic!("a decoded {} does not encode", std::any::type_name::<T>()));
        assert_eq!(
            &encoded[..],
            bytes,
            "a {} decodes from bytes that are not its encoding",
            std::any::type_name::<T>()
        );
    }
}
