//! Catching double-signing. Malachite keeps the conflicting votes it sees to
//! itself, so the network codec shows every vote it decodes to a [`VoteWatch`]:
//! two validly signed votes of one validator for the same height, round and
//! step but different blocks become evidence the node reports to the ledger.

use crate::codec::BorshCodec;
use crate::context::{GpunetContext, ProposalPart};
use crate::signing::ledger_vote;
use bytes::Bytes;
use gpunet_primitives::{Address, DoubleSign, SignedVote, VoteKind};
use malachitebft_app_channel::app::consensus::LivenessMsg;
use malachitebft_app_channel::app::streaming::StreamMessage;
use malachitebft_app_channel::app::types::codec::Codec;
use malachitebft_app_channel::app::types::core::SignedVote as EngineVote;
use malachitebft_app_channel::app::types::sync::{Request, Response, Status};
use malachitebft_app_channel::app::types::SignedConsensusMsg;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Votes are remembered for this many heights below the highest seen.
const KEEP_HEIGHTS: u64 = 32;

type VoteSlot = (u64, i64, VoteKind, Address);

pub(crate) struct VoteWatch {
    chain_id: String,
    seen: Mutex<Seen>,
    found: mpsc::UnboundedSender<DoubleSign>,
}

#[derive(Default)]
struct Seen {
    votes: BTreeMap<VoteSlot, SignedVote>,
    reported: BTreeSet<Address>,
}

impl VoteWatch {
    pub(crate) fn new(chain_id: &str) -> (Arc<VoteWatch>, mpsc::UnboundedReceiver<DoubleSign>) {
        let (found, rx) = mpsc::unbounded_channel();
        let watch = VoteWatch {
            chain_id: chain_id.to_string(),
            seen: Mutex::default(),
            found,
        };
        (Arc::new(watch), rx)
    }

    pub(crate) fn observe(&self, vote: &EngineVote<GpunetContext>) {
        let vote = SignedVote {
            vote: ledger_vote(&vote.message),
            signature: vote.signature,
        };
        let slot = (
            vote.vote.height,
            vote.vote.round,
            vote.vote.kind,
            vote.vote.validator,
        );
        let mut seen = self.seen.lock().expect("vote watch lock");
        let Some(first) = seen.votes.get(&slot).cloned() else {
            seen.votes.insert(slot, vote);
            let highest = seen.votes.keys().next_back().map_or(0, |s| s.0);
            let floor = highest.saturating_sub(KEEP_HEIGHTS);
            seen.votes =
                seen.votes
                    .split_off(&(floor, i64::MIN, VoteKind::Prevote, Address([0; 32])));
            return;
        };
        if first.vote.block == vote.vote.block || seen.reported.contains(&slot.3) {
            return;
        }
        // Signatures are only checked on a conflict; a forged first vote is replaced.
        if !first.verify(&self.chain_id) {
            seen.votes.insert(slot, vote);
            return;
        }
        let evidence = DoubleSign {
            first,
            second: vote,
        };
        if evidence.offender(&self.chain_id).is_ok() {
            seen.reported.insert(slot.3);
            tracing::warn!(validator = %slot.3, height = slot.0, "validator double-signed");
            let _ = self.found.send(evidence);
        }
    }
}

/// The network codec: borsh, with every decoded vote shown to the watch.
#[derive(Clone)]
pub(crate) struct WatchingCodec {
    pub watch: Arc<VoteWatch>,
}

impl Codec<SignedConsensusMsg<GpunetContext>> for WatchingCodec {
    type Error = std::io::Error;

    fn decode(&self, bytes: Bytes) -> Result<SignedConsensusMsg<GpunetContext>, Self::Error> {
        let msg = BorshCodec.decode(bytes)?;
        if let SignedConsensusMsg::Vote(vote) = &msg {
            self.watch.observe(vote);
        }
        Ok(msg)
    }

    fn encode(&self, msg: &SignedConsensusMsg<GpunetContext>) -> Result<Bytes, Self::Error> {
        BorshCodec.encode(msg)
    }
}

impl Codec<LivenessMsg<GpunetContext>> for WatchingCodec {
    type Error = std::io::Error;

    fn decode(&self, bytes: Bytes) -> Result<LivenessMsg<GpunetContext>, Self::Error> {
        let msg = BorshCodec.decode(bytes)?;
        if let LivenessMsg::Vote(vote) = &msg {
            self.watch.observe(vote);
        }
        Ok(msg)
    }

    fn encode(&self, msg: &LivenessMsg<GpunetContext>) -> Result<Bytes, Self::Error> {
        BorshCodec.encode(msg)
    }
}

/// The messages that carry no votes pass straight through to borsh.
macro_rules! plain_borsh {
    ($($t:ty),*) => {$(
        impl Codec<$t> for WatchingCodec {
            type Error = std::io::Error;

            fn decode(&self, bytes: Bytes) -> Result<$t, Self::Error> {
                BorshCodec.decode(bytes)
            }

            fn encode(&self, msg: &$t) -> Result<Bytes, Self::Error> {
                BorshCodec.encode(msg)
            }
        }
    )*};
}

plain_borsh!(
    ProposalPart,
    StreamMessage<ProposalPart>,
    Status<GpunetContext>,
    Request<GpunetContext>,
    Response<GpunetContext>
);
