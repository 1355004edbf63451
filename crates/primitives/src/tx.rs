//! Signed transactions and their canonical encoding.

use crate::{Address, Amount, Hash, JobSpec, MachineSpec, ResourcePrices, Signature};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

pub type MachineId = u64;
pub type OrderId = u64;
pub type ChallengeId = u64;

/// One opened row of a hardware challenge's product: its values and its Merkle
/// path to the committed root (see the `gpunet-poc` crate).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct RowOpening {
    pub index: u32,
    pub row: Vec<i32>,
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
#[serde(rename_all = "lowercase")]
pub enum Stop {
    /// Still running at its timeout; killed by the executor.
    Timeout,
    /// Killed by the kernel for exceeding its memory limit.
    Memory,
    /// Wrote more than its disk limit; killed by the executor.
    Disk,
}

impl Stop {
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
#[serde(rename_all = "snake_case")]
pub enum ContainerStop {
    /// Its program ended, with this exit code.
    Exited { exit_code: i32 },
    /// The executor lost it (the container could not run on).
    Failed,
}

/// What a provider reports at the end of a lease.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub enum JobOutcome {
    /// The job ran; `exit_code` is the program's. The client pays for the time used
    /// whatever the exit code, since the work was delivered.
    Completed {
        exit_code: i32,
        /// BLAKE3 root of the output manifest (logs and output files).
        output_root: Hash,
        output_bytes: u64,
        duration_ms: u64,
        /// The limit the run was stopped at, if it was: its outputs are then
        /// partial, and audits compare runs by the limit, not the outputs.
        stopped: Option<Stop>,
    },
    /// The provider could not run the job (executor error, agent restart mid-job).
    /// The client is refunded and the provider slashed.
    Failed { reason: String },
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub enum TxBody {
    Transfer {
        to: Address,
        amount: Amount,
    },
    Stake {
        amount: Amount,
    },
    Unstake {
        amount: Amount,
    },
    /// `price_per_hour` is the base every job on the machine pays; resource
    /// prices add per GPU, core and GiB the job asks for.
    RegisterMachine {
        spec: MachineSpec,
        price_per_hour: Amount,
        resource_prices: ResourcePrices,
    },
    UpdateMachine {
        machine: MachineId,
        price_per_hour: Amount,
        resource_prices: ResourcePrices,
        online: bool,
    },
    DeregisterMachine {
        machine: MachineId,
    },
    SubmitOrder {
        spec: JobSpec,
        max_price_per_hour: Amount,
        deposit: Amount,
    },
    CancelOrder {
        order: OrderId,
    },
    /// The client lets `reader` read the order's result (its manifest and
    /// files, not its inputs) from the nodes, or stops letting it
    /// (`shared: false`).
    ShareResult {
        order: OrderId,
        reader: Address,
        shared: bool,
    },
    /// Rents a machine (or the resources `spec` asks, GPUs included) for
    /// `spec.timeout_secs`, running `spec`'s container for the renter; escrow
    /// streams to the provider as time passes.
    Rent {
        spec: JobSpec,
        max_price_per_hour: Amount,
        deposit: Amount,
    },
    /// Extends a running rental by `extra_secs`, paying `deposit` into escrow.
    RenewRental {
        order: OrderId,
        extra_secs: u64,
        deposit: Amount,
    },
    /// Ends a running rental now; the unused escrow is refunded.
    EndRental {
        order: OrderId,
    },
    /// The renter says the rented machine is unreachable: its provider must
    /// answer a liveness probe in time or the machine is held down (not billed,
    /// delisted) and slashed by the hour until it answers.
    ReportOffline {
        order: OrderId,
    },
    /// The provider's answer to a liveness probe of a rental.
    AnswerProbe {
        order: OrderId,
    },
    ReportResult {
        order: OrderId,
        outcome: JobOutcome,
    },
    /// A machine owner's commitment (Merkle root of row hashes) to a hardware challenge.
    CommitChallenge {
        challenge: ChallengeId,
        root: Hash,
    },
    /// The rows the ledger drew after the commitment, opened.
    OpenChallenge {
        challenge: ChallengeId,
        openings: Vec<RowOpening>,
    },
    /// Bonds stake as a validator: voting power is whole multiples of the
    /// ledger's `stake_per_vote`, from the next height on.
    BondValidator {
        amount: Amount,
    },
    /// Starts unbonding validator stake (released after the unbonding delay,
    /// slashable until then).
    UnbondValidator {
        amount: Amount,
    },
    /// Evidence that a validator signed conflicting votes; it is slashed and
    /// removed from the validator set.
    ReportDoubleSign {
        evidence: Box<crate::DoubleSign>,
    },
    /// The provider hands back a lease its machine cannot start (image or
    /// program missing, an input that cannot be fetched). Nothing ran, so
    /// nobody pays and nobody is slashed: the order goes back to matching
    /// without this machine.
    DeclineLease {
        order: OrderId,
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
        order: OrderId,
        expected_root: Hash,
        deposit: Amount,
    },
    /// The provider of a running rental says where its renter reaches the
    /// ports the rental exposes: one `host:port` per `spec.ports` entry.
    AnnounceEndpoints {
        order: OrderId,
        endpoints: Vec<String>,
    },
    /// The provider of a running rental says its container stopped by
    /// itself: the rental ends now, billed to now, and its renter is
    /// refunded the rest.
    RentalStopped {
        order: OrderId,
        how: ContainerStop,
    },
    /// The client stops its running job: its provider is paid the time it
    /// ran so far (block time since the lease), the rest of the escrow is
    /// refunded, nobody is slashed, and the order ends `Stopped`, without
    /// a result.
    StopJob {
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
        }
    }
}

/// The signed part of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Tx {
    pub chain_id: String,
    pub sender: Address,
    /// Must equal the sender's next nonce: each nonce is usable once.
    pub nonce: u64,
    pub fee: Amount,
    pub body: TxBody,
}

impl Tx {
    fn signing_bytes(&self) -> Vec<u8> {
        let mut bytes = SIGNING_DOMAIN.to_vec();
        bytes.extend(crate::encode(self));
        bytes
    }

    pub fn sign(self, key: &crate::Keypair) -> SignedTx {
        let signature = key.sign(&self.signing_bytes());
        SignedTx {
            tx: self,
            signature,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct SignedTx {
    pub tx: Tx,
    pub signature: Signature,
}

impl SignedTx {
    pub fn hash(&self) -> Hash {
        crate::hash_of(self)
    }

    pub fn verify_signature(&self) -> bool {
        self.tx
            .sender
            .verify(&self.tx.signing_bytes(), &self.signature)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        crate::encode(self)
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TxDecodeError {
    #[error("transaction is {size} bytes; the limit is {MAX_TX_BYTES}")]
    TooLarge { size: usize },
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
