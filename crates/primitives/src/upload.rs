//! Signed blob uploads: a node stores a blob only for a funded account and
//! only within that account's hourly quota, so its disk is not free for
//! anyone to fill.

use crate::{Hash, RequestBody, SignedRequest};
use borsh::{BorshDeserialize, BorshSerialize};

/// An account (the request's signer) asking to store the blob `hash` of
/// `size` bytes.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BlobUpload {
    pub hash: Hash,
    pub size: u64,
}

impl RequestBody for BlobUpload {
    const DOMAIN: &'static str = "gpunet/blob-upload";
}

pub type SignedBlobUpload = SignedRequest<BlobUpload>;
