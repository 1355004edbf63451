//! Who may read a blob. Blobs are named by their BLAKE3 hash and hashes are
//! public (orders carry them on chain), so knowing a hash must not be enough
//! to read one: a node serves a blob only to a request signed by a validator
//! (copies between nodes) or by a party to an order that names it (its
//! client, the provider it is leased to, or, for its result only, an account
//! its client shared the result with).
//!
//! Anyone may submit an order naming a hash seen on chain, so an input counts
//! as named by an order only with proof that the order's client holds its
//! bytes: the client's address hashed under the blob's *read secret*, a
//! second BLAKE3 of the content (derive-key mode) that the public hash does
//! not reveal. The node holding the blob computes the secret again and checks
//! the proof ([`InputSource::Held`](crate::InputSource)).

use crate::{Address, Hash, OrderId, RequestBody, SignedRequest};
use borsh::{BorshDeserialize, BorshSerialize};
use std::path::Path;

/// The signer asks to read blobs, as a party to `order` (`None`: as a validator).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BlobRead {
    /// The order whose party the signer reads as; `None` for a validator.
    pub order: Option<OrderId>,
}

impl RequestBody for BlobRead {
    const DOMAIN: &'static str = "gpunet/blob-read";
}

/// A [`BlobRead`], signed: what a blob read request carries.
pub type SignedBlobRead = SignedRequest<BlobRead>;

const READ_SECRET_CONTEXT: &str = "gpunet 2026-11-23 blob read secret";

/// A key only holders of a blob's bytes can compute.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ReadSecret([u8; 32]);

impl std::fmt::Debug for ReadSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadSecret(..)")
    }
}

impl ReadSecret {
    /// The proof that `client` holds the blob: published in its orders,
    /// useless to any other account.
    pub fn proof_for(&self, client: &Address) -> Hash {
        Hash(*blake3::keyed_hash(&self.0, client.as_bytes()).as_bytes())
    }
}

/// Hashes content into its public hash and its read secret in one pass.
#[derive(Clone)]
pub struct BlobHasher {
    public: blake3::Hasher,
    secret: blake3::Hasher,
}

impl Default for BlobHasher {
    fn default() -> Self {
        BlobHasher {
            public: blake3::Hasher::new(),
            secret: blake3::Hasher::new_derive_key(READ_SECRET_CONTEXT),
        }
    }
}

impl BlobHasher {
    /// Hashes the next `bytes` of the blob.
    pub fn update(&mut self, bytes: &[u8]) {
        self.public.update(bytes);
        self.secret.update(bytes);
    }

    /// The content's hash (its name) and read secret.
    pub fn finalize(&self) -> (Hash, ReadSecret) {
        (
            Hash(*self.public.finalize().as_bytes()),
            ReadSecret(*self.secret.finalize().as_bytes()),
        )
    }

    /// Hash and read secret of `bytes`.
    pub fn of(bytes: &[u8]) -> (Hash, ReadSecret) {
        let mut hasher = BlobHasher::default();
        hasher.update(bytes);
        hasher.finalize()
    }

    /// Hash, read secret and size of the file at `path`, streamed.
    pub fn of_file(path: &Path) -> std::io::Result<(Hash, ReadSecret, u64)> {
        let mut hasher = BlobHasher::default();
        let size = std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
        let (hash, secret) = hasher.finalize();
        Ok((hash, secret, size))
    }
}

impl std::io::Write for BlobHasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keypair;

    #[test]
    fn the_hash_is_plain_blake3_and_the_secret_is_not_derived_from_it() {
        let (hash, secret) = BlobHasher::of(b"weights");
        assert_eq!(hash, Hash::digest(b"weights"));
        assert_ne!(secret.0, hash.0);
        let (other_hash, other_secret) = BlobHasher::of(b"weights!");
        assert_ne!(other_hash, hash);
        assert_ne!(other_secret, secret);
    }

    #[test]
    fn a_proof_holds_for_one_client_and_one_content() {
        let (_, secret) = BlobHasher::of(b"dataset");
        let (_, other) = BlobHasher::of(b"another dataset");
        let alice = Keypair::from_label("alice").address();
        let mallory = Keypair::from_label("mallory").address();
        assert_eq!(secret.proof_for(&alice), secret.proof_for(&alice));
        assert_ne!(secret.proof_for(&alice), secret.proof_for(&mallory));
        assert_ne!(secret.proof_for(&alice), other.proof_for(&alice));
    }

    #[test]
    fn a_file_streams_to_the_same_hash_secret_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes = vec![7u8; 3 << 20];
        std::fs::write(&path, &bytes).unwrap();
        let (hash, secret) = BlobHasher::of(&bytes);
        assert_eq!(
            BlobHasher::of_file(&path).unwrap(),
            (hash, secret, bytes.len() as u64)
        );
    }
}
