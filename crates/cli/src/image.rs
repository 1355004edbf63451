//! `gpunet image`: images pushed from the local Docker engine and served
//! peer to peer to the providers that run them, without a registry
//! (`gpunet_client::images` says how).

use crate::ctx::Ctx;
use crate::output::table;
use clap::Subcommand;
use gpunet_client::images::{ImageStore, PushedImage};
use gpunet_provider::executor::{DockerConfig, DockerExecutor};

#[derive(Subcommand)]
pub(crate) enum ImageCmd {
    /// Save IMAGE from the local Docker engine into your store of pushed
    /// images (GPUNET_IMAGES, else ~/.gpunet/images). A job that names it
    /// (by that name, its id or the blake3:ROOT printed) carries its archive's
    /// root and your proof of holding it; providers whose engine lacks it
    /// fetch it peer to peer from `gpunet serve` or from each other.
    #[command(after_help = "Examples:\n  gpunet image push my/trainer:1\n  gpunet image ls")]
    Push {
        /// A name or id the local engine knows.
        image: String,
    },
    /// List the images pushed from here.
    #[command(after_help = "Example:\n  gpunet image ls")]
    Ls,
}

pub(crate) async fn image(ctx: &Ctx, cmd: ImageCmd) -> anyhow::Result<()> {
    match cmd {
        ImageCmd::Push { image } => push(ctx, &image).await,
        ImageCmd::Ls => list(ctx),
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
             serve it to their providers with `gpunet serve`",
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
