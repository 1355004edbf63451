#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod amount;
mod blob_read;
mod block;
mod consensus;
mod crypto;
pub mod json;
mod live_log;
/// A job's result as a list of files, and its output root.
pub mod manifest;
mod merkle;
mod request;
mod sealed;
mod spec;
mod tx;
mod upload;

pub use amount::{format_amount, parse_amount, Amount, AmountParseError, DECIMALS, UNIT};
pub use blob_read::{BlobHasher, BlobRead, ReadSecret, SignedBlobRead};
pub use block::{Block, BlockHeader};
pub use consensus::{DoubleSign, SignedVote, Vote, VoteKind};
pub use crypto::{Address, Hash, KeyError, Keypair, Signature};
pub use live_log::{
    LogChunk, LogRead, LogStream, SignedLogChunk, SignedLogRead, LIVE_LOG_TAIL_BYTES,
    MAX_LOG_CHUNK_BYTES,
};
pub use merkle::{merkle_root, tree_depth, verify_merkle_proof, MerkleTree};
pub use request::{RequestBody, RequestError, SignedRequest, MAX_REQUEST_VALIDITY_MS};
pub use sealed::{
    SealError, SealedSecrets, SecretEnv, SecretsMismatch, MAX_SEALED_SECRETS_BYTES, MAX_SECRETS,
};
pub use spec::{
    GpuRequirement, GpuSpec, ImageBlob, InputRef, InputSource, JobSpec, MachineSpec, OnExit,
    Placement, ResourcePrices, Resources, Ulimits, WorkspaceRef, IMAGE_FETCH_BYTES_PER_MS,
};
pub use tx::{
    decode_signed_tx, ChallengeId, ContainerStop, JobOutcome, MachineId, OrderId, OutputHolder,
    RowOpening, SignedTx, Stop, Tx, TxBody, TxDecodeError, WorkspaceSave, MAX_TX_BYTES,
};
pub use upload::{BlobUpload, SignedBlobUpload};

/// Encodes a value canonically (borsh).
pub fn encode<T: borsh::BorshSerialize>(value: &T) -> Vec<u8> {
    borsh::to_vec(value).expect("borsh encoding into a Vec cannot fail")
}

/// BLAKE3 of the canonical encoding of `value`.
pub fn hash_of<T: borsh::BorshSerialize>(value: &T) -> Hash {
    Hash::digest(&encode(value))
}
