//! Fetching a result's files from the provider that keeps them
//! ([`OutputHolder::Provider`](gpunet_primitives::OutputHolder)), peer to
//! peer: the provider's peer is found on chain, dialled with this wallet's
//! key (which its gate checks against the order) and every byte is verified
//! against the manifest's BLAKE3 as it arrives.
//!
//! What arrives is kept in a download store beside the files
//! ([`DOWNLOAD_STORE`]) until every file is whole, so that fetching again
//! after a cut asks only for what is missing; it is removed once the
//! result is complete.

use crate::{ClientError, Wallet};
use gpunet_primitives::manifest::Manifest;
use gpunet_types::OrderView;
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
    use gpunet_p2p::{AllowList, Peer, PeerConfig, Reach};
    use std::sync::Arc;

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
    let store = dir.join(DOWNLOAD_STORE);
    let config = PeerConfig {
        dir: store.clone(),
        // Dials out only; reaches the holder's relay when it has one.
        reach: Reach::Direct {
            bind: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
            relay: holder.relay.clone(),
        },
        connect_timeout: PeerConfig::CONNECT_TIMEOUT,
        // What a cut download left is kept for the next try.
        collect_every: None,
    };
    let kept = |e: String| {
        failed(format!(
            "order {}'s outputs are kept by its provider {provider}: {e} (the provider's agent \
             must be running; fetching again resumes where this stopped)",
            order.id
        ))
    };
    let peer = Peer::start(wallet.key(), config, Arc::new(AllowList::default()))
        .await
        .map_err(|e| kept(e.to_string()))?;
    let fetched = fetch_files(&peer, &holder, manifest, dir).await;
    peer.shutdown().await;
    fetched.map_err(kept)?;
    std::fs::remove_dir_all(&store)?;
    Ok(())
}

#[cfg(feature = "p2p")]
async fn fetch_files(
    peer: &gpunet_p2p::Peer,
    holder: &gpunet_types::PeerAddr,
    manifest: &Manifest,
    dir: &Path,
) -> Result<(), String> {
    for file in &manifest.files {
        let fetched = peer
            .fetch(file.hash, std::slice::from_ref(holder), |_| {})
            .await
            .map_err(|e| format!("{}: {e}", file.path))?;
        if fetched.size != file.size {
            return Err(format!(
                "{} has {} bytes, the manifest says {}",
                file.path, fetched.size, file.size
            ));
        }
        let to = dir.join(&file.path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        // The download store goes afterwards: the file moves out of it.
        peer.move_out(file.hash, &to)
            .await
            .map_err(|e| format!("{}: {e}", file.path))?;
    }
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
