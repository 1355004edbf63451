//! Consensus signatures: ed25519 with the validators' account keys, over
//! domain-separated borsh encodings that name the chain, so a vote can neither
//! pass for another kind of message nor be replayed on another chain.

use crate::context::{BlockId, GpunetContext, NoExtension, Proposal, ProposalPart, Vote};
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
        let instead = match refusal {
            Refusal::Conflicting { .. } => "the vote signed before goes out again",
            Refusal::BelowSignedHeight { .. } | Refusal::Io { .. } => "it goes out unsigned",
        };
        tracing::warn!(
            "not signing a vote that could conflict with one signed before ({instead}): \
             {refusal} ({unlogged} more refused since the last warning)"
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
    /// Malachite cannot be told "no". Where this validator already signed
    /// another vote for the same height, round and step (its engine lost
    /// that vote in a crash, or its round's proposer, restarted, proposed a
    /// new block), that earlier vote goes out again, with the same signature:
    /// peers count it, so the round can still end. Were it sent unsigned, two
    /// validators of four in that state would leave too few votes for any
    /// round-0 timeout to fire, and the chain would halt for good (seen when
    /// a whole testnet restarted at once). A vote below the highest height
    /// signed at goes out with no valid signature: no peer counts it, and the
    /// node votes again once it has caught up.
    fn sign_vote(&self, vote: Vote) -> SignedMessage<GpunetContext, Vote> {
        let ledger = ledger_vote(&vote);
        let vote = match self.guard.admit(&ledger) {
            Ok(()) => vote,
            Err(refusal) => {
                self.log_refusal(&refusal);
                match refusal {
                    Refusal::Conflicting { signed, .. } => Vote {
                        value: signed.map_or(NilOrVal::Nil, |block| NilOrVal::Val(BlockId(block))),
                        ..vote
                    },
                    Refusal::BelowSignedHeight { .. } | Refusal::Io { .. } => {
                        return SignedMessage::new(vote, Signature([0; 64]))
                    }
                }
            }
        };
        let signature = self
            .key
            .sign(&ledger_vote(&vote).sign_bytes(&self.chain_id));
        SignedMessage::new(vote, signature)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{Height, ValidatorAddress};
    use malachitebft_app_channel::app::types::core::Round;

    fn prevote(key: &Keypair, height: u64, value: NilOrVal<BlockId>) -> Vote {
        Vote {
            vote_type: VoteType::Prevote,
            height: Height(height),
            round: Round::new(0),
            value,
            validator: ValidatorAddress(key.address()),
            extension: None,
        }
    }

    fn signer(key: &Keypair, home: &std::path::Path) -> Signer {
        let guard = Arc::new(VoteGuard::open(home).unwrap());
        Signer::new(key.clone(), "chain", guard)
    }

    #[test]
    fn a_restarted_validator_asked_for_another_vote_in_a_slot_sends_the_one_it_signed() {
        let home = tempfile::tempdir().unwrap();
        let key = Keypair::from_label("validator");
        let block = NilOrVal::Val(BlockId(gpunet_primitives::Hash([7; 32])));
        let before = signer(&key, home.path()).sign_vote(prevote(&key, 5, block));
        // Restarted, its engine forgot that vote and would prevote nil.
        let signer = signer(&key, home.path());
        let again = signer.sign_vote(prevote(&key, 5, NilOrVal::Nil));
        assert_eq!(again.message.value, block, "the earlier vote, not nil");
        assert_eq!(again.signature, before.signature, "the same signature");
        assert!(signer.verify_signed_vote(&again.message, &again.signature, &key.address()));
        // Below the height it signed at, nothing it could send counts.
        let below = signer.sign_vote(prevote(&key, 4, block));
        assert!(!signer.verify_signed_vote(&below.message, &below.signature, &key.address()));
    }
}
