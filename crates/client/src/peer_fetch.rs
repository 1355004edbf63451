//! Fetching files peer to peer: a result's from the provider that keeps
//! them ([`OutputHolder::Provider`](gpunet_primitives::OutputHolder)), and
//! a job's inputs from the client that serves them (`gpunet serve`, fetched
//! by the job's provider). The holder's peer is found on chain, dialled
//! with this wallet's key (which its gate checks against the order) and
//! every byte is verified against the file's BLAKE3 as it arrives.
//!
//! What arrives is kept in a download store ([`DOWNLOAD_STORE`] beside a
//! result's files) until every file is whole, so that fetching again after
//! a cut asks only for what is missing; it is removed once all came.

use crate::{ClientError, Wallet};
use gpunet_primitives::manifest::Manifest;
use gpunet_primitives::Hash;
use gpunet_types::OrderView;
#[cfg(feature = "p2p")]
use gpunet_types::PeerAddr;
use std::path::Path;

/// The directory, inside the destination, that holds a download in progress.
pub const DOWNLOAD_STORE: &str = ".gpunet-download";

/// Fetches every file of `manifest`, the result of `order`, from its
/// provider's peer into `dir`.
#[cfg(feature = "p2p")]
pub(crate) async fn fetch_result(
    wallet: &Wallet,
    order: &OrderView,
    manifest: &Manifest,
    dir: &Path,
) -> Result<(), ClientError> {
    let failed = |why: String| ClientError::DataPlane(why);
    let provider = order.lease.as_ref().map(|l| l.provider).ok_or_else(|| {
        failed(format!(
            "order {} has a result but no provider on record",
            order.id
        ))
    })?;
    let Some(holder) = wallet.node().peer(&provider).await? else {
        return Err(failed(format!(
            "order {}'s outputs are kept by its provider {provider}, which announces no \
             data-plane peer",
            order.id
        )));
    };
    let kept = |e: String| {
        failed(format!(
            "order {}'s outputs are kept by its provider {provider}: {e} (the provider's agent \
             must be running; fetching again resumes where this stopped)",
            order.id
        ))
    };
    let files: Vec<WantedFile<'_>> = manifest
        .files
        .iter()
        .map(|file| WantedFile {
            path: &file.path,
            hash: file.hash,
            size: file.size,
        })
        .collect();
    let failures = fetch_from_peer(wallet, &holder, &files, dir, &dir.join(DOWNLOAD_STORE))
        .await
        .map_err(|e| kept(e.to_string()))?;
    match failures.into_iter().next() {
        Some((path, why)) => Err(kept(format!("{path}: {why}"))),
        None => Ok(()),
    }
}

/// A file to fetch peer to peer: where it goes and what it must be.
#[derive(Clone, Copy, Debug)]
pub struct WantedFile<'a> {
    /// Its path under the destination.
    pub path: &'a str,
    /// BLAKE3 of its content.
    pub hash: Hash,
    /// Its size in bytes.
    pub size: u64,
}

/// Fetches each of `files` from `holder`'s peer into `dir`, dialling with
/// `wallet`'s key, through a download store at `store` (removed once every
/// file is whole; kept otherwise, so that fetching again resumes). Returns
/// the files that could not be had, each with why; an `Err` when no peer
/// could be started here.
#[cfg(feature = "p2p")]
pub async fn fetch_from_peer(
    wallet: &Wallet,
    holder: &PeerAddr,
    files: &[WantedFile<'_>],
    dir: &Path,
    store: &Path,
) -> Result<Vec<(String, String)>, ClientError> {
    use gpunet_p2p::{AllowList, Peer, PeerConfig, Reach};
    use std::sync::Arc;

    let config = PeerConfig {
        dir: store.to_path_buf(),
        // Dials out only; reaches the holder's relay when it has one.
        reach: Reach::Direct {
            bind: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
            relay: holder.relay.clone(),
        },
        connect_timeout: PeerConfig::CONNECT_TIMEOUT,
        // What a cut download left is kept for the next try.
        collect_every: None,
    };
    let peer = Peer::start(wallet.key(), config, Arc::new(AllowList::default()))
        .await
        .map_err(|e| ClientError::DataPlane(e.to_string()))?;
    let mut failures = Vec::new();
    for (i, file) in files.iter().enumerate() {
        match fetch_file(&peer, holder, file, dir).await {
            Ok(()) => {}
            Err(FileFailure::Unreachable(why)) => {
                // No other file would come from a peer that did not answer.
                failures.extend(files[i..].iter().map(|f| (f.path.to_string(), why.clone())));
                break;
            }
            Err(FileFailure::File(why)) => failures.push((file.path.to_string(), why)),
        }
    }
    peer.shutdown().await;
    if failures.is_empty() {
        std::fs::remove_dir_all(store)?;
    }
    Ok(failures)
}

/// Why one file did not come.
#[cfg(feature = "p2p")]
enum FileFailure {
    /// The holder could not be reached at all.
    Unreachable(String),
    /// This file could not be had.
    File(String),
}

#[cfg(feature = "p2p")]
async fn fetch_file(
    peer: &gpunet_p2p::Peer,
    holder: &PeerAddr,
    file: &WantedFile<'_>,
    dir: &Path,
) -> Result<(), FileFailure> {
    let fetched = peer
        .fetch(file.hash, std::slice::from_ref(holder), |_| {})
        .await
        .map_err(|e| match e {
            gpunet_p2p::P2pError::Connect { .. } => FileFailure::Unreachable(e.to_string()),
            e => FileFailure::File(e.to_string()),
        })?;
    if fetched.size != file.size {
        return Err(FileFailure::File(format!(
            "{} bytes arrived where {} were expected",
            fetched.size, file.size
        )));
    }
    let to = dir.join(file.path);
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| FileFailure::File(format!("{}: {e}", parent.display())))?;
    }
    // The download store goes afterwards: the file moves out of it.
    peer.move_out(file.hash, &to)
        .await
        .map_err(|e| FileFailure::File(e.to_string()))?;
    Ok(())
}

/// Without the data plane (the `p2p` feature), a result kept by its
/// provider cannot be fetched.
#[cfg(not(feature = "p2p"))]
pub(crate) async fn fetch_result(
    _wallet: &Wallet,
    order: &OrderView,
    _manifest: &Manifest,
    _dir: &Path,
) -> Result<(), ClientError> {
    Err(ClientError::DataPlane(format!(
        "order {}'s outputs are kept by its provider and fetched peer to peer, which this build \
         cannot do (built without the `p2p` feature); use the gpunet CLI",
        order.id
    )))
}
