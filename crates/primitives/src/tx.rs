//! Signed transactions and their canonical encoding.

use crate::{Address, Amount, Hash, JobSpec, MachineSpec, ResourcePrices, Signature};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// A machine's id, given in order of registration.
pub type MachineId = u64;
/// An order's id, given in order of submission.
pub type OrderId = u64;
/// A hardware challenge's id, given in order of issue.
pub type ChallengeId = u64;

/// One opened row of a hardware challenge's product: its values and its Merkle
/// path to the committed root (see the `gpunet-poc` crate).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct RowOpening {
    /// Which row of C.
    pub index: u32,
    /// Its values.
    pub row: Vec<i32>,
    /// Its Merkle path, leaf to root.
    pub path: Vec<Hash>,
}

/// Largest encoded transaction accepted anywhere.
pub const MAX_TX_BYTES: usize = 64 * 1024;

/// Domain separator so a transaction signature can never be reused as another message.
const SIGNING_DOMAIN: &[u8] = b"gpunet-tx-v1";

/// A limit a run was stopped at before its command ended by itself.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Stop {
    /// Still running at its timeout; killed by the executor.
    Timeout,
    /// Killed by the kernel for exceeding its memory limit.
    Memory,
    /// Wrote more than its disk limit; killed by the executor.
    Disk,
}

impl Stop {
    /// Its name, as people read it.
    pub fn name(self) -> &'static str {
        match self {
            Stop::Timeout => "timeout",
            Stop::Memory => "memory",
            Stop::Disk => "disk",
        }
    }
}

/// How a rental's container stopped by itself.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ContainerStop {
    /// Its program ended, with this exit code.
    Exited {
        /// The program's exit code.
        exit_code: i32,
    },
    /// The executor lost it (the container could not run on).
    Failed,
    /// A rental that restarts its container ([`OnExit::Restart`]) had it
    /// stop soon after each of this many starts in a row: nothing ran for
    /// the renter, so the rental ended.
    ///
    /// [`OnExit::Restart`]: crate::OnExit::Restart
    KeptStopping {
        /// Starts in a row that each stopped soon after.
        starts: u32,
    },
}

impl std::fmt::Display for ContainerStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContainerStop::Exited { exit_code } => {
                write!(f, "its program exited with code {exit_code}")
            }
            ContainerStop::Failed => f.write_str("the provider's executor lost its container"),
            ContainerStop::KeptStopping { starts } => write!(
                f,
                "its container stopped soon after each of {starts} starts in a row"
            ),
        }
    }
}

/// Who keeps a result's files for those who may read them.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum OutputHolder {
    /// The validators' nodes: the provider uploaded every file, and nodes
    /// replicate and serve them.
    #[default]
    Nodes,
    /// The provider's own data-plane peer (announced on chain): nodes keep
    /// the manifest alone, and readers fetch the files from the provider.
    Provider,
}

/// How saving a rental's workspace went, as its provider reports it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum WorkspaceSave {
    /// Its files are stored, listed by a manifest (paths `workspace/...`)
    /// whose root names the saved workspace.
    Saved {
        /// BLAKE3 root of the manifest.
        root: Hash,
        /// Bytes of the files it lists.
        bytes: u64,
        /// Who keeps the files.
        held_by: OutputHolder,
    },
    /// It could not be saved.
    Failed {
        /// Why, in words (clipped to a limit).
        reason: String,
    },
}

/// What a provider reports at the end of a lease.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum JobOutcome {
    /// The job ran; `exit_code` is the program's. The client pays for the time used
    /// whatever the exit code, since the work was delivered.
    Completed {
        /// The program's exit code.
        exit_code: i32,
        /// BLAKE3 root of the output manifest (logs and output files).
        output_root: Hash,
        /// Bytes of logs and outputs the manifest lists.
        output_bytes: u64,
        /// How long the run took, as the provider measured it.
        duration_ms: u64,
        /// The limit the run was stopped at, if it was: its outputs are then
        /// partial, and audits compare runs by the limit, not the outputs.
        stopped: Option<Stop>,
        /// Who keeps the files the manifest lists.
        #[serde(default)]
        held_by: OutputHolder,
    },
    /// The provider could not run the job (executor error, agent restart mid-job).
    /// The client is refunded and the provider slashed.
    Failed {
        /// Why, in words.
        reason: String,
    },
}

/// What a transaction does.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum TxBody {
    /// Moves `amount` from the sender to `to`.
    Transfer {
        /// The recipient.
        to: Address,
        /// How much, in base units.
        #[serde(with = "crate::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::json::Gpn))]
        amount: Amount,
    },
    /// Bonds `amount` as provider stake, backing the sender's machines.
    Stake {
        /// How much, in base units.
        #[serde(with = "crate::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::json::Gpn))]
        amount: Amount,
    },
    /// Starts unbonding provider stake that its machines do not require (released after the unbonding delay, slashable until then).
    Unstake {
        /// How much, in base units.
        #[serde(with = "crate::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::json::Gpn))]
        amount: Amount,
    },
    /// `price_per_hour` is the base every job on the machine pays; resource
    /// prices add per GPU, core and GiB the job asks for.
    RegisterMachine {
        /// The hardware it offers.
        spec: MachineSpec,
        /// The base hourly price of any job on it.
        #[serde(with = "crate::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::json::Gpn))]
        price_per_hour: Amount,
        /// What a job pays on top, per resource.
        resource_prices: ResourcePrices,
    },
    /// Changes a machine's prices, or takes it off the market (`online: false`) and back.
    UpdateMachine {
        /// The machine.
        machine: MachineId,
        /// The base hourly price of any job on it.
        #[serde(with = "crate::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::json::Gpn))]
        price_per_hour: Amount,
        /// What a job pays on top, per resource.
        resource_prices: ResourcePrices,
        /// Whether it takes new leases.
        online: bool,
    },
    /// Removes a machine with no open lease or challenge; the stake it required can be unbonded.
    DeregisterMachine {
        /// The machine.
        machine: MachineId,
    },
    /// Places a job order, escrowing `deposit` (at least its whole timeout at `max_price_per_hour` for each run it may get).
    SubmitOrder {
        /// What to run, on what.
        spec: JobSpec,
        /// The most it pays per hour.
        #[serde(with = "crate::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::json::Gpn))]
        max_price_per_hour: Amount,
        /// What it escrows, in base units.
        #[serde(with = "crate::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::json::Gpn))]
        deposit: Amount,
    },
    /// Cancels a pending order: its deposit is refunded.
    CancelOrder {
        /// The order.
        order: OrderId,
    },
    /// The client lets `reader` read the order's result (its manifest and
    /// files, not its inputs) from the nodes, or stops letting it
    /// (`shared: false`).
    ShareResult {
        /// The order.
        order: OrderId,
        /// The account let in, or shut out.
        reader: Address,
        /// Whether `reader` may read the result from now on.
        shared: bool,
    },
    /// Rents a machine (or the resources `spec` asks, GPUs included) for
    /// `spec.timeout_secs`, running `spec`'s container for the renter; escrow
    /// streams to the provider as time passes.
    Rent {
        /// What to run for the renter, on what, and for how long (`timeout_secs`).
        spec: JobSpec,
        /// The most it pays per hour.
        #[serde(with = "crate::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::json::Gpn))]
        max_price_per_hour: Amount,
        /// What it escrows, in base units.
        #[serde(with = "crate::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::json::Gpn))]
        deposit: Amount,
    },
    /// Extends a running rental by `extra_secs`, paying `deposit` into escrow.
    RenewRental {
        /// The order.
        order: OrderId,
        /// How much longer it runs.
        extra_secs: u64,
        /// What it escrows, in base units.
        #[serde(with = "crate::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::json::Gpn))]
        deposit: Amount,
    },
    /// Ends a running rental now: it is billed to now and the unused escrow
    /// is refunded. With `save`, its provider first stores the rental's
    /// `/workspace` content-addressed and reports its root
    /// (`ReportWorkspace`), which a later order of the same client mounts
    /// (`JobSpec::workspace`); the time the save takes is not billed.
    EndRental {
        /// The order.
        order: OrderId,
        /// Whether its workspace is saved before it ends.
        #[serde(default)]
        save: bool,
    },
    /// The renter says the rented machine is unreachable: its provider must
    /// answer a liveness probe in time or the machine is held down (not billed,
    /// delisted) and slashed by the hour until it answers.
    ReportOffline {
        /// The order.
        order: OrderId,
    },
    /// The provider's answer to a liveness probe of a rental.
    AnswerProbe {
        /// The order.
        order: OrderId,
    },
    /// The provider reports how a leased job's run ended.
    ReportResult {
        /// The order.
        order: OrderId,
        /// How the run ended.
        outcome: JobOutcome,
    },
    /// A machine owner's commitment (Merkle root of row hashes) to a hardware challenge.
    CommitChallenge {
        /// The challenge.
        challenge: ChallengeId,
        /// The Merkle root of the product's row hashes.
        root: Hash,
    },
    /// The rows the ledger drew after the commitment, opened.
    OpenChallenge {
        /// The challenge.
        challenge: ChallengeId,
        /// Each drawn row with its Merkle path.
        openings: Vec<RowOpening>,
    },
    /// Bonds stake as a validator: voting power is whole multiples of the
    /// ledger's `stake_per_vote`, from the next height on.
    BondValidator {
        /// How much, in base units.
        #[serde(with = "crate::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::json::Gpn))]
        amount: Amount,
    },
    /// Starts unbonding validator stake (released after the unbonding delay,
    /// slashable until then).
    UnbondValidator {
        /// How much, in base units.
        #[serde(with = "crate::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::json::Gpn))]
        amount: Amount,
    },
    /// Evidence that a validator signed conflicting votes; it is slashed and
    /// removed from the validator set.
    ReportDoubleSign {
        /// The two conflicting signed votes.
        evidence: Box<crate::DoubleSign>,
    },
    /// The provider hands back a lease its machine cannot start (image or
    /// program missing, an input that cannot be fetched). Nothing ran, so
    /// nobody pays and nobody is slashed: the order goes back to matching
    /// without this machine.
    DeclineLease {
        /// The order.
        order: OrderId,
        /// Why, in words (clipped to a limit).
        reason: String,
    },
    /// The client disputes a reported result within its dispute window,
    /// naming the output root it holds right (a canary job's known answer)
    /// and paying `deposit` for a referee run on another provider's machine.
    /// The referee decides: the client's root, and the provider is slashed
    /// and unpaid; the provider's, and the deposit pays the referee; neither,
    /// and the provider is paid. Naming the reported root disputes only the
    /// time billed: the referee's run is what the provider's time is checked
    /// against.
    DisputeResult {
        /// The order.
        order: OrderId,
        /// The output root the client holds right.
        expected_root: Hash,
        /// What it escrows, in base units.
        #[serde(with = "crate::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::json::Gpn))]
        deposit: Amount,
    },
    /// The provider of a running rental says where its renter reaches the
    /// ports the rental exposes: one `host:port` per `spec.ports` entry.
    AnnounceEndpoints {
        /// The order.
        order: OrderId,
        /// `host:port` for each of `spec.ports`, in order.
        endpoints: Vec<String>,
    },
    /// The provider of a running rental says its container stopped by
    /// itself: the rental ends now, billed to now, and its renter is
    /// refunded the rest.
    RentalStopped {
        /// The order.
        order: OrderId,
        /// How it stopped.
        how: ContainerStop,
    },
    /// The client stops its running job: its provider is paid the time it
    /// ran so far (block time since the lease), the rest of the escrow is
    /// refunded, nobody is slashed, and the order ends `Stopped`, without
    /// a result.
    StopJob {
        /// The order.
        order: OrderId,
    },
    /// Places a job array: `size` orders of `spec` with consecutive ids,
    /// member `i` seeing `GPUNET_ARRAY_INDEX=i` and `GPUNET_ARRAY_SIZE=size`
    /// in its environment, each escrowing `deposit_each` (as `SubmitOrder`'s
    /// deposit) and matched on its own, so the array spreads over machines.
    SubmitArray {
        /// What each member runs, on what.
        spec: JobSpec,
        /// The most each pays per hour.
        #[serde(with = "crate::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::json::Gpn))]
        max_price_per_hour: Amount,
        /// What each escrows, in base units.
        #[serde(with = "crate::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::json::Gpn))]
        deposit_each: Amount,
        /// How many members (at least 1, at most `MAX_ARRAY_SIZE`).
        size: u32,
    },
    /// Says where the sender's data-plane peer (crates/p2p) is reached,
    /// replacing what it said before; nothing (no address, no relay)
    /// withdraws it. Providers serve results and images there.
    AnnouncePeer {
        /// Socket addresses it is dialled at directly (`IP:port`, at most
        /// eight).
        direct: Vec<String>,
        /// The relay it keeps a connection to (an `http://` or `https://`
        /// URL), for peers that cannot dial it.
        relay: Option<String>,
    },
    /// The provider of a rental its renter ended with `save` says how saving
    /// its workspace went; the rental closes then.
    ReportWorkspace {
        /// The order.
        order: OrderId,
        /// The saved workspace, or why it could not be saved.
        save: WorkspaceSave,
    },
    /// The client hands the provider of its leased order the values of the
    /// spec's `secrets`, sealed to that provider's key (once per lease: a
    /// run matched again elsewhere needs them sealed again). The provider's
    /// agent waits for them before it starts the run, and declines the
    /// lease if they do not come.
    SealSecrets {
        /// The order (a job, an audit run of one, or a rental).
        order: OrderId,
        /// The secret environment, sealed (at most `MAX_SEALED_SECRETS_BYTES`).
        sealed: crate::SealedSecrets,
    },
    /// The provider of a lease that is preparing (its pushed image fetched
    /// and loaded) says its run starts now: its timeout, a rental's meter
    /// and the decline window count from this block.
    StartLease {
        /// The order.
        order: OrderId,
    },
}

impl TxBody {
    /// Short name used in errors, logs and events.
    pub fn kind(&self) -> &'static str {
        match self {
            TxBody::Transfer { .. } => "transfer",
            TxBody::Stake { .. } => "stake",
            TxBody::Unstake { .. } => "unstake",
            TxBody::RegisterMachine { .. } => "register_machine",
            TxBody::UpdateMachine { .. } => "update_machine",
            TxBody::DeregisterMachine { .. } => "deregister_machine",
            TxBody::SubmitOrder { .. } => "submit_order",
            TxBody::CancelOrder { .. } => "cancel_order",
            TxBody::ShareResult { .. } => "share_result",
            TxBody::Rent { .. } => "rent",
            TxBody::RenewRental { .. } => "renew_rental",
            TxBody::EndRental { .. } => "end_rental",
            TxBody::ReportOffline { .. } => "report_offline",
            TxBody::AnswerProbe { .. } => "answer_probe",
            TxBody::ReportResult { .. } => "report_result",
            TxBody::CommitChallenge { .. } => "commit_challenge",
            TxBody::OpenChallenge { .. } => "open_challenge",
            TxBody::BondValidator { .. } => "bond_validator",
            TxBody::UnbondValidator { .. } => "unbond_validator",
            TxBody::ReportDoubleSign { .. } => "report_double_sign",
            TxBody::DeclineLease { .. } => "decline_lease",
            TxBody::DisputeResult { .. } => "dispute_result",
            TxBody::AnnounceEndpoints { .. } => "announce_endpoints",
            TxBody::RentalStopped { .. } => "rental_stopped",
            TxBody::StopJob { .. } => "stop_job",
            TxBody::SubmitArray { .. } => "submit_array",
            TxBody::AnnouncePeer { .. } => "announce_peer",
            TxBody::SealSecrets { .. } => "seal_secrets",
            TxBody::ReportWorkspace { .. } => "report_workspace",
            TxBody::StartLease { .. } => "start_lease",
        }
    }
}

/// The signed part of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tx {
    /// The chain it is for: it is refused on any other.
    pub chain_id: String,
    /// The account that signs and pays.
    pub sender: Address,
    /// Must equal the sender's next nonce: each nonce is usable once.
    pub nonce: u64,
    /// Paid to the block's proposer; at least the chain's `min_fee`.
    #[serde(with = "crate::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::json::Gpn))]
    pub fee: Amount,
    /// What it does.
    pub body: TxBody,
}

impl Tx {
    fn signing_bytes(&self) -> Vec<u8> {
        let mut bytes = SIGNING_DOMAIN.to_vec();
        bytes.extend(crate::encode(self));
        bytes
    }

    /// The transaction signed by `key` (the sender's).
    pub fn sign(self, key: &crate::Keypair) -> SignedTx {
        let signature = key.sign(&self.signing_bytes());
        SignedTx {
            tx: self,
            signature,
        }
    }
}

/// A transaction and its sender's signature.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedTx {
    /// The transaction.
    pub tx: Tx,
    /// The sender's signature over it (under a domain tag).
    pub signature: Signature,
}

impl SignedTx {
    /// Its hash, by which receipts find it.
    pub fn hash(&self) -> Hash {
        crate::hash_of(self)
    }

    /// Whether its sender signed it (strictly: no weak key, canonical encodings).
    pub fn verify_signature(&self) -> bool {
        self.tx
            .sender
            .verify(&self.tx.signing_bytes(), &self.signature)
    }

    /// Its canonical bytes, as nodes take them.
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::encode(self)
    }
}

/// Bytes that are not a transaction.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TxDecodeError {
    /// Over [`MAX_TX_BYTES`].
    #[error("transaction is {size} bytes; the limit is {MAX_TX_BYTES}")]
    TooLarge {
        /// Their size.
        size: usize,
    },
    /// Not the canonical encoding of a signed transaction.
    #[error("malformed transaction bytes: {0}")]
    Malformed(String),
}

/// Decodes a transaction, rejecting oversized input, trailing bytes and bad encodings.
pub fn decode_signed_tx(bytes: &[u8]) -> Result<SignedTx, TxDecodeError> {
    if bytes.len() > MAX_TX_BYTES {
        return Err(TxDecodeError::TooLarge { size: bytes.len() });
    }
    borsh::from_slice(bytes).map_err(|e| TxDecodeError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keypair;

    fn transfer(nonce: u64) -> Tx {
        Tx {
            chain_id: "test".into(),
            sender: Keypair::from_label("alice").address(),
            nonce,
            fee: 10,
            body: TxBody::Transfer {
                to: Keypair::from_label("bob").address(),
                amount: 5,
            },
        }
    }

    #[test]
    fn signed_tx_round_trips_and_verifies() {
        let signed = transfer(0).sign(&Keypair::from_label("alice"));
        let decoded = decode_signed_tx(&signed.to_bytes()).unwrap();
        assert_eq!(decoded, signed);
        assert!(decoded.verify_signature());
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let mut signed = transfer(0).sign(&Keypair::from_label("alice"));
        signed.tx.nonce = 1;
        assert!(!signed.verify_signature());
        let wrong_key = transfer(0).sign(&Keypair::from_label("mallory"));
        assert!(!wrong_key.verify_signature());
    }

    #[test]
    fn rejects_trailing_truncated_and_oversized_bytes() {
        let mut bytes = transfer(0).sign(&Keypair::from_label("alice")).to_bytes();
        bytes.push(0);
        assert!(matches!(
            decode_signed_tx(&bytes),
            Err(TxDecodeError::Malformed(_))
        ));
        bytes.truncate(bytes.len() - 10);
        assert!(matches!(
            decode_signed_tx(&bytes),
            Err(TxDecodeError::Malformed(_))
        ));
        let huge = vec![0u8; MAX_TX_BYTES + 1];
        assert!(matches!(
            decode_signed_tx(&huge),
            Err(TxDecodeError::TooLarge { .. })
        ));
    }
}
