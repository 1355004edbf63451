//! Why a transaction or block was rejected.

use gpunet_primitives::{Address, Amount, ChallengeId, MachineId, OrderId};

/// A rejected transaction. Rejection changes nothing in the state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("{0}")]
    Decode(#[from] gpunet_primitives::TxDecodeError),
    #[error("signature does not match the sender's key")]
    BadSignature,
    #[error("transaction is for chain {got:?}, this chain is {expected:?}")]
    WrongChain { expected: String, got: String },
    #[error("nonce {got} is not the sender's next nonce {expected} (replayed or out of order)")]
    BadNonce { expected: u64, got: u64 },
    #[error("fee {got} is below the minimum fee {min}")]
    FeeTooLow { min: Amount, got: Amount },
    #[error("insufficient funds: need {need}, have {have}")]
    InsufficientFunds { need: Amount, have: Amount },
    #[error("insufficient stake: machines need {need} bonded, you would have {have}")]
    InsufficientStake { need: Amount, have: Amount },
    #[error("amount overflow")]
    Overflow,
    #[error("{0} is not an account's key: {1}")]
    BadAddress(Address, gpunet_primitives::KeyError),
    #[error("unknown machine {0}")]
    UnknownMachine(MachineId),
    #[error("unknown order {0}")]
    UnknownOrder(OrderId),
    #[error("unknown hardware challenge {0}")]
    UnknownChallenge(ChallengeId),
    #[error("{0}")]
    NotAuthorized(String),
    #[error("impossible spec: {0}")]
    ImpossibleSpec(#[from] crate::SpecError),
    #[error("{0}")]
    InvalidState(String),
    #[error("invalid transaction: {0}")]
    Invalid(String),
}

impl TxError {
    /// Stable machine-readable code, returned by the API.
    pub fn code(&self) -> &'static str {
        match self {
            TxError::Decode(gpunet_primitives::TxDecodeError::TooLarge { .. }) => "too_large",
            TxError::Decode(_) => "malformed",
            TxError::BadSignature => "bad_signature",
            TxError::WrongChain { .. } => "wrong_chain",
            TxError::BadNonce { .. } => "bad_nonce",
            TxError::FeeTooLow { .. } => "fee_too_low",
            TxError::InsufficientFunds { .. } => "insufficient_funds",
            TxError::InsufficientStake { .. } => "insufficient_stake",
            TxError::Overflow => "overflow",
            TxError::BadAddress(..) => "bad_address",
            TxError::UnknownMachine(_) => "unknown_machine",
            TxError::UnknownOrder(_) => "unknown_order",
            TxError::UnknownChallenge(_) => "unknown_challenge",
            TxError::NotAuthorized(_) => "not_authorized",
            TxError::ImpossibleSpec(_) => "impossible_spec",
            TxError::InvalidState(_) => "invalid_state",
            TxError::Invalid(_) => "invalid",
        }
    }
}

/// A ledger-level failure: storage, genesis or a block that does not verify.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("storage: {0}")]
    Storage(String),
    #[error("genesis: {0}")]
    Genesis(String),
    #[error("block rejected: {0}")]
    BadBlock(String),
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for LedgerError {
            fn from(e: $t) -> Self { LedgerError::Storage(e.to_string()) }
        }
    )*};
}
storage_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    std::io::Error
);

/// Checked arithmetic helpers that turn overflow into [`TxError::Overflow`].
pub(crate) trait CheckedAmount: Sized {
    fn add_or(self, other: Self) -> Result<Self, TxError>;
    fn mul_or(self, other: Self) -> Result<Self, TxError>;
}

impl CheckedAmount for Amount {
    fn add_or(self, other: Self) -> Result<Self, TxError> {
        self.checked_add(other).ok_or(TxError::Overflow)
    }
    fn mul_or(self, other: Self) -> Result<Self, TxError> {
        self.checked_mul(other).ok_or(TxError::Overflow)
    }
}
