//! `gpunet image`: images pushed from the local Docker engine and served
//! peer to peer to the providers that run them, without a registry
//! (`gpunet_client::images` says how).

use crate::ctx::Ctx;
use crate::output::table;
use anyhow::Context;
use clap::Subcommand;
use gpunet_client::images::{ImageGate, ImageStore, PushedImage};
use gpunet_client::Wallet;
use gpunet_p2p::{Peer, PeerAddr, PeerConfig, Reach};
use gpunet_provider::executor::{DockerConfig, DockerExecutor};
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Subcommand)]
pub(crate) enum ImageCmd {
    /// Save IMAGE from the local Docker engine into your store of pushed
    /// images (GPUNET_IMAGES, else ~/.gpunet/images). A job that names it
    /// (by that name, its id or the blake3:ROOT printed) carries its archive's
    /// root and your proof of holding it; providers whose engine lacks it
    /// fetch it peer to peer from `gpunet image serve` or from each other.
    #[command(after_help = "Examples:\n  gpunet image push my/trainer:1\n  gpunet image ls")]
    Push {
        /// A name or id the local engine knows.
        image: String,
    },
    /// List the images pushed from here.
    #[command(after_help = "Example:\n  gpunet image ls")]
    Ls,
    /// Serve your pushed images to the providers of your orders that run
    /// them, until Ctrl-C; announces where on chain. Images pushed after it
    /// started are served once it is started again.
    #[command(after_help = "Example:\n  gpunet image serve --listen 0.0.0.0:4450")]
    Serve {
        /// Where providers reach it (QUIC, UDP).
        #[arg(long, default_value = "0.0.0.0:0")]
        listen: SocketAddr,
        /// A relay (`gpunet relay`) it is also reached through, for a
        /// machine that accepts no inbound connection.
        #[arg(long, value_name = "URL")]
        relay: Option<String>,
    },
}

pub(crate) async fn image(ctx: &Ctx, cmd: ImageCmd) -> anyhow::Result<()> {
    match cmd {
        ImageCmd::Push { image } => push(ctx, &image).await,
        ImageCmd::Ls => list(ctx),
        ImageCmd::Serve { listen, relay } => serve(ctx, listen, relay).await,
    }
}

/// What `image push` says.
#[derive(serde::Serialize)]
struct Pushed<'a> {
    image: &'a str,
    /// How a job file names it.
    reference: String,
    #[serde(flatten)]
    pushed: &'a PushedImage,
}

async fn push(ctx: &Ctx, image: &str) -> anyhow::Result<()> {
    let store = ImageStore::open(&ImageStore::default_dir())?;
    let engine = DockerExecutor::connect(DockerConfig::default()).await?;
    let staged = store.staging()?;
    let mut file = tokio::fs::File::from_std(staged.reopen()?);
    let id = engine.save_image(image, &mut file).await?;
    drop(file);
    let pushed = store.add(staged, &id, image)?;
    let said = Pushed {
        image,
        reference: pushed.reference(),
        pushed: &pushed,
    };
    ctx.output.print(&said, || {
        format!(
            "pushed {image} as {} ({}, {} bytes) into {}\njobs may name it {image:?} or {:?}; \
             serve it to their providers with `gpunet image serve`",
            said.reference,
            pushed.image_id,
            pushed.size,
            store.dir().display(),
            said.reference,
        )
    });
    Ok(())
}

fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let images = ImageStore::at(&ImageStore::default_dir()).list()?;
    ctx.output.print(&images, || {
        let rows = images.iter().map(|i| {
            [
                i.reference(),
                i.image_id.clone(),
                i.size.to_string(),
                i.names.join(", "),
            ]
        });
        table(
            ["root", "image id", "bytes", "names"],
            [false, false, true, false],
            rows,
        )
    });
    Ok(())
}

/// What `image serve` says once it serves.
#[derive(serde::Serialize)]
struct Serving {
    peer: PeerAddr,
    images: Vec<String>,
}

async fn serve(ctx: &Ctx, listen: SocketAddr, relay: Option<String>) -> anyhow::Result<()> {
    let wallet: Wallet = ctx.wallet()?;
    let store = ImageStore::open(&ImageStore::default_dir())?;
    let gate = ImageGate::new(wallet.node().clone());
    let config = PeerConfig {
        dir: store.dir().join("peer"),
        reach: Reach::Direct {
            bind: listen,
            relay,
        },
        connect_timeout: PeerConfig::CONNECT_TIMEOUT,
        // The archives are referred to in place; nothing to collect.
        collect_every: None,
    };
    let peer = Peer::start(wallet.key(), config, Arc::new(gate.clone())).await?;
    let mut images = Vec::new();
    for (root, secret) in store.secrets()? {
        let archive = store.archive(&root);
        let (added, _) = peer
            .add_file_in_place(&archive, &format!("image/{root}"))
            .await?;
        anyhow::ensure!(
            added == root,
            "{} changed while it was added",
            archive.display()
        );
        gate.allow(root, secret);
        images.push(format!("blake3:{root}"));
    }
    wallet
        .announce_peer(peer.addr())
        .await
        .context("announcing where the images are served")?;
    let serving = Serving {
        peer: peer.addr(),
        images,
    };
    ctx.output.print_line(&serving, || {
        format!(
            "serving {} pushed image(s) at {:?} to the providers of your orders that run them; \
             Ctrl-C stops",
            serving.images.len(),
            serving.peer.direct
        )
    });
    crate::signals::stop_asked().await;
    peer.shutdown().await;
    Ok(())
}
