//! Signed blob uploads: a node stores a blob only for a funded account and
//! only within that account's hourly quota, so its disk is not free for
//! anyone to fill.

use crate::{encode, Address, Hash, Keypair, Signature};
use borsh::{BorshDeserialize, BorshSerialize};

/// Most an upload request may be valid ahead of a node's clock.
pub const MAX_UPLOAD_VALIDITY_MS: u64 = 10 * 60 * 1000;

/// An account asking to store the blob `hash` of `size` bytes, until
/// `not_after_ms` (Unix time, by the node's clock).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BlobUpload {
    pub chain_id: String,
    pub uploader: Address,
    pub hash: Hash,
    pub size: u64,
    pub not_after_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedBlobUpload {
    pub upload: BlobUpload,
    pub signature: Signature,
}

impl BlobUpload {
    fn sign_bytes(&self) -> Vec<u8> {
        encode(&("gpunet/blob-upload", self))
    }

    /// Signed by `key`, whose address must be `uploader`.
    pub fn sign(self, key: &Keypair) -> SignedBlobUpload {
        SignedBlobUpload {
            signature: key.sign(&self.sign_bytes()),
            upload: self,
        }
    }
}

impl SignedBlobUpload {
    pub fn verify(&self) -> bool {
        self.upload
            .uploader
            .verify(&self.upload.sign_bytes(), &self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_upload_verifies_only_as_signed() {
        let key = Keypair::from_label("client");
        let upload = BlobUpload {
            chain_id: "test".into(),
            uploader: key.address(),
            hash: Hash::digest(b"x"),
            size: 1,
            not_after_ms: 1_000,
        };
        let signed = upload.clone().sign(&key);
        assert!(signed.verify());
        let mut bigger = signed.clone();
        bigger.upload.size = 1 << 30;
        assert!(!bigger.verify());
        let forged = BlobUpload {
            uploader: Keypair::from_label("rich").address(),
            ..upload
        }
        .sign(&key);
        assert!(!forged.verify());
    }
}
