//! Which blobs a node keeps: what the ledger still needs, and for how long.
//!
//! A blob stays while an open order needs it (its inputs, its result) and for
//! [`BlobRetention::after_close`] of block time after the order closed, so
//! its client can fetch the result; a blob no order names (an upload whose
//! order is not submitted yet) stays [`BlobRetention::grace`] after it was
//! written. Everything else is removed every [`BlobRetention::every`]. Each
//! node decides alone, from its own ledger: nothing here is consensus.

use crate::blobs::{BlobError, BlobStore, Removed};
use crate::node::Node;
use gpunet_ledger::Ledger;
use gpunet_primitives::manifest::Manifest;
use gpunet_primitives::{Hash, JobOutcome};
use std::collections::BTreeSet;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

#[derive(Clone, Copy, Debug)]
pub struct BlobRetention {
    pub after_close: Duration,
    pub grace: Duration,
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

/// Inputs and output roots of the orders open now or closed less than
/// `after_close` ago (block time).
fn named_by_orders(ledger: &Ledger, after_close: Duration) -> (BTreeSet<Hash>, Vec<Hash>) {
    let now_ms = ledger.head().time_ms;
    let after_close_ms = u64::try_from(after_close.as_millis()).unwrap_or(u64::MAX);
    let mut inputs = BTreeSet::new();
    let mut roots = Vec::new();
    let wanted = ledger.orders().filter(|o| {
        o.status.is_open()
            || o.settlement
                .as_ref()
                .is_some_and(|s| s.settled_ms.saturating_add(after_close_ms) > now_ms)
    });
    for order in wanted {
        inputs.extend(order.spec.inputs.iter().map(|i| i.hash));
        if let Some(JobOutcome::Completed { output_root, .. }) =
            order.report.as_ref().map(|r| &r.outcome)
        {
            roots.push(*output_root);
        }
    }
    (inputs, roots)
}

/// The blobs `blobs` must keep: what orders name, and the files of the
/// results whose manifests it holds. Blocking (reads manifests).
pub fn referenced_blobs(
    ledger: &RwLock<Ledger>,
    blobs: &BlobStore,
    after_close: Duration,
) -> BTreeSet<Hash> {
    let (mut keep, roots) = named_by_orders(&ledger.read().expect("ledger lock"), after_close);
    for root in roots {
        keep.insert(root);
        let manifest = std::fs::read(blobs.path(&root))
            .ok()
            .and_then(|bytes| Manifest::decode(&bytes).ok());
        keep.extend(manifest.iter().flat_map(|m| m.files.iter().map(|f| f.hash)));
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
                    Ok(Ok(removed)) if removed.blobs > 0 => eprintln!(
                        "blob collection removed {} blobs ({} bytes)",
                        removed.blobs, removed.bytes
                    ),
                    Ok(Err(e)) => eprintln!("blob collection failed: {e}"),
                    _ => {}
                }
            }
        });
    }
}
