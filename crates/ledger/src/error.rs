//! Why a transaction or block was rejected.

use gpunet_primitives::{Address, Amount, ChallengeId, Hash, MachineId, OrderId, Stop};
use gpunet_types::{ErrorCode, OrderStatus};

/// A rejected transaction: one variant per cause, carrying what the message
/// needs. Rejection changes nothing in the state. [`TxError::code`] is the
/// stable code the API returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[allow(
    missing_docs,
    reason = "each variant's #[error] message says what it means; its fields are that message's parts"
)]
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
    #[error("{what} amount must be positive")]
    ZeroAmount { what: &'static str },
    #[error("deposit {deposit} does not cover {covers} ({need})")]
    DepositTooSmall {
        deposit: Amount,
        need: Amount,
        covers: Covers,
    },
    #[error("{0} is not an account's key: {1}")]
    BadAddress(Address, gpunet_primitives::KeyError),
    #[error("impossible spec: {0}")]
    ImpossibleSpec(#[from] crate::SpecError),
    #[error("{what} is over {max} bytes")]
    TooLong { what: &'static str, max: usize },

    #[error("unknown machine {0}")]
    UnknownMachine(MachineId),
    #[error("machine {0} belongs to another account")]
    NotYourMachine(MachineId),
    #[error("machine {machine} still has {leases} open lease(s)")]
    MachineBusy { machine: MachineId, leases: u32 },
    #[error("machine {machine} has an open hardware challenge ({challenge}); answer it first")]
    ChallengeOpen {
        machine: MachineId,
        challenge: ChallengeId,
    },

    #[error("unknown hardware challenge {0}")]
    UnknownChallenge(ChallengeId),
    #[error("challenge {0} is for another account's machine")]
    NotYourChallenge(ChallengeId),
    #[error("challenge {0} is already committed")]
    ChallengeCommitted(ChallengeId),
    #[error("challenge {0} has no rows to open yet")]
    ChallengeNotDrawn(ChallengeId),
    #[error("challenge {0}'s deadline has passed")]
    ChallengeLate(ChallengeId),

    #[error("unknown order {0}")]
    UnknownOrder(OrderId),
    #[error("order {0} belongs to another account")]
    NotYourOrder(OrderId),
    #[error("order {0} is not leased to you")]
    NotYourLease(OrderId),
    #[error("order {order} is {status:?}: {wanted}")]
    WrongStatus {
        order: OrderId,
        status: OrderStatus,
        wanted: Wanted,
    },
    #[error("order {order} is an audit run; {refused}")]
    AuditRun {
        order: OrderId,
        refused: &'static str,
    },
    #[error("order {0} is a rental: it is billed by time, with no result to report")]
    RentalHasNoResult(OrderId),
    #[error("order {0} is a rental: end it with `gpunet rent end {0}`")]
    RentalNotStopped(OrderId),
    #[error("order {0} is not a rental")]
    NotARental(OrderId),
    #[error("order {0} has no output")]
    NoOutput(OrderId),
    #[error("order {0} was audited: its audit decides, it cannot be disputed")]
    AlreadyAudited(OrderId),
    #[error(
        "order {order} was stopped at its {} limit, which set its time: no duration to dispute \
         (name the root of a finished run to dispute the stop)",
        limit.name()
    )]
    StoppedAtLimit { order: OrderId, limit: Stop },
    #[error(
        "order {order} was leased over {window_ms} ms ago: too late to decline, report its result"
    )]
    DeclineTooLate { order: OrderId, window_ms: u64 },
    #[error("rental {0} has been billed already: too late to decline")]
    RentalBilled(OrderId),
    #[error("rental {0} has an open liveness probe: answer it first")]
    ProbeOpen(OrderId),
    #[error("rental {0}'s machine is already being probed or held down")]
    AlreadyProbed(OrderId),
    #[error("rental {0} has no liveness probe to answer")]
    NoProbe(OrderId),
    #[error("order {order} exposes {ports} ports; {endpoints} endpoints announced")]
    EndpointCount {
        order: OrderId,
        ports: usize,
        endpoints: usize,
    },
    #[error("an endpoint is empty or over {max} bytes")]
    BadEndpoint { max: usize },
    #[error(
        "rental {order} of yours saved no workspace {root}: name one that `gpunet rent end --save` \
         saved, by the root it printed"
    )]
    NoSavedWorkspace { order: OrderId, root: Hash },
    #[error(
        "input {path}: order {order}'s provider keeps no result of it: name a file of a job of \
         yours that completed on a provider keeping its outputs (`serve_outputs`)"
    )]
    NoKeptResult { path: String, order: OrderId },
    #[error("a peer is announced at {given} direct addresses, at most {max}")]
    TooManyPeerAddresses { given: usize, max: usize },
    #[error("{address:?} is no socket address written as IP:port")]
    BadPeerAddress { address: String },
    #[error("a relay is an http:// or https:// URL of at most {max} printable bytes")]
    BadRelayUrl { max: usize },
    #[error("order {order}'s result is shared with {max} accounts already; stop sharing it with one first")]
    TooManyReaders { order: OrderId, max: usize },
    #[error("order {order}'s result is already shared with {reader}")]
    AlreadyShared { order: OrderId, reader: Address },
    #[error("order {order}'s result is not shared with {reader}")]
    NotShared { order: OrderId, reader: Address },
    #[error("order {0}'s spec names no secrets")]
    NoSecrets(OrderId),
    #[error("order {0}'s secrets are sealed for its lease already")]
    SecretsAlreadySealed(OrderId),

    #[error("{0} was never a validator")]
    NotAValidator(Address),
    #[error("{0} was punished for double-signing")]
    Tombstoned(Address),
    #[error("the last validator cannot leave: the chain would halt")]
    LastValidator,
    #[error("not evidence of double-signing: {0}")]
    BadEvidence(&'static str),
    #[error("the evidence is from a future height")]
    FutureEvidence,

    /// An order in a phase that the state's indexes say it cannot be in: a
    /// ledger bug, refused instead of stopping every validator with a panic.
    #[error("order {order} is {status:?}: it cannot be {change}")]
    WrongPhase {
        order: OrderId,
        status: OrderStatus,
        change: &'static str,
    },
}

/// What a deposit must cover (see [`TxError::DepositTooSmall`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Covers {
    /// A job's max price for its whole timeout, for each run it may get.
    WholeTimeout {
        /// Runs the job may get: audit runs bill its client too.
        runs: u128,
    },
    /// More seconds of a rental at its lease price.
    Renewal {
        /// The seconds asked.
        secs: u64,
    },
    /// A referee run of a disputed job at the job's max price.
    Referee,
}

impl std::fmt::Display for Covers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Covers::WholeTimeout { runs: 1 } => f.write_str("the max price for the whole timeout"),
            Covers::WholeTimeout { runs } => write!(
                f,
                "the max price for the whole timeout, for each of {runs} possible runs of an \
                 audited job"
            ),
            Covers::Renewal { secs } => write!(f, "{secs} more seconds at the lease price"),
            Covers::Referee => f.write_str("a referee run at the order's max price"),
        }
    }
}

/// What a change needed an order's status to be (see [`TxError::WrongStatus`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// Most changes to a lease (reporting, declining, sealing secrets): a
    /// running order.
    Running,
    /// Cancelling: only a pending order.
    Pending,
    /// Stopping: only a preparing or running job.
    RunningJob,
    /// Disputing: a reported result, not yet audited, within its window.
    Disputable,
    /// Reporting a saved workspace: a rental its renter ended with `save`.
    Saving,
    /// Starting a run: a lease still preparing.
    Preparing,
}

impl std::fmt::Display for Wanted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Wanted::Running => "it is not running",
            Wanted::Pending => "only pending orders can be cancelled",
            Wanted::RunningJob => {
                "only a preparing or running job can be stopped (cancel a pending one)"
            }
            Wanted::Disputable => {
                "only a reported, unaudited result can be disputed, within its dispute window"
            }
            Wanted::Saving => "its renter did not end it asking to save its workspace",
            Wanted::Preparing => "only a lease that is preparing can be started",
        })
    }
}

impl TxError {
    /// Stable machine-readable code, returned by the API.
    pub fn code(&self) -> ErrorCode {
        match self {
            TxError::Decode(gpunet_primitives::TxDecodeError::TooLarge { .. }) => {
                ErrorCode::TooLarge
            }
            TxError::Decode(_) => ErrorCode::Malformed,
            TxError::BadSignature => ErrorCode::BadSignature,
            TxError::WrongChain { .. } => ErrorCode::WrongChain,
            TxError::BadNonce { .. } => ErrorCode::BadNonce,
            TxError::FeeTooLow { .. } => ErrorCode::FeeTooLow,
            TxError::InsufficientFunds { .. } => ErrorCode::InsufficientFunds,
            TxError::InsufficientStake { .. } => ErrorCode::InsufficientStake,
            TxError::Overflow => ErrorCode::Overflow,
            TxError::ZeroAmount { .. } => ErrorCode::ZeroAmount,
            TxError::DepositTooSmall { .. } => ErrorCode::DepositTooSmall,
            TxError::BadAddress(..) => ErrorCode::BadAddress,
            TxError::ImpossibleSpec(_) => ErrorCode::ImpossibleSpec,
            TxError::TooLong { .. } => ErrorCode::TooLong,
            TxError::UnknownMachine(_) => ErrorCode::UnknownMachine,
            TxError::NotYourMachine(_) => ErrorCode::NotYourMachine,
            TxError::MachineBusy { .. } => ErrorCode::MachineBusy,
            TxError::ChallengeOpen { .. } => ErrorCode::ChallengeOpen,
            TxError::UnknownChallenge(_) => ErrorCode::UnknownChallenge,
            TxError::NotYourChallenge(_) => ErrorCode::NotYourChallenge,
            TxError::ChallengeCommitted(_) => ErrorCode::ChallengeCommitted,
            TxError::ChallengeNotDrawn(_) => ErrorCode::ChallengeNotDrawn,
            TxError::ChallengeLate(_) => ErrorCode::ChallengeLate,
            TxError::UnknownOrder(_) => ErrorCode::UnknownOrder,
            TxError::NotYourOrder(_) => ErrorCode::NotYourOrder,
            TxError::NotYourLease(_) => ErrorCode::NotYourLease,
            TxError::WrongStatus { .. } => ErrorCode::WrongStatus,
            TxError::AuditRun { .. } => ErrorCode::AuditRun,
            TxError::RentalHasNoResult(_) => ErrorCode::RentalHasNoResult,
            TxError::NoSavedWorkspace { .. } => ErrorCode::NoSavedWorkspace,
            TxError::NoKeptResult { .. } => ErrorCode::NoKeptResult,
            TxError::RentalNotStopped(_) => ErrorCode::RentalNotStopped,
            TxError::NotARental(_) => ErrorCode::NotARental,
            TxError::NoOutput(_) => ErrorCode::NoOutput,
            TxError::AlreadyAudited(_) => ErrorCode::AlreadyAudited,
            TxError::StoppedAtLimit { .. } => ErrorCode::StoppedAtLimit,
            TxError::DeclineTooLate { .. } => ErrorCode::DeclineTooLate,
            TxError::RentalBilled(_) => ErrorCode::RentalBilled,
            TxError::ProbeOpen(_) => ErrorCode::ProbeOpen,
            TxError::AlreadyProbed(_) => ErrorCode::AlreadyProbed,
            TxError::NoProbe(_) => ErrorCode::NoProbe,
            TxError::EndpointCount { .. } => ErrorCode::EndpointCount,
            TxError::BadEndpoint { .. } => ErrorCode::BadEndpoint,
            TxError::TooManyPeerAddresses { .. } => ErrorCode::TooManyPeerAddresses,
            TxError::BadPeerAddress { .. } => ErrorCode::BadPeerAddress,
            TxError::BadRelayUrl { .. } => ErrorCode::BadRelayUrl,
            TxError::TooManyReaders { .. } => ErrorCode::TooManyReaders,
            TxError::AlreadyShared { .. } => ErrorCode::AlreadyShared,
            TxError::NotShared { .. } => ErrorCode::NotShared,
            TxError::NoSecrets(_) => ErrorCode::NoSecrets,
            TxError::SecretsAlreadySealed(_) => ErrorCode::SecretsAlreadySealed,
            TxError::NotAValidator(_) => ErrorCode::NotAValidator,
            TxError::Tombstoned(_) => ErrorCode::Tombstoned,
            TxError::LastValidator => ErrorCode::LastValidator,
            TxError::BadEvidence(_) => ErrorCode::BadEvidence,
            TxError::FutureEvidence => ErrorCode::FutureEvidence,
            TxError::WrongPhase { .. } => ErrorCode::WrongPhase,
        }
    }
}

/// A ledger-level failure: storage, genesis or a block that does not verify.
#[derive(Debug, thiserror::Error)]
#[allow(
    missing_docs,
    reason = "each variant's #[error] message says what it means; its fields are that message's parts"
)]
pub enum LedgerError {
    /// Boxed: redb's errors are large, and every ledger call returns this.
    #[error("storage: {0}")]
    Storage(Box<redb::Error>),
    #[error("storage: {0}")]
    Io(#[from] std::io::Error),
    #[error("stored {what} does not decode: {source}")]
    Undecodable {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("stored state: {0}")]
    Entry(#[from] EntryError),
    #[error("the database holds no head block")]
    NoHead,
    #[error(
        "storage: the database was closed after an I/O error; it is opened again at the next block"
    )]
    StoreClosed,
    #[error("stored state does not match the head's state root at height {height}")]
    StateRootMismatch { height: u64 },
    #[error("genesis: the database was created from a different genesis")]
    OtherGenesis,
    #[error("genesis: {0}")]
    Genesis(#[from] GenesisError),
    #[error("block rejected: {0}")]
    BadBlock(#[from] BlockError),
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for LedgerError {
            fn from(e: $t) -> Self { LedgerError::Storage(Box::new(e.into())) }
        }
    )*};
}
storage_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// A stored state entry that the state cannot take (`State::load`, `State::replay`).
#[derive(Debug, thiserror::Error)]
#[allow(
    missing_docs,
    reason = "each variant's #[error] message says what it means; its fields are that message's parts"
)]
pub enum EntryError {
    #[error("an entry has an empty key")]
    EmptyKey,
    #[error("an entry names unknown table {0}")]
    UnknownTable(u8),
    #[error("an entry of table {table} does not decode: {source}")]
    Undecodable { table: u8, source: std::io::Error },
}

/// A genesis that cannot start a chain.
#[derive(Debug, thiserror::Error)]
#[allow(
    missing_docs,
    reason = "each variant's #[error] message says what it means; its fields are that message's parts"
)]
pub enum GenesisError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: std::path::PathBuf,
        source: serde_json::Error,
    },
    #[error("chain_id is empty")]
    EmptyChainId,
    #[error("at least one validator is required")]
    NoValidator,
    #[error("{param} {rule}")]
    Param {
        param: &'static str,
        rule: &'static str,
    },
    #[error("{0}: {1}")]
    BadKey(Address, gpunet_primitives::KeyError),
    #[error("validator {0} appears twice")]
    DuplicateValidator(Address),
    #[error("account {0} appears twice")]
    DuplicateAccount(Address),
    #[error("the total supply overflows")]
    SupplyOverflows,
}

/// Why a block made elsewhere is refused (it changes nothing).
#[derive(Debug, thiserror::Error)]
#[allow(
    missing_docs,
    reason = "each variant's #[error] message says what it means; its fields are that message's parts"
)]
pub enum BlockError {
    #[error("block does not extend the head")]
    NotOnHead,
    #[error("{0} is not a validator")]
    NotAValidator(Address),
    #[error("block time {time_ms} is not after its parent's {parent_ms}")]
    TimeNotAfterParent { time_ms: u64, parent_ms: u64 },
    #[error("transactions root mismatch")]
    TxsRoot,
    #[error("transaction {index} failed: {error}")]
    Tx { index: usize, error: TxError },
    #[error("end of block failed: {0}")]
    EndOfBlock(TxError),
    #[error("state root mismatch")]
    StateRoot,
}

impl From<gpunet_types::Overflow> for TxError {
    fn from(_: gpunet_types::Overflow) -> TxError {
        TxError::Overflow
    }
}

/// Why a state snapshot is refused while it is restored (`snapshot::Restore`).
/// Every variant but `Ledger` means the peer that served it is wrong.
#[derive(Debug, thiserror::Error)]
#[allow(
    missing_docs,
    reason = "each variant's #[error] message says what it means; its fields are that message's parts"
)]
pub enum SnapshotError {
    #[error("the snapshot's manifest is {bytes} bytes, over the {max} a node takes")]
    ManifestTooLarge { bytes: usize, max: usize },
    #[error("the snapshot's manifest does not decode: {0}")]
    ManifestUndecodable(std::io::Error),
    #[error("the snapshot is of chain {found:?}, not {expected:?}")]
    OtherChain { expected: String, found: String },
    #[error("the snapshot's block holds other transactions than its header names")]
    TxsRoot,
    #[error("chunk {index}'s summary is not an LtHash")]
    BadSummary { index: usize },
    #[error("the snapshot's chunks do not add up to the state root of block {height}")]
    RootMismatch { height: u64 },
    #[error("chunk {index} is {bytes} bytes, over the {max} a node takes")]
    ChunkTooLarge {
        index: usize,
        bytes: usize,
        max: usize,
    },
    #[error("chunk {index} is not the one the manifest names (its hash differs)")]
    ChunkHash { index: usize },
    #[error("chunk {index} does not decode: {source}")]
    ChunkUndecodable {
        index: usize,
        source: std::io::Error,
    },
    #[error("chunk {index}'s entries are not in strictly increasing key order after the previous chunk's")]
    ChunkUnsorted { index: usize },
    #[error("chunk {index}'s entries are not the ones the manifest sums (their LtHash differs)")]
    ChunkContent { index: usize },
    #[error("the manifest names {chunks} chunks; no more are taken")]
    NoMoreChunks { chunks: usize },
    #[error("{received} of the snapshot's {chunks} chunks were restored")]
    Incomplete { received: usize, chunks: usize },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}
