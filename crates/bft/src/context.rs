//! The types Malachite is generic over, for gpunet: heights, validators, blocks
//! as the values decided on, proposals, proposal parts and votes.

use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use gpunet_primitives::{Address, Block, Hash};
use malachitebft_app_channel::app::types::core::{
    self as mc, NilOrVal, Round, SignedExtension, VoteType, VotingPower,
};
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use crate::signing::Ed25519;

/// The consensus context: how proposers are chosen and messages built.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct GpunetContext;

#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
)]
pub(crate) struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mc::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0 + n)
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator's address: its ed25519 public key, as for accounts.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub(crate) struct ValidatorAddress(pub Address);

impl fmt::Display for ValidatorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for ValidatorAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mc::Address for ValidatorAddress {}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct Validator {
    pub address: ValidatorAddress,
    pub voting_power: VotingPower,
}

impl mc::Validator<GpunetContext> for Validator {
    fn address(&self) -> &ValidatorAddress {
        &self.address
    }

    fn public_key(&self) -> &Address {
        &self.address.0
    }

    fn voting_power(&self) -> VotingPower {
        self.voting_power
    }
}

/// Validators sorted by power (descending), then address, as Malachite requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ValidatorSet {
    validators: Arc<Vec<Validator>>,
}

impl ValidatorSet {
    /// Builds a set from (address, power) pairs; zero-power entries are left out.
    pub(crate) fn new(
        validators: impl IntoIterator<Item = (Address, VotingPower)>,
    ) -> ValidatorSet {
        let mut validators: Vec<Validator> = validators
            .into_iter()
            .filter(|(_, power)| *power > 0)
            .map(|(address, voting_power)| Validator {
                address: ValidatorAddress(address),
                voting_power,
            })
            .collect();
        validators.sort_by(|a, b| {
            b.voting_power
                .cmp(&a.voting_power)
                .then(a.address.cmp(&b.address))
        });
        validators.dedup_by(|a, b| a.address == b.address);
        ValidatorSet {
            validators: Arc::new(validators),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Validator> {
        self.validators.iter()
    }
}

impl mc::ValidatorSet<GpunetContext> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }

    fn total_voting_power(&self) -> VotingPower {
        self.validators.iter().map(|v| v.voting_power).sum()
    }

    fn get_by_address(&self, address: &ValidatorAddress) -> Option<&Validator> {
        self.validators.iter().find(|v| &v.address == address)
    }

    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// What validators vote on: the hash of a block's header, which commits to its
/// transactions and its resulting state root.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, BorshSerialize, BorshDeserialize,
)]
pub(crate) struct BlockId(pub Hash);

impl fmt::Display for BlockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The value decided on: a whole block, shared rather than copied as consensus
/// passes it around. Identity, equality and order are its header hash.
#[derive(Clone, Debug)]
pub(crate) struct BlockValue {
    id: BlockId,
    block: Arc<Block>,
}

impl BlockValue {
    pub(crate) fn new(block: Block) -> BlockValue {
        BlockValue {
            id: BlockId(block.header.hash()),
            block: Arc::new(block),
        }
    }

    pub(crate) fn block(&self) -> &Block {
        &self.block
    }
}

impl PartialEq for BlockValue {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for BlockValue {}

impl PartialOrd for BlockValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BlockValue {
    fn cmp(&self, other: &Self) -> Ordering {
        self.id.cmp(&other.id)
    }
}

impl BorshSerialize for BlockValue {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        self.block.as_ref().serialize(writer)
    }
}

impl BorshDeserialize for BlockValue {
    fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
        Block::deserialize_reader(reader).map(BlockValue::new)
    }
}

impl mc::Value for BlockValue {
    type Id = BlockId;

    fn id(&self) -> BlockId {
        self.id
    }
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct Proposal {
    pub height: Height,
    pub round: Round,
    pub value: BlockValue,
    pub pol_round: Round,
    pub proposer: ValidatorAddress,
}

impl mc::Proposal<GpunetContext> for Proposal {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &BlockValue {
        &self.value
    }

    fn take_value(self) -> BlockValue {
        self.value
    }

    fn pol_round(&self) -> Round {
        self.pol_round
    }

    fn validator_address(&self) -> &ValidatorAddress {
        &self.proposer
    }
}

/// A proposed block travels as a stream: who proposes what where, the borsh
/// bytes of the block in chunks, and the proposer's signature over it all.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) enum ProposalPart {
    Init {
        height: Height,
        round: Round,
        pol_round: Round,
        proposer: ValidatorAddress,
    },
    Data(Vec<u8>),
    Fin {
        signature: gpunet_primitives::Signature,
    },
}

impl mc::ProposalPart<GpunetContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init { .. })
    }

    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin { .. })
    }
}

/// Votes carry no extension; the type exists because Malachite asks for one.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct NoExtension;

impl mc::Extension for NoExtension {
    fn size_bytes(&self) -> usize {
        0
    }
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub(crate) struct Vote {
    pub vote_type: VoteType,
    pub height: Height,
    pub round: Round,
    pub value: NilOrVal<BlockId>,
    pub validator: ValidatorAddress,
    pub extension: Option<SignedExtension<GpunetContext>>,
}

impl Vote {
    fn order_key(&self) -> (VoteType, Height, i64, &NilOrVal<BlockId>, &ValidatorAddress) {
        (
            self.vote_type,
            self.height,
            self.round.as_i64(),
            &self.value,
            &self.validator,
        )
    }
}

impl PartialOrd for Vote {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Vote {
    fn cmp(&self, other: &Self) -> Ordering {
        self.order_key().cmp(&other.order_key())
    }
}

impl mc::Vote<GpunetContext> for Vote {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &NilOrVal<BlockId> {
        &self.value
    }

    fn take_value(self) -> NilOrVal<BlockId> {
        self.value
    }

    fn vote_type(&self) -> VoteType {
        self.vote_type
    }

    fn validator_address(&self) -> &ValidatorAddress {
        &self.validator
    }

    fn extension(&self) -> Option<&SignedExtension<GpunetContext>> {
        self.extension.as_ref()
    }

    fn take_extension(&mut self) -> Option<SignedExtension<GpunetContext>> {
        self.extension.take()
    }

    fn extend(self, extension: SignedExtension<GpunetContext>) -> Self {
        Vote {
            extension: Some(extension),
            ..self
        }
    }
}

impl GpunetContext {
    fn vote(
        vote_type: VoteType,
        height: Height,
        round: Round,
        value: NilOrVal<BlockId>,
        validator: ValidatorAddress,
    ) -> Vote {
        Vote {
            vote_type,
            height,
            round,
            value,
            validator,
            extension: None,
        }
    }
}

impl mc::Context for GpunetContext {
    type Address = ValidatorAddress;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Value = BlockValue;
    type Vote = Vote;
    type Extension = NoExtension;
    type SigningScheme = Ed25519;

    /// Weighted by voting power and unpredictable before the height: a point drawn
    /// from the hash of (height, round) falls in one validator's share.
    fn select_proposer<'a>(
        &self,
        validator_set: &'a ValidatorSet,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        let total: u128 = validator_set.iter().map(|v| v.voting_power as u128).sum();
        assert!(total > 0, "the validator set is empty");
        let seed = Hash::digest(&borsh::to_vec(&(height.0, round.as_i64())).expect("encodes"));
        let mut point = u128::from_le_bytes(seed.0[..16].try_into().expect("16 bytes")) % total;
        for v in validator_set.iter() {
            if point < v.voting_power as u128 {
                return v;
            }
            point -= v.voting_power as u128;
        }
        unreachable!("the point falls within the total power")
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockValue,
        pol_round: Round,
        address: ValidatorAddress,
    ) -> Proposal {
        Proposal {
            height,
            round,
            value,
            pol_round,
            proposer: address,
        }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockId>,
        address: ValidatorAddress,
    ) -> Vote {
        Self::vote(VoteType::Prevote, height, round, value_id, address)
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockId>,
        address: ValidatorAddress,
    ) -> Vote {
        Self::vote(VoteType::Precommit, height, round, value_id, address)
    }
}

/// Bytes of a block as they travel in proposal parts and sync responses.
pub(crate) fn encode_block(block: &Block) -> Bytes {
    Bytes::from(borsh::to_vec(block).expect("blocks encode"))
}
