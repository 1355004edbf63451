//! Signed blob uploads: a node stores a blob only for a funded account and
//! only within that account's hourly quota, so its disk is not free for
//! anyone to fill.

use crate::{Hash, RequestBody, SignedRequest};
use borsh::{BorshDeserialize, BorshSerialize};

/// An account (the request's signer) asking to store the blob `hash` of
/// `size` bytes.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BlobUpload {
    /// BLAKE3 of the blob.
    pub hash: Hash,
    /// Its exact size in bytes.
    pub size: u64,
}

impl RequestBody for BlobUpload {
    const DOMAIN: &'static str = "gpunet/blob-upload";
}

/// A [`BlobUpload`], signed by the uploader.
pub type SignedBlobUpload = SignedRequest<BlobUpload>;
