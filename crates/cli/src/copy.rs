//! `gpunet rent cp`: files and directories between here and a rental,
//! resumable and verified (`gpunet_client::rental_copy` says how).

use gpunet_client::rental_copy::{self, Copied, Place};
use gpunet_client::rental_session::RentalLink;
use gpunet_client::Wallet;
use std::path::Path;

use crate::ctx::Ctx;

/// Copies `from` to `to`, one of them in a rental, and says what it did.
pub(crate) async fn copy(ctx: &Ctx, wallet: &Wallet, from: Place, to: Place) -> anyhow::Result<()> {
    let copied = rental_copy::copy(wallet, from, to).await?;
    ctx.output.print(&copied, || said(&copied));
    Ok(())
}

/// Copies local `from` to `to` in `link`'s rental, as `rent cp` does (the
/// rentals benchmark times it).
pub(crate) async fn upload(link: &RentalLink, from: &Path, to: &str) -> anyhow::Result<()> {
    let to = Place::Rental {
        order: link.order(),
        path: to.into(),
    };
    rental_copy::copy_on(link, Place::Local(from.into()), to).await?;
    Ok(())
}

fn said(copied: &Copied) -> String {
    format!(
        "copied {} file(s), {} bytes, to {}, verified by SHA-256{}",
        copied.files,
        copied.bytes,
        copied.destination,
        match copied.unchanged {
            0 => String::new(),
            n => format!("; {n} already there"),
        }
    )
}
