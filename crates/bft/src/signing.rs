//! Consensus signatures: ed25519 with the validators' account keys, over
//! domain-separated borsh encodings that name the chain, so a vote can neither
//! pass for another kind of message nor be replayed on another chain.

use crate::context::{GpunetContext, NoExtension, Proposal, ProposalPart, Vote};
use crate::vote_guard::{Refusal, VoteGuard};
use borsh::BorshSerialize;
use gpunet_primitives::{Address, Keypair, Signature, VoteKind};
use malachitebft_app_channel::app::types::core::{
    NilOrVal, SignedMessage, SigningProvider, SigningScheme, VoteType,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bytes of the wrong length for a signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a signature is 64 bytes, not {0}")]
pub(crate) struct SignatureLength(usize);

/// The signing scheme: gpunet's ed25519 keys and signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ed25519;

impl SigningScheme for Ed25519 {
    type DecodingError = SignatureLength;
    type Signature = Signature;
    type PublicKey = Address;
    type PrivateKey = Keypair;

    fn decode_signature(bytes: &[u8]) -> Result<Signature, SignatureLength> {
        let bytes: [u8; 64] = bytes.try_into().map_err(|_| SignatureLength(bytes.len()))?;
        Ok(Signature(bytes))
    }

    fn encode_signature(signature: &Signature) -> Vec<u8> {
        signature.0.to_vec()
    }
}

/// Signs with this validator's key, never a vote that could conflict with
/// one it signed before (`vote_guard`), and checks others' signatures.
pub(crate) struct Signer {
    key: Keypair,
    chain_id: String,
    guard: Arc<VoteGuard>,
    /// When a refusal was last logged, and how many went unlogged since.
    refusals: Mutex<(Option<Instant>, u64)>,
}

/// Refused votes are logged at most this often: a node catching up past
/// the heights it signed at refuses every vote until it has.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

impl Signer {
    pub(crate) fn new(key: Keypair, chain_id: &str, guard: Arc<VoteGuard>) -> Signer {
        Signer {
            key,
            chain_id: chain_id.to_string(),
            guard,
            refusals: Mutex::new((None, 0)),
        }
    }

    fn log_refusal(&self, refusal: &Refusal) {
        let mut refusals = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        let (last, unlogged) = &mut *refusals;
        if last.is_some_and(|at| at.elapsed() < REFUSAL_LOG_INTERVAL) {
            *unlogged += 1;
            return;
        }
        tracing::warn!(
            "not signing a vote that could conflict with one signed before: {refusal} \
             ({unlogged} more refused since the last warning)"
        );
        *last = Some(Instant::now());
        *unlogged = 0;
    }

    fn bytes(&self, domain: &str, message: &impl BorshSerialize) -> Vec<u8> {
        borsh::to_vec(&(domain, &self.chain_id, message)).expect("consensus messages encode")
    }

    fn sign<M: BorshSerialize>(&self, domain: &str, message: M) -> SignedMessage<GpunetContext, M> {
        let signature = self.key.sign(&self.bytes(domain, &message));
        SignedMessage::new(message, signature)
    }

    fn verify(
        &self,
        domain: &str,
        message: &impl BorshSerialize,
        signature: &Signature,
        key: &Address,
    ) -> bool {
        key.verify(&self.bytes(domain, message), signature)
    }
}

const PROPOSAL: &str = "gpunet/proposal";
const PART: &str = "gpunet/proposal-part";
const EXTENSION: &str = "gpunet/vote-extension";

/// A vote as the ledger reads it in evidence of double-signing; a vote's
/// signature covers these bytes (not the unused extension), so commit
/// certificates check against rebuilt precommits and the ledger can check votes.
pub(crate) fn ledger_vote(vote: &Vote) -> gpunet_primitives::Vote {
    gpunet_primitives::Vote {
        kind: match vote.vote_type {
            VoteType::Prevote => VoteKind::Prevote,
            VoteType::Precommit => VoteKind::Precommit,
        },
        height: vote.height.0,
        round: vote.round.as_i64(),
        block: match vote.value {
            NilOrVal::Nil => None,
            NilOrVal::Val(id) => Some(id.0),
        },
        validator: vote.validator.0,
    }
}

impl SigningProvider<GpunetContext> for Signer {
    /// A vote the guard refuses goes out with no valid signature (Malachite
    /// cannot be told "no"): no peer counts it, nothing conflicts.
    fn sign_vote(&self, vote: Vote) -> SignedMessage<GpunetContext, Vote> {
        let ledger = ledger_vote(&vote);
        match self.guard.admit(&ledger) {
            Ok(()) => {
                let signature = self.key.sign(&ledger.sign_bytes(&self.chain_id));
                SignedMessage::new(vote, signature)
            }
            Err(refusal) => {
                self.log_refusal(&refusal);
                SignedMessage::new(vote, Signature([0; 64]))
            }
        }
    }

    fn verify_signed_vote(&self, vote: &Vote, signature: &Signature, key: &Address) -> bool {
        key.verify(&ledger_vote(vote).sign_bytes(&self.chain_id), signature)
    }

    fn sign_proposal(&self, proposal: Proposal) -> SignedMessage<GpunetContext, Proposal> {
        self.sign(PROPOSAL, proposal)
    }

    fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &Signature,
        key: &Address,
    ) -> bool {
        self.verify(PROPOSAL, proposal, signature, key)
    }

    fn sign_proposal_part(&self, part: ProposalPart) -> SignedMessage<GpunetContext, ProposalPart> {
        self.sign(PART, part)
    }

    fn verify_signed_proposal_part(
        &self,
        part: &ProposalPart,
        signature: &Signature,
        key: &Address,
    ) -> bool {
        self.verify(PART, part, signature, key)
    }

    fn sign_vote_extension(
        &self,
        extension: NoExtension,
    ) -> SignedMessage<GpunetContext, NoExtension> {
        self.sign(EXTENSION, extension)
    }

    fn verify_signed_vote_extension(
        &self,
        extension: &NoExtension,
        signature: &Signature,
        key: &Address,
    ) -> bool {
        self.verify(EXTENSION, extension, signature, key)
    }
}

impl Signer {
    /// The proposer's signature over a streamed proposal: what the `Init` part
    /// says and the block's id.
    pub(crate) fn sign_stream(
        &self,
        init: &ProposalPart,
        block: &crate::context::BlockId,
    ) -> Signature {
        self.key.sign(&self.bytes(PART, &(init, block)))
    }

    pub(crate) fn verify_stream(
        &self,
        init: &ProposalPart,
        block: &crate::context::BlockId,
        signature: &Signature,
        key: &Address,
    ) -> bool {
        self.verify(PART, &(init, block), signature, key)
    }
}
