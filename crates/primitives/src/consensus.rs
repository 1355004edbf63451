//! Consensus votes as the ledger sees them: the bytes a validator signs when it
//! votes, and evidence that it signed two conflicting votes (double-signing).

use crate::{Address, Hash, Signature};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
/// The step a vote is cast in.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum VoteKind {
    /// The first round of votes on a proposal.
    Prevote,
    /// The second: a block with precommits of two thirds of the power is decided.
    Precommit,
}

/// A Tendermint vote: for a block (by header hash) or for nothing (`None`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Vote {
    /// Its step.
    pub kind: VoteKind,
    /// The height voted on.
    pub height: u64,
    /// The round within that height (Malachite's `Round`, -1 for none).
    pub round: i64,
    /// The block's header hash; `None` votes for nothing.
    pub block: Option<Hash>,
    /// Who votes.
    pub validator: Address,
}

impl Vote {
    /// What the validator signs: the vote under a domain tag and the chain id, so
    /// it can pass for no other message and on no other chain.
    pub fn sign_bytes(&self, chain_id: &str) -> Vec<u8> {
        crate::encode(&("gpunet/vote", chain_id, self))
    }
}

/// A vote and its validator's signature over [`Vote::sign_bytes`].
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SignedVote {
    /// The vote.
    pub vote: Vote,
    /// Its validator's signature.
    pub signature: Signature,
}

impl SignedVote {
    /// Whether the vote's validator signed it for `chain_id`.
    pub fn verify(&self, chain_id: &str) -> bool {
        self.vote
            .validator
            .verify(&self.vote.sign_bytes(chain_id), &self.signature)
    }
}

/// Two votes by one validator in the same height, round and step for different
/// blocks: something no honest validator ever signs.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DoubleSign {
    /// One vote.
    pub first: SignedVote,
    /// The vote that conflicts with it.
    pub second: SignedVote,
}

impl DoubleSign {
    /// The offender, if the evidence holds: same validator, height, round and
    /// step, different blocks, both signatures valid.
    pub fn offender(&self, chain_id: &str) -> Result<Address, &'static str> {
        let (a, b) = (&self.first.vote, &self.second.vote);
        if a.validator != b.validator {
            return Err("the votes are by different validators");
        }
        if (a.kind, a.height, a.round) != (b.kind, b.height, b.round) {
            return Err("the votes are for different heights, rounds or steps");
        }
        if a.block == b.block {
            return Err("the votes agree");
        }
        if !self.first.verify(chain_id) || !self.second.verify(chain_id) {
            return Err("a vote's signature does not check");
        }
        Ok(a.validator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keypair;

    fn vote(key: &Keypair, block: Option<Hash>) -> SignedVote {
        let vote = Vote {
            kind: VoteKind::Prevote,
            height: 7,
            round: 0,
            block,
            validator: key.address(),
        };
        SignedVote {
            signature: key.sign(&vote.sign_bytes("c")),
            vote,
        }
    }

    #[test]
    fn only_two_validly_signed_conflicting_votes_are_evidence() {
        let key = Keypair::from_label("v");
        let (a, b) = (vote(&key, Some(Hash::digest(b"a"))), vote(&key, None));
        let evidence = DoubleSign {
            first: a.clone(),
            second: b.clone(),
        };
        assert_eq!(evidence.offender("c"), Ok(key.address()));
        assert!(evidence.offender("other chain").is_err());
        let same = DoubleSign {
            first: a.clone(),
            second: a.clone(),
        };
        assert_eq!(same.offender("c"), Err("the votes agree"));
        let mut later = b.clone();
        later.vote.round = 1;
        later.signature = key.sign(&later.vote.sign_bytes("c"));
        assert!(DoubleSign {
            first: a.clone(),
            second: later
        }
        .offender("c")
        .is_err());
        let mut forged = b;
        forged.vote.block = Some(Hash::digest(b"b"));
        assert_eq!(
            DoubleSign {
                first: a,
                second: forged
            }
            .offender("c"),
            Err("a vote's signature does not check")
        );
    }
}
