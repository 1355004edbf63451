//! `gpunet serve`: this machine's peer, serving its pushed images and its
//! jobs' served inputs (`serve_inputs`) in place to the providers of its
//! orders (`gpunet_client::served` says who may read what).

use crate::ctx::Ctx;
use anyhow::Context;
use gpunet_client::images::ImageStore;
use gpunet_client::served::{OwnOrdersGate, ServedInputs};
use gpunet_client::Wallet;
use gpunet_p2p::{Peer, PeerAddr, PeerConfig, Reach};
use gpunet_primitives::{Hash, OrderId};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How often the record of served inputs is looked at for new ones: a
/// provider leased a job right after its submission asks again for a few
/// seconds (`gpunet_provider::run`).
const RECORD_POLL: Duration = Duration::from_millis(500);

/// What `serve` says once it serves.
#[derive(serde::Serialize)]
struct Serving {
    peer: PeerAddr,
    images: Vec<String>,
    inputs: usize,
}

pub(crate) async fn serve(
    ctx: &Ctx,
    listen: SocketAddr,
    relay: Option<String>,
) -> anyhow::Result<()> {
    let wallet: Wallet = ctx.wallet()?;
    let images = ImageStore::open(&ImageStore::default_dir())?;
    let served = ServedInputs::open(&ServedInputs::default_dir())?;
    let pruned = prune(&wallet, &served).await?;
    if pruned > 0 {
        tracing::info!("{pruned} served input(s) no open order needs were dropped");
    }
    let config = PeerConfig {
        dir: ServedInputs::default_dir().join("peer"),
        reach: Reach::Direct {
            bind: listen,
            relay,
        },
        connect_timeout: PeerConfig::CONNECT_TIMEOUT,
        // Everything is referred to in place; nothing to collect.
        collect_every: None,
    };
    let gate = OwnOrdersGate::new(wallet.node().clone(), wallet.address());
    let peer = Peer::start(wallet.key(), config, Arc::new(gate)).await?;
    let mut pushed = Vec::new();
    for image in images.list()? {
        let archive = images.archive(&image.root);
        let (added, _) = peer
            .add_file_in_place(&archive, &format!("image/{}", image.root))
            .await?;
        anyhow::ensure!(
            added == image.root,
            "{} changed since it was pushed; push the image again",
            archive.display()
        );
        pushed.push(image.reference());
    }
    let mut inputs = ServedFiles::default();
    inputs.catch_up(&peer, &served).await?;
    wallet
        .announce_peer(peer.addr())
        .await
        .context("announcing where this machine serves")?;
    let serving = Serving {
        peer: peer.addr(),
        images: pushed,
        inputs: inputs.hashes.len(),
    };
    ctx.output.print_line(&serving, || {
        format!(
            "serving {} pushed image(s) and {} input file(s) at {:?} to the providers of your \
             orders that name them; Ctrl-C stops",
            serving.images.len(),
            serving.inputs,
            serving.peer.direct
        )
    });
    let stop = crate::signals::stop_asked();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep(RECORD_POLL) => {
                if let Err(e) = inputs.catch_up(&peer, &served).await {
                    tracing::warn!("cannot read the served inputs' record: {e:#}");
                }
            }
        }
    }
    peer.shutdown().await;
    Ok(())
}

/// Drops from the record the inputs no open order of `wallet` names.
async fn prune(wallet: &Wallet, served: &ServedInputs) -> anyhow::Result<usize> {
    let orders: BTreeSet<OrderId> = served
        .list()?
        .iter()
        .flat_map(|input| input.orders.iter().copied())
        .collect();
    let mut open = BTreeMap::new();
    for id in orders {
        let is_open = match wallet.node().order(id).await {
            Ok(order) => order.status.is_open(),
            // An order the node does not know is no one's to serve.
            Err(e) if e.code() == Some("not_found") => false,
            Err(e) => {
                return Err(e).context("asking the node which served inputs are still needed")
            }
        };
        open.insert(id, is_open);
    }
    Ok(served.prune(|id| !open.get(&id).copied().unwrap_or(false))?)
}

/// The inputs this peer serves, and when their record last changed.
#[derive(Default)]
struct ServedFiles {
    hashes: BTreeSet<Hash>,
    seen: Option<SystemTime>,
}

impl ServedFiles {
    /// Adds, in place, the inputs recorded since the last look. A file
    /// changed or gone since its job was submitted is skipped: its job's
    /// provider cannot fetch it, and declines the job.
    async fn catch_up(&mut self, peer: &Peer, served: &ServedInputs) -> anyhow::Result<()> {
        let modified = match std::fs::metadata(served.path()) {
            Ok(meta) => Some(meta.modified()?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        if modified.is_none() || modified == self.seen {
            return Ok(());
        }
        self.seen = modified;
        for input in served.list()? {
            if self.hashes.contains(&input.hash) {
                continue;
            }
            match add(peer, &input.path, input.hash).await {
                Ok(()) => {
                    self.hashes.insert(input.hash);
                }
                Err(e) => tracing::warn!("not serving {}: {e:#}", input.path.display()),
            }
        }
        Ok(())
    }
}

/// Serves the file at `path`, which must still hash to `hash`.
async fn add(peer: &Peer, path: &Path, hash: Hash) -> anyhow::Result<()> {
    let tag = format!("input/{hash}");
    let (added, _) = peer.add_file_in_place(path, &tag).await?;
    if added != hash {
        peer.untag_prefix(&tag).await?;
        anyhow::bail!("it changed since its job was submitted");
    }
    Ok(())
}
