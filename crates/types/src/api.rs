//! Request and response bodies of the API.

use crate::account::Account;
use crate::params::Params;
use gpunet_primitives::{Address, Amount, Block, Hash, JobSpec};
use serde::{Deserialize, Serialize};

/// The header of a live-log response (`GET /v1/orders/{id}/logs/{stream}`)
/// that says at which byte of the log its body starts.
pub const LOG_OFFSET_HEADER: &str = "x-gpunet-log-offset";

/// A signed request as the headers below carry it: borsh, in hex.
pub fn header_value<T: borsh::BorshSerialize>(request: &T) -> String {
    hex::encode(gpunet_primitives::encode(request))
}

/// The header of a blob upload (`PUT /v1/blobs`) carrying the uploader's
/// `SignedBlobUpload`, borsh-encoded, in hex.
pub const UPLOAD_HEADER: &str = "x-gpunet-upload";

/// The header of a blob read (`GET /v1/blobs/{hash}`) carrying the reader's
/// `SignedBlobRead`, borsh-encoded, in hex: a validator's, or a party's to an
/// order that names the blob.
pub const BLOB_READ_HEADER: &str = "x-gpunet-blob-read";

/// The header of a live-log request carrying the order client's signed
/// `SignedLogRead`, borsh-encoded, in hex.
pub const LOG_READ_HEADER: &str = "x-gpunet-log-read";

/// A request header that asks a node to answer from what it holds itself
/// (blobs, live logs) and not ask its peers: nodes send it to each other, so
/// a request for something nobody has does not travel round the network.
pub const LOCAL_ONLY_HEADER: &str = "x-gpunet-local-only";

/// The header of a machine search (`GET /v1/machines`) that says how many
/// machines matched, when `limit` cut the list short.
pub const MATCHED_HEADER: &str = "x-gpunet-matched";

/// A machine search (`GET /v1/machines`): filter terms separated by spaces
/// (`q=gpu_model=H100 vram>=80`), sort keys (`order=-gops,price`) and the
/// most machines to return (all when absent). See [`crate::offers`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct MachineSearch {
    /// Filter terms, e.g. `gpu_model=H100 vram>=80`; every machine without.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Sort keys, `-` first for descending, e.g. `-gops,price`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// The most machines to return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// An order tried without placing it (`POST /v1/orders/dry-run`): the node
/// answers with the [`Unmatched`](crate::Unmatched) tally matching would
/// see now, the machines that could take it first (cheapest first), or a
/// spec error as placing it would.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DryRun {
    /// What the order would run, on what.
    pub spec: JobSpec,
    /// The most it would pay per hour.
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub max_price_per_hour: Amount,
    /// Whether it would be a rental rather than a job.
    #[serde(default)]
    pub rental: bool,
}

/// A page of an account's orders (`GET /v1/accounts/{address}/orders`),
/// newest first: those before order `before` (the newest without it), at
/// most `limit` (default [`ORDERS_PAGE`], at most [`MAX_ORDERS_PAGE`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct OrdersPage {
    /// Only orders older than this one (its id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<u64>,
    /// The most orders to return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// Orders on a page when the request names no limit.
pub const ORDERS_PAGE: usize = 50;
/// The most orders one page holds, whatever the request asks.
pub const MAX_ORDERS_PAGE: usize = 1000;

/// `GET /v1/blobs/{hash}/holder-proof`: what names `blob` as an input of
/// `holder`'s orders (`InputRef::holder_proof`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HolderProof {
    /// The input blob.
    pub blob: Hash,
    /// The account whose orders name it.
    pub holder: Address,
    /// The proof that `holder` holds `blob`, to put in an input reference.
    pub proof: Hash,
}

/// Every error the API returns, as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    /// Stable machine-readable code, e.g. `bad_nonce`, `not_found`: one of
    /// [`ErrorCode`](crate::ErrorCode), kept as text so that a client reads
    /// codes newer than itself.
    #[cfg_attr(feature = "openapi", schema(value_type = crate::ErrorCode))]
    pub code: String,
    /// What went wrong, for people: it may change between versions.
    pub message: String,
}

impl ApiError {
    /// An error with stable `code` and `message` for people.
    pub fn new(code: crate::ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code: code.as_str().to_string(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ApiError {}

/// A node's view of the chain (`GET /v1/status`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Status {
    /// The chain this node follows; transactions sign it.
    pub chain_id: String,
    /// Height of its newest block.
    pub height: u64,
    /// Hash of its newest block.
    pub block_hash: Hash,
    /// State root after its newest block.
    pub state_root: Hash,
    /// Block time of its newest block.
    #[serde(rename = "time", with = "gpunet_primitives::json::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
    pub time_ms: u64,
    /// The validators that decide the next height.
    pub validators: Vec<Address>,
    /// The chain's protocol parameters.
    pub params: Params,
    /// Where the tokens are.
    pub supply: Supply,
}

/// Where every token is, from the chain's totals.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Supply {
    /// Created at genesis.
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub genesis: Amount,
    /// Created since, as rewards.
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub minted: Amount,
    /// Destroyed: the burned share of payments and all slashed stake.
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub burned: Amount,
    /// Of `burned`, what slashing took.
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub slashed: Amount,
    /// Paid to block proposers as fees.
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub fees_paid: Amount,
}

/// An account and its address (`GET /v1/accounts/{address}`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccountView {
    /// Its address.
    pub address: Address,
    /// What it holds (all zero for an account never used).
    pub account: Account,
}

/// A transaction submitted as JSON: its canonical bytes in hex.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubmitTx {
    /// The signed transaction, borsh-encoded, in hex.
    pub tx: String,
}

/// A block and its hash (`GET /v1/blocks/{height}`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockView {
    /// Its header's hash.
    pub hash: Hash,
    /// The block.
    pub block: Block,
}

/// Other nodes a client can turn to.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Peers {
    /// Their addresses, `https://HOST:PORT#KEY` (see [`crate::NodeAddress`]).
    pub apis: Vec<String>,
}

/// A state snapshot a node serves (`GET /v1/snapshots`, newest first): its
/// files are at `/v1/snapshots/{height}/manifest`, `.../certificate` and
/// `.../chunk-{index}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnapshotInfo {
    /// The height of the block whose state it holds.
    pub height: u64,
    /// That block's hash.
    pub block_hash: Hash,
    /// How many chunks the state is cut into.
    pub chunks: u32,
    /// The chunks' total size in bytes.
    pub bytes: u64,
}

/// A stored blob (`PUT /v1/blobs`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlobInfo {
    /// Its BLAKE3 hash.
    pub hash: Hash,
    /// Its size in bytes.
    pub size: u64,
}
