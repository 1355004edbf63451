//! Which blobs a node keeps: what the ledger still needs, and for how long.
//!
//! A blob stays while an open order needs it (its inputs, the saved
//! workspace it starts with, its result) and for
//! [`BlobRetention::after_close`] of block time after the order closed, so
//! its client can fetch the result; a blob no order names (an upload whose
//! order is not submitted yet) stays [`BlobRetention::grace`] after it was
//! written. Everything else is removed every [`BlobRetention::every`]. Each
//! node decides alone, from its own ledger: nothing here is consensus.

use crate::blobs::{BlobError, BlobStore, Removed};
use crate::node::Node;
use gpunet_ledger::Ledger;
use gpunet_primitives::manifest::Manifest;
use gpunet_primitives::{Hash, OutputHolder};
use std::collections::BTreeSet;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

/// How long blobs are kept, and how often what is no longer needed goes.
#[derive(Clone, Copy, Debug)]
pub struct BlobRetention {
    /// Blobs of an order are kept this long after it closed (block time).
    pub after_close: Duration,
    /// An upload no order names yet is kept this long (the order may follow).
    pub grace: Duration,
    /// How often blobs are collected.
    pub every: Duration,
}

impl Default for BlobRetention {
    fn default() -> Self {
        BlobRetention {
            after_close: Duration::from_secs(7 * 24 * 3600),
            grace: Duration::from_secs(3600),
            every: Duration::from_secs(600),
        }
    }
}

/// The blobs the ledger's orders name: inputs, and output roots (each a
/// manifest naming the result's files).
#[derive(Debug, Default)]
pub struct NamedBlobs {
    /// Input blobs.
    pub inputs: BTreeSet<Hash>,
    /// Output roots (manifests) of results whose files nodes keep too.
    pub roots: Vec<Hash>,
    /// Output roots of results whose providers keep the files
    /// ([`OutputHolder::Provider`]): nodes keep the manifest alone.
    pub manifests: BTreeSet<Hash>,
}

impl NamedBlobs {
    /// Adds a result (a job's outputs, a saved workspace): the manifest
    /// `root` and, when nodes keep them, its files.
    pub fn add_result(&mut self, (root, held_by): (Hash, OutputHolder)) {
        match held_by {
            OutputHolder::Nodes => self.roots.push(root),
            OutputHolder::Provider => {
                self.manifests.insert(root);
            }
        }
    }
}

impl NamedBlobs {
    /// Adds what `order` names besides its inputs: its result, and the
    /// saved workspace its spec starts with.
    pub fn add_results_of(&mut self, ledger: &Ledger, order: &gpunet_ledger::Order) {
        if let Some(result) = order.result() {
            self.add_result(result);
        }
        let saved = order
            .spec
            .workspace
            .and_then(|w| ledger.order(w.order)?.result());
        if let Some(saved) = saved {
            self.add_result(saved);
        }
    }
}

/// Inputs and output roots of the orders open now or closed less than
/// `after_close` ago (block time).
pub fn named_by_orders(ledger: &Ledger, after_close: Duration) -> NamedBlobs {
    let now_ms = ledger.head().time_ms;
    let after_close_ms = u64::try_from(after_close.as_millis()).unwrap_or(u64::MAX);
    let mut named = NamedBlobs::default();
    let wanted = ledger.orders().filter(|o| {
        o.status().is_open()
            || o.settlement()
                .is_some_and(|s| s.settled_ms.saturating_add(after_close_ms) > now_ms)
    });
    for order in wanted {
        named
            .inputs
            .extend(order.spec.inputs.iter().map(|i| i.hash));
        named.add_results_of(ledger, order);
    }
    named
}

/// The files a manifest stored in `blobs` lists (none if it is missing or
/// not a manifest). Blocking.
pub fn manifest_files(blobs: &BlobStore, root: &Hash) -> Vec<Hash> {
    std::fs::read(blobs.path(root))
        .ok()
        .and_then(|bytes| Manifest::decode(&bytes).ok())
        .map(|m| m.files.iter().map(|f| f.hash).collect())
        .unwrap_or_default()
}

/// The blobs `blobs` must keep: what orders name, and the files of the
/// results whose manifests it holds. Blocking (reads manifests).
fn referenced_blobs(
    ledger: &RwLock<Ledger>,
    blobs: &BlobStore,
    after_close: Duration,
) -> BTreeSet<Hash> {
    let named = named_by_orders(&ledger.read().expect("ledger lock"), after_close);
    let mut keep = named.inputs;
    keep.extend(named.manifests);
    for root in named.roots {
        keep.insert(root);
        keep.extend(manifest_files(blobs, &root));
    }
    keep
}

impl Node {
    /// Removes the blobs nobody needs any more (see the module docs). Blocking.
    pub fn collect_blobs(&self, retention: &BlobRetention) -> Result<Removed, BlobError> {
        let keep = referenced_blobs(&self.ledger, &self.blobs, retention.after_close);
        let written_before = SystemTime::now()
            .checked_sub(retention.grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        self.blobs.remove_unreferenced(&keep, written_before)
    }

    /// Collects blobs every `retention.every` for as long as the runtime runs.
    pub fn spawn_blob_collection(&self, retention: BlobRetention) {
        let node = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(retention.every).await;
                let node = node.clone();
                match tokio::task::spawn_blocking(move || node.collect_blobs(&retention)).await {
                    Ok(Ok(removed)) if removed.blobs > 0 => tracing::info!(
                        "blob collection removed {} blobs ({} bytes)",
                        removed.blobs,
                        removed.bytes
                    ),
                    Ok(Err(e)) => tracing::warn!("blob collection failed: {e}"),
                    _ => {}
                }
            }
        });
    }
}
