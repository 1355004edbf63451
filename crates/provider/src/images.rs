//! Images that clients pushed ([`ImageBlob`]): before a run whose image
//! the engine lacks, its archive is fetched peer to peer (from other
//! providers of the same client's orders that loaded it, then from the
//! client's own peer), verified as it streams, loaded into the engine and
//! checked to be the id the spec names. Archives stay in the peer's store
//! under a disk budget, the least recently used dropped first, and are
//! served to other providers under the client's holder proof
//! ([`ImageGate`]).
//!
//! A fetch or load that fails is the spec's problem, not the machine's:
//! the lease is declined, nobody is slashed. The time it takes is the
//! run's preparation, before its timeout starts.

use crate::executor::{ExecError, Executor};
use gpunet_client::images::ImageGate;
use gpunet_client::NodeClient;
use gpunet_p2p::{P2pError, Peer, PeerAddr};
use gpunet_primitives::{Address, BlobHasher, Hash, ImageBlob};
use gpunet_types::api::OrdersPage;
use gpunet_types::OrderView;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

/// Other providers asked for an archive before its client's peer.
const MAX_PROVIDER_HOLDERS: usize = 8;

/// Why a run's image could not be had here (its lease is declined).
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// This agent runs no data-plane peer to fetch with.
    #[error("the image is pushed by its client and fetched peer to peer, and this agent runs no data-plane peer")]
    NoPeer,
    /// The chain names no peer that could hold it.
    #[error("no peer holds image archive {0}: its client announces no data-plane peer and no other provider ran it")]
    NoHolder(Hash),
    /// No holder served it.
    #[error("cannot fetch image archive {root}: {source}")]
    Fetch {
        /// The archive.
        root: Hash,
        /// Why.
        source: P2pError,
    },
    /// What arrived has another size than the spec says.
    #[error("image archive {root} has {got} bytes, the spec says {expected}")]
    Size {
        /// The archive.
        root: Hash,
        /// Its size here.
        got: u64,
        /// The spec's.
        expected: u64,
    },
    /// The engine refused the archive.
    #[error("cannot load image archive {root}: {source}")]
    Load {
        /// The archive.
        root: Hash,
        /// What the engine said.
        source: ExecError,
    },
    /// The archive loaded, but not as the image the spec names.
    #[error("image archive {root} does not hold image {id}")]
    NotTheImage {
        /// The archive.
        root: Hash,
        /// The id the spec names.
        id: String,
    },
    /// The engine could not be asked.
    #[error(transparent)]
    Engine(#[from] ExecError),
    /// The node could not be asked where the archive is.
    #[error("cannot find the image's holders: {0}")]
    Node(#[from] gpunet_client::ClientError),
}

/// An archive kept in the store and loaded into the engine.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Cached {
    /// The image id it loads as.
    id: String,
    /// The archive's size.
    size: u64,
    /// When it was last used, as a count of uses of the cache: the lowest
    /// goes first.
    used: u64,
}

#[derive(Default, Serialize, Deserialize)]
struct Records {
    /// Uses of the cache so far.
    uses: u64,
    images: BTreeMap<Hash, Cached>,
}

/// The archives this provider fetched, within a budget of bytes.
pub struct ImageCache {
    peer: Arc<Peer>,
    gate: ImageGate,
    path: PathBuf,
    budget: u64,
    records: Mutex<Records>,
}

/// The store's tag that keeps archive `root`.
fn tag(root: &Hash) -> String {
    format!("image/{root}")
}

impl ImageCache {
    /// The cache recorded in `path` (made empty if missing), its archives in
    /// `peer`'s store and served through `gate`, holding at most `budget`
    /// bytes of archives. What was kept before is served again once each
    /// archive has been read for its secret (in the background).
    pub(crate) fn open(
        peer: Arc<Peer>,
        gate: ImageGate,
        path: PathBuf,
        budget: u64,
    ) -> std::io::Result<Arc<ImageCache>> {
        let records = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!("{}: {e}; its images are fetched again", path.display());
                Records::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Records::default(),
            Err(e) => return Err(e),
        };
        let kept: Vec<Hash> = records.images.keys().copied().collect();
        let cache = Arc::new(ImageCache {
            peer,
            gate,
            path,
            budget,
            records: Mutex::new(records),
        });
        let serving = cache.clone();
        tokio::spawn(async move {
            for root in kept {
                if let Err(e) = serving.serve(root).await {
                    tracing::warn!("cannot serve kept image archive {root}: {e}");
                }
            }
        });
        Ok(cache)
    }

    /// Makes the image `order` runs available to `executor`: nothing to do
    /// when the spec names no archive or the engine has the image; else the
    /// archive is fetched (or found in the store), loaded and checked, and
    /// returned.
    pub(crate) async fn ensure(
        &self,
        order: &OrderView,
        executor: &dyn Executor,
        node: &NodeClient,
    ) -> Result<Option<ImageBlob>, ImageError> {
        let Some(blob) = order.spec.image_blob else {
            return Ok(None);
        };
        let id = &order.spec.image;
        if executor.has_image(id).await? {
            self.used(&blob.hash);
            return Ok(None);
        }
        if self.peer.size(blob.hash).await.ok().flatten().is_none() {
            let holders = holders(node, order, &blob, self.peer.account()).await?;
            self.fetch(&blob, &holders).await?;
        }
        let hasher = Arc::new(Mutex::new(BlobHasher::default()));
        let reader = Box::pin(Hashing {
            inner: self.peer.reader(blob.hash),
            hasher: hasher.clone(),
        });
        executor
            .load_image(reader)
            .await
            .map_err(|source| ImageError::Load {
                root: blob.hash,
                source,
            })?;
        if !executor.has_image(id).await? {
            return Err(ImageError::NotTheImage {
                root: blob.hash,
                id: id.clone(),
            });
        }
        self.record(blob.hash, id, blob.size, executor).await;
        let (read, secret) = hasher.lock().unwrap_or_else(|p| p.into_inner()).finalize();
        if read == blob.hash {
            self.gate.allow(blob.hash, secret);
        } else if let Err(e) = self.serve(blob.hash).await {
            // The engine stopped reading before the end: read it again.
            tracing::warn!("cannot serve image archive {}: {e}", blob.hash);
        }
        Ok(Some(blob))
    }

    async fn fetch(&self, blob: &ImageBlob, from: &[PeerAddr]) -> Result<(), ImageError> {
        if from.is_empty() {
            return Err(ImageError::NoHolder(blob.hash));
        }
        let failed = |source| ImageError::Fetch {
            root: blob.hash,
            source,
        };
        let fetched = self
            .peer
            .fetch(blob.hash, from, |_| {})
            .await
            .map_err(failed)?;
        if fetched.size != blob.size {
            return Err(ImageError::Size {
                root: blob.hash,
                got: fetched.size,
                expected: blob.size,
            });
        }
        self.peer
            .tag(blob.hash, &tag(&blob.hash))
            .await
            .map_err(failed)
    }

    /// Reads archive `root` for its read secret and serves it from then on
    /// (one kept from before this agent started, or one the engine did not
    /// read to its end).
    async fn serve(&self, root: Hash) -> Result<(), P2pError> {
        let mut reader = self.peer.reader(root);
        let mut hasher = BlobHasher::default();
        let mut buf = vec![0; 1 << 20];
        loop {
            let n = reader
                .read(&mut buf)
                .await
                .map_err(|e| P2pError::Store(format!("reading {root}: {e}")))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let (read, secret) = hasher.finalize();
        if read != root {
            return Err(P2pError::Store(format!("{root} reads as {read}")));
        }
        self.gate.allow(root, secret);
        Ok(())
    }

    fn used(&self, root: &Hash) {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        records.uses += 1;
        let uses = records.uses;
        if let Some(cached) = records.images.get_mut(root) {
            cached.used = uses;
        }
    }

    /// Records archive `root` as loaded and just used, and drops the least
    /// recently used others until the archives fit the budget.
    async fn record(&self, root: Hash, id: &str, size: u64, executor: &dyn Executor) {
        let dropped = {
            let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
            records.uses += 1;
            let used = records.uses;
            records.images.insert(
                root,
                Cached {
                    id: id.to_string(),
                    size,
                    used,
                },
            );
            let mut dropped = Vec::new();
            let mut total: u64 = records.images.values().map(|c| c.size).sum();
            while total > self.budget {
                let oldest = records
                    .images
                    .iter()
                    .filter(|(r, _)| **r != root)
                    .min_by_key(|(_, c)| c.used)
                    .map(|(r, _)| *r);
                let Some(oldest) = oldest else { break };
                let cached = records.images.remove(&oldest).expect("just found");
                total -= cached.size;
                dropped.push((oldest, cached));
            }
            if let Err(e) = self.write(&records) {
                tracing::warn!(
                    "cannot record the image cache in {}: {e}",
                    self.path.display()
                );
            }
            dropped
        };
        for (root, cached) in dropped {
            self.gate.forbid(&root);
            if let Err(e) = self.peer.untag_prefix(&tag(&root)).await {
                tracing::warn!("cannot drop image archive {root}: {e}");
            }
            // An image a container still uses stays in the engine.
            if let Err(e) = executor.remove_image(&cached.id).await {
                tracing::info!("image {} stays in the engine: {e}", cached.id);
            }
            tracing::info!(
                "image archive {root} ({} bytes) dropped from the cache",
                cached.size
            );
        }
    }

    fn write(&self, records: &Records) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(std::path::Path::new("."));
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer(&mut file, records).map_err(std::io::Error::other)?;
        file.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// An archive read on to the engine and hashed on the way, for its read
/// secret: a loaded archive is read once, not twice.
struct Hashing<R> {
    inner: R,
    hasher: Arc<Mutex<BlobHasher>>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Hashing<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            self.hasher
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .update(&buf.filled()[before..]);
        }
        polled
    }
}

/// Who may hold `blob` for `order`: the providers of the client's other
/// orders that name it (they loaded it, or are loading it), then the
/// client's own peer.
async fn holders(
    node: &NodeClient,
    order: &OrderView,
    blob: &ImageBlob,
    me: Address,
) -> Result<Vec<PeerAddr>, gpunet_client::ClientError> {
    let page = OrdersPage {
        before: None,
        limit: Some(gpunet_types::api::MAX_ORDERS_PAGE),
    };
    let mut providers = Vec::new();
    for other in node.orders_of(&order.client, &page).await? {
        let names_it = other.spec.image_blob.is_some_and(|b| b.hash == blob.hash);
        let provider = other.lease.as_ref().map(|l| l.provider);
        if let Some(provider) = provider.filter(|p| names_it && *p != me && other.id != order.id) {
            if !providers.contains(&provider) {
                providers.push(provider);
            }
        }
        if providers.len() == MAX_PROVIDER_HOLDERS {
            break;
        }
    }
    let mut holders = Vec::new();
    for account in providers.into_iter().chain([order.client]) {
        if let Some(peer) = node.peer(&account).await? {
            holders.push(peer);
        }
    }
    Ok(holders)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_archive_read_through_to_the_engine_is_hashed_on_the_way() {
        let archive: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        let hasher = Arc::new(Mutex::new(BlobHasher::default()));
        let mut reader = Hashing {
            inner: &archive[..],
            hasher: hasher.clone(),
        };
        let mut engine = Vec::new();
        tokio::io::copy(&mut reader, &mut engine).await.unwrap();
        assert_eq!(engine, archive);
        let (root, secret) = hasher.lock().unwrap().finalize();
        let (expected_root, expected_secret) = BlobHasher::of(&archive);
        assert_eq!(root, expected_root);
        let client = gpunet_primitives::Keypair::from_label("client").address();
        assert_eq!(
            secret.proof_for(&client),
            expected_secret.proof_for(&client)
        );
    }
}
