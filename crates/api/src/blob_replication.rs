//! Blobs that live on more than the node they were uploaded to.
//!
//! A client uploads its inputs to one node and a provider its outputs to
//! another; until this module, every other node copied a blob only when
//! asked for it, so a result whose node died before anyone read it was lost.
//! Now each blob an order names (its inputs, its result: the manifest and
//! every file it lists) is copied ahead of any read by `replicas` validators,
//! picked by rendezvous hashing ([`holders`]): every node computes the same
//! holders from the validator set alone, load spreads evenly, and a
//! validator joining or leaving moves only the blobs it is a holder of. A
//! result's files go where its manifest goes, so one set of nodes holds it
//! whole.
//!
//! A holder copies a blob when the order naming it is submitted or reported
//! (its uploader has it by then) and, for what failed (no peer had it yet,
//! this node was down), at every sweep. Copies are verified against their
//! hash, and kept as long as [`gpunet_node::BlobRetention`] keeps the blob.
//! Nothing here is consensus: a node that does not replicate only makes the
//! network's copies fewer.

use axum::http::HeaderValue;
use futures_util::StreamExt;
use gpunet_node::{
    manifest_files, named_by_orders, wall_clock_ms, BlobError, BlobRetention, NamedBlobs, Node,
};
use gpunet_primitives::{Address, BlobRead, Hash, Keypair, SignedBlobRead};
use gpunet_types::api::{header_value, BLOB_READ_HEADER, LOCAL_ONLY_HEADER};
use gpunet_types::BlockEvent;
use gpunet_types::Event;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// How soon blobs found on no peer are looked for again; the wait doubles
/// while they stay missing, up to `sweep_every`. A peer that was cut off or
/// restarting usually answers within seconds, and a result should not wait
/// a whole sweep for its copies.
const FIRST_RETRY: Duration = Duration::from_secs(2);

/// How many copies of each blob validators keep, and how often they check.
#[derive(Clone, Copy, Debug)]
pub struct BlobReplication {
    /// Validators that keep a copy of each blob (besides its uploader's node).
    pub replicas: usize,
    /// How often every blob the ledger names is checked for missing copies.
    pub sweep_every: Duration,
}

impl Default for BlobReplication {
    fn default() -> Self {
        BlobReplication {
            replicas: 3,
            sweep_every: Duration::from_secs(600),
        }
    }
}

/// The `replicas` validators that keep `blob`: those whose hash with it is
/// highest (all of them when there are fewer).
pub fn holders(blob: &Hash, validators: &[Address], replicas: usize) -> Vec<Address> {
    let weight = |validator: &Address| {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"gpunet blob holder");
        hasher.update(blob.as_bytes());
        hasher.update(validator.as_bytes());
        *hasher.finalize().as_bytes()
    };
    let mut ranked: Vec<([u8; 32], Address)> = validators.iter().map(|v| (weight(v), *v)).collect();
    ranked.sort_unstable_by(|a, b| b.cmp(a));
    ranked.into_iter().take(replicas).map(|(_, v)| v).collect()
}

/// Why [`fetch_from_peers`] brought no copy.
#[derive(Debug)]
pub(crate) enum PeerFetchError {
    /// No peer answered with the whole blob under its hash.
    NoPeerHasIt,
    /// This node cannot store it (its disk below the free-space floor, the
    /// blob over its limit, a failed write): no other peer would change that.
    Store(BlobError),
}

/// Copies a blob from the first peer node that has it and lets `read` (a
/// signed `BlobRead`, encoded as in [`BLOB_READ_HEADER`]) read it, verified
/// against its hash: its size.
pub(crate) async fn fetch_from_peers(
    node: &Node,
    hash: Hash,
    read: &HeaderValue,
) -> Result<u64, PeerFetchError> {
    let peers = crate::routes::peer_addresses(node);
    let http = gpunet_client::tls::http_client_for(&peers);
    for peer in &peers {
        let Ok(resp) = http
            .get(format!("{}/v1/blobs/{hash}", peer.url))
            .header(LOCAL_ONLY_HEADER, "1")
            .header(BLOB_READ_HEADER, read.clone())
            .send()
            .await
        else {
            continue;
        };
        if !resp.status().is_success() {
            continue;
        }
        let size = resp.content_length().unwrap_or(0);
        let mut writer = node
            .blobs
            .writer(size)
            .await
            .map_err(PeerFetchError::Store)?;
        let mut body = resp.bytes_stream();
        let mut complete = true;
        while let Some(chunk) = body.next().await {
            let Ok(chunk) = chunk else {
                complete = false;
                break;
            };
            writer.write(&chunk).await.map_err(PeerFetchError::Store)?;
        }
        if !complete {
            continue;
        }
        match writer.finish(Some(hash)).await {
            Ok((_, size)) => return Ok(size),
            // That peer sent something else: another may send the blob.
            Err(BlobError::HashMismatch { .. }) => continue,
            Err(e) => return Err(PeerFetchError::Store(e)),
        }
    }
    Err(PeerFetchError::NoPeerHasIt)
}

/// Keeps this node's share of copies (it is the validator of `key`, which
/// signs its reads) for as long as the runtime runs: on every order
/// submitted or reported, and every `replication.sweep_every` for everything
/// `retention` keeps.
pub fn spawn_blob_replication(
    node: Node,
    key: Keypair,
    replication: BlobReplication,
    retention: BlobRetention,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut events = node.events.subscribe();
        let mut sweep = tokio::time::interval(replication.sweep_every);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Results this node holds whole, so sweeps do not read their
        // manifests again.
        let mut whole = BTreeSet::new();
        let mut retry = FIRST_RETRY;
        loop {
            let named = tokio::select! {
                _ = sweep.tick() => {
                    let named = {
                        let ledger = node.ledger.read().expect("ledger lock");
                        named_by_orders(&ledger, retention.after_close)
                    };
                    let still_named: BTreeSet<&Hash> = named.roots.iter().collect();
                    whole.retain(|root| still_named.contains(root));
                    named
                }
                event = events.recv() => match event {
                    Ok(event) => named_by_event(&node, &event),
                    Err(RecvError::Lagged(_)) => {
                        sweep.reset_immediately();
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                },
            };
            let copied = replicate(&node, &key, replication.replicas, named, &mut whole).await;
            if copied.missing > 0 || copied.unstored.is_some() {
                let unstored = copied.unstored.as_ref().map_or(String::new(), |(n, e)| {
                    format!("; {n} could not be stored here ({e})")
                });
                tracing::warn!(
                    "blob replication copied {} blobs ({} bytes); {} found on no peer{unstored}, retried in {retry:?}",
                    copied.blobs, copied.bytes, copied.missing
                );
                sweep.reset_after(retry);
                retry = (retry * 2).min(replication.sweep_every);
                continue;
            }
            retry = FIRST_RETRY;
            if copied.blobs > 0 {
                tracing::info!(
                    "blob replication copied {} blobs ({} bytes)",
                    copied.blobs,
                    copied.bytes
                );
            }
        }
    })
}

/// The blobs a new order or a new result names.
fn named_by_event(node: &Node, event: &BlockEvent) -> NamedBlobs {
    let ledger = node.ledger.read().expect("ledger lock");
    let mut named = NamedBlobs::default();
    match &event.event {
        Event::OrderSubmitted { order, .. } => {
            if let Some(order) = ledger.order(*order) {
                // A file of a result its provider keeps is on no node.
                let held = order
                    .spec
                    .inputs
                    .iter()
                    .filter(|i| i.holder_proof().is_some());
                named.inputs.extend(held.map(|i| i.hash));
            }
        }
        // A rental ended by its renter may have saved its workspace.
        Event::OrderReported { order, .. } | Event::RentalEnded { order, .. } => {
            if let Some(order) = ledger.order(*order) {
                named.add_results_of(&ledger, order);
            }
        }
        _ => {}
    }
    named
}

#[derive(Debug, Default)]
struct Copied {
    blobs: u64,
    bytes: u64,
    /// Blobs this node should hold but no peer had.
    missing: u64,
    /// Blobs this node could not store, and the last reason why.
    unstored: Option<(u64, BlobError)>,
}

/// Fetches the blobs of `named` that this node is a holder of and lacks;
/// `whole`: the results it holds with all their files, skipped.
async fn replicate(
    node: &Node,
    key: &Keypair,
    replicas: usize,
    named: NamedBlobs,
    whole: &mut BTreeSet<Hash>,
) -> Copied {
    let validators: Vec<Address> = {
        let ledger = node.ledger.read().expect("ledger lock");
        let next = ledger.head().height + 1;
        ledger
            .validator_set(next)
            .into_iter()
            .map(|(v, _)| v)
            .collect()
    };
    let me = key.address();
    let mine = |blob: &Hash| holders(blob, &validators, replicas).contains(&me);
    let mut copied = Copied::default();
    // Inputs, and the manifests of results their providers keep: one blob each.
    for blob in named
        .inputs
        .iter()
        .chain(&named.manifests)
        .filter(|h| mine(h))
    {
        ensure(node, key, *blob, &mut copied).await;
    }
    for root in named.roots {
        if !mine(&root) || whole.contains(&root) || !ensure(node, key, root, &mut copied).await {
            continue;
        }
        let blobs = node.blobs.clone();
        let files = tokio::task::spawn_blocking(move || manifest_files(&blobs, &root))
            .await
            .unwrap_or_default();
        let mut all = true;
        for file in files {
            all &= ensure(node, key, file, &mut copied).await;
        }
        if all {
            whole.insert(root);
        }
    }
    copied
}

/// How long a validator's own read request is valid.
const READ_VALIDITY_MS: u64 = 5 * 60 * 1000;

/// A read of any blob, signed by validator `key`.
fn validator_read(node: &Node, key: &Keypair) -> HeaderValue {
    let chain_id = node
        .ledger
        .read()
        .expect("ledger lock")
        .chain_id()
        .to_owned();
    let not_after_ms = wall_clock_ms() + READ_VALIDITY_MS;
    let read = SignedBlobRead::sign(BlobRead { order: None }, &chain_id, not_after_ms, key);
    HeaderValue::try_from(header_value(&read)).expect("hex is a valid header value")
}

/// Whether this node holds `blob`, fetching it from its peers (as the
/// validator of `key`) if it lacks it.
async fn ensure(node: &Node, key: &Keypair, blob: Hash, copied: &mut Copied) -> bool {
    if node.blobs.contains(&blob) {
        return true;
    }
    match fetch_from_peers(node, blob, &validator_read(node, key)).await {
        Ok(size) => {
            copied.blobs += 1;
            copied.bytes += size;
            true
        }
        Err(PeerFetchError::NoPeerHasIt) => {
            copied.missing += 1;
            false
        }
        Err(PeerFetchError::Store(e)) => {
            let unstored = copied.unstored.take().map_or(0, |(n, _)| n);
            copied.unstored = Some((unstored + 1, e));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validators(n: u8) -> Vec<Address> {
        (0..n).map(|i| Address([i; 32])).collect()
    }

    fn blob(i: u32) -> Hash {
        Hash::digest(&i.to_le_bytes())
    }

    #[test]
    fn every_node_picks_the_same_distinct_holders() {
        let set = validators(10);
        let mut reversed = set.clone();
        reversed.reverse();
        for i in 0..100 {
            let picked = holders(&blob(i), &set, 3);
            assert_eq!(picked, holders(&blob(i), &reversed, 3), "order-free");
            assert_eq!(picked.len(), 3);
            let mut distinct = picked.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), 3);
        }
        assert_eq!(holders(&blob(0), &set[..2], 3).len(), 2, "all, when fewer");
        assert!(holders(&blob(0), &set, 0).is_empty());
    }

    #[test]
    fn copies_spread_evenly_over_validators() {
        let set = validators(10);
        let mut held = [0u32; 10];
        for i in 0..3_000 {
            for v in holders(&blob(i), &set, 3) {
                held[usize::from(v.0[0])] += 1;
            }
        }
        // 9,000 copies over 10 validators: 900 each, give or take sampling.
        assert!(held.iter().all(|&n| (780..=1_020).contains(&n)), "{held:?}");
    }

    #[test]
    fn a_validator_leaving_moves_only_the_blobs_it_held() {
        let set = validators(10);
        let without: Vec<Address> = set[1..].to_vec();
        for i in 0..1_000 {
            let before = holders(&blob(i), &set, 3);
            let after = holders(&blob(i), &without, 3);
            if before.contains(&set[0]) {
                let kept = before.iter().filter(|v| after.contains(v)).count();
                assert_eq!(kept, 2, "the other two holders stay");
            } else {
                assert_eq!(before, after);
            }
        }
    }
}
