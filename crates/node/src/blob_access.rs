//! Who may read which blob from this node. The rules (a validator reads
//! everything, a party to an order what the order names) and why inputs need
//! a holder proof are in `gpunet_primitives::BlobRead`'s module docs.
//!
//! Deciding takes two steps so the ledger's lock is never held over disk
//! reads: [`ReadScope::of`] takes what the request may reach from the ledger,
//! then [`ReadScope::allows`] decides per blob from the store (it may hash an
//! input to check its proof, or read a result's manifest).

use crate::blob_retention::manifest_files;
use crate::blobs::BlobStore;
use gpunet_ledger::Ledger;
use gpunet_primitives::{Address, Hash, InputRef, OrderId, RequestError, SignedBlobRead};

/// Why a blob read is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlobReadError {
    /// The signed request itself does not hold (chain, expiry, signature).
    #[error(transparent)]
    Request(#[from] RequestError),
    /// A read as a validator by an account that is none.
    #[error(
        "account {0} is not a validator: blobs are read as a party to an order that names them"
    )]
    NotAValidator(Address),
    /// A read through an order that does not exist.
    #[error("no order {0}")]
    UnknownOrder(OrderId),
    /// A reader that is no party to the order.
    #[error(
        "account {reader} is neither the client of order {order}, nor the provider it is leased to, nor a reader its client shared the result with"
    )]
    NotAParty {
        /// Who asked.
        reader: Address,
        /// The order it named.
        order: OrderId,
    },
    /// An input whose holder proof is not the order's client's.
    #[error("order {order} names blob {blob} as an input, but its holder proof is not its client's: nobody reads it through this order")]
    NoHolderProof {
        /// The order.
        order: OrderId,
        /// The input.
        blob: Hash,
    },
    /// A blob the order does not name.
    #[error("order {order} names no blob {blob} (neither as an input nor in its result)")]
    NotNamed {
        /// The order.
        order: OrderId,
        /// The blob asked for.
        blob: Hash,
    },
    /// A blob this node does not hold.
    #[error("no blob {0} on this node")]
    Missing(Hash),
}

/// What a checked read request may reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadScope {
    /// A validator's request: every blob (copies between nodes).
    Everything,
    /// A party's request: the order's inputs, the workspace it starts
    /// with and its result (its result only, for a reader the client shared
    /// it with).
    Order {
        /// The order.
        id: OrderId,
        /// Its client, whose holder proofs open its inputs.
        client: Address,
        /// Its inputs (none for a reader the result was shared with).
        inputs: Vec<InputRef>,
        /// Manifests whose files are in scope: its result's, once reported
        /// (or its saved workspace's), and the saved workspace its spec
        /// starts with (the ledger checked it is its client's).
        manifests: Vec<Hash>,
    },
}

impl ReadScope {
    /// Checks `read` at `now_ms` (current, signed, for this chain; by a
    /// validator, or by a party to the order it names) and takes its scope.
    pub fn of(
        ledger: &Ledger,
        read: &SignedBlobRead,
        now_ms: u64,
    ) -> Result<ReadScope, BlobReadError> {
        read.check(ledger.chain_id(), now_ms)?;
        let reader = read.signer;
        let Some(id) = read.body.order else {
            let validators = ledger.validator_set(ledger.head().height + 1);
            return match validators.iter().any(|(v, _)| *v == reader) {
                true => Ok(ReadScope::Everything),
                false => Err(BlobReadError::NotAValidator(reader)),
            };
        };
        let order = ledger.order(id).ok_or(BlobReadError::UnknownOrder(id))?;
        let provider = order.lease().map(|l| l.provider);
        let result = order.result().map(|(root, _)| root);
        let (inputs, manifests) = if reader == order.client || Some(reader) == provider {
            let workspace = order.spec.workspace.map(|w| w.root);
            (
                order.spec.inputs.clone(),
                result.into_iter().chain(workspace).collect(),
            )
        } else if order.result_readers.binary_search(&reader).is_ok() {
            // A reader the result is shared with reads the result only.
            (Vec::new(), result.into_iter().collect())
        } else {
            return Err(BlobReadError::NotAParty { reader, order: id });
        };
        Ok(ReadScope::Order {
            id,
            client: order.client,
            inputs,
            manifests,
        })
    }

    /// The manifests that decide whether `blob` is in scope, when it is
    /// neither an input nor a manifest itself: a node must hold them first.
    pub fn manifests_for(&self, blob: &Hash) -> Vec<Hash> {
        match self {
            ReadScope::Everything => Vec::new(),
            ReadScope::Order {
                inputs, manifests, ..
            } => {
                if manifests.contains(blob) || inputs.iter().any(|i| i.hash == *blob) {
                    return Vec::new();
                }
                manifests.clone()
            }
        }
    }

    /// Whether `blob`, held in `blobs`, is in scope. Blocking: may hash the
    /// blob (an input's proof) or read the result's manifest.
    pub fn allows(&self, blobs: &BlobStore, blob: &Hash) -> Result<(), BlobReadError> {
        let ReadScope::Order {
            id,
            client,
            inputs,
            manifests,
        } = self
        else {
            return Ok(());
        };
        if manifests.contains(blob) {
            return Ok(());
        }
        let mut proofs = inputs.iter().filter(|i| i.hash == *blob).peekable();
        if proofs.peek().is_some() {
            let secret = blobs
                .read_secret(blob)
                .ok_or(BlobReadError::Missing(*blob))?;
            let expected = secret.proof_for(client);
            return match proofs.any(|i| i.holder_proof() == Some(expected)) {
                true => Ok(()),
                false => Err(BlobReadError::NoHolderProof {
                    order: *id,
                    blob: *blob,
                }),
            };
        }
        let mut missing = None;
        for root in manifests {
            if !blobs.contains(root) {
                missing = missing.or(Some(*root));
            } else if manifest_files(blobs, root).contains(blob) {
                return Ok(());
            }
        }
        match missing {
            Some(root) => Err(BlobReadError::Missing(root)),
            None => Err(BlobReadError::NotNamed {
                order: *id,
                blob: *blob,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpunet_primitives::manifest::{Manifest, ManifestEntry};
    use gpunet_primitives::{BlobHasher, InputSource, Keypair};

    fn input(bytes: &[u8], client: &Address) -> InputRef {
        let (hash, secret) = BlobHasher::of(bytes);
        InputRef {
            path: "in".into(),
            hash,
            size: bytes.len() as u64,
            source: InputSource::Held {
                holder_proof: secret.proof_for(client),
            },
        }
    }

    #[tokio::test]
    async fn a_party_reads_the_inputs_its_client_holds_and_the_files_of_its_result() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path(), 1 << 20).unwrap();
        let alice = Keypair::from_label("alice").address();
        let mallory = Keypair::from_label("mallory").address();
        // An input written before this process started: its secret is not
        // remembered, so checking the proof hashes it from disk.
        let data = b"alice's dataset";
        std::fs::write(store.path(&Hash::digest(data)), data).unwrap();
        let (file, _) = store.put(b"result file").await.unwrap();
        let manifest = Manifest {
            files: vec![ManifestEntry {
                path: "outputs/r".into(),
                size: 11,
                hash: file,
            }],
        };
        let (root, _) = store.put(&manifest.encode()).await.unwrap();
        let (unnamed, _) = store.put(b"someone else's").await.unwrap();
        let scope =
            |client: Address, input: InputRef, output_root: Option<Hash>| ReadScope::Order {
                id: 7,
                client,
                inputs: vec![input],
                manifests: output_root.into_iter().collect(),
            };

        let alices = scope(alice, input(data, &alice), Some(root));
        for blob in [Hash::digest(data), root, file] {
            assert_eq!(alices.allows(&store, &blob), Ok(()));
        }
        assert_eq!(alices.manifests_for(&file), vec![root]);
        assert_eq!(alices.manifests_for(&root), Vec::<Hash>::new());
        assert_eq!(
            alices.allows(&store, &unnamed),
            Err(BlobReadError::NotNamed {
                order: 7,
                blob: unnamed
            })
        );
        // Mallory's order names Alice's input with Alice's proof, or with one
        // of its own made up: neither is Mallory's.
        let copied = scope(mallory, input(data, &alice), None);
        let mut made_up = input(data, &mallory);
        made_up.source = InputSource::Held {
            holder_proof: Hash::digest(b"guess"),
        };
        // Or as a file of a result of its own that a provider keeps: no
        // node serves such an input (its provider's peer does, to whom the
        // ledger allowed).
        let mut kept = input(data, &mallory);
        kept.source = InputSource::KeptResult { order: 3 };
        for stolen in [
            copied,
            scope(mallory, made_up, None),
            scope(mallory, kept, None),
        ] {
            assert_eq!(
                stolen.allows(&store, &Hash::digest(data)),
                Err(BlobReadError::NoHolderProof {
                    order: 7,
                    blob: Hash::digest(data)
                })
            );
        }
        // The result's files are decided by its manifest, which must be here.
        let (elsewhere, _) = BlobHasher::of(b"a manifest on another node");
        assert_eq!(
            scope(alice, input(data, &alice), Some(elsewhere)).allows(&store, &file),
            Err(BlobReadError::Missing(elsewhere))
        );
        assert_eq!(ReadScope::Everything.allows(&store, &unnamed), Ok(()));
    }
}
