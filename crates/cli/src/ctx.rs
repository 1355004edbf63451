//! What every client command shares: where the node is, whose keystore signs,
//! and how output is printed. Each comes from its global option (or its
//! environment variable), else from the profile (`--profile`, else the
//! configuration's default: `gpunet_client::config`), else from a default.

use crate::output::Output;
use anyhow::Context;
use gpunet_client::config::{Config, Profile};
use gpunet_client::{Keystore, NodeClient, Wallet};
use gpunet_types::NodeAddress;
use std::path::{Path, PathBuf};

/// The global options every client command takes.
pub(crate) struct Ctx {
    pub node: Option<String>,
    pub keystore: Option<PathBuf>,
    pub profile: Option<String>,
    pub output: Output,
}

/// Where `gpunet devnet` keeps its data by default.
pub(crate) const DEVNET_DIR: &str = ".gpunet/devnet";

/// The keystore when neither an option nor a profile names one.
pub(crate) fn default_keystore() -> PathBuf {
    std::env::var_os("HOME")
        .map_or_else(
            || PathBuf::from(".gpunet"),
            |h| PathBuf::from(h).join(".gpunet"),
        )
        .join("wallet.json")
}

impl Ctx {
    /// The profile in use: the one `--profile` names (it must exist), else
    /// the configuration's default, if any.
    pub(crate) fn profile(&self) -> anyhow::Result<Option<Profile>> {
        let path = Config::path()?;
        let config = Config::load(&path)?;
        Ok(match &self.profile {
            Some(name) => Some(config.profile(name, &path)?.clone()),
            None => config.default_entry().map(|(_, p)| p.clone()),
        })
    }

    /// The keystore: `--keystore`, else the profile's, else `~/.gpunet/wallet.json`.
    pub(crate) fn keystore(&self) -> anyhow::Result<PathBuf> {
        if let Some(keystore) = &self.keystore {
            return Ok(keystore.clone());
        }
        Ok(self
            .profile()?
            .map_or_else(default_keystore, |p| p.keystore))
    }

    /// The node addresses: `--node`, else the profile's, else the devnet
    /// started from this directory.
    pub(crate) fn node_addresses(&self) -> anyhow::Result<String> {
        if let Some(node) = &self.node {
            return Ok(node.clone());
        }
        if let Some(profile) = self.profile()? {
            return Ok(profile.node);
        }
        let path = Path::new(DEVNET_DIR).join(NodeAddress::FILE);
        let address = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "no --node given, no profile, and no local devnet address in {}: pass --node \
                 https://HOST:PORT#KEY (or set GPUNET_NODE), write a profile with `gpunet init \
                 --node https://HOST:PORT#KEY`, or start `gpunet devnet`",
                path.display()
            )
        })?;
        Ok(address.trim().to_string())
    }

    pub(crate) fn client(&self) -> anyhow::Result<NodeClient> {
        Ok(NodeClient::new(&self.node_addresses()?)?)
    }

    pub(crate) fn wallet(&self) -> anyhow::Result<Wallet> {
        Ok(Wallet::new(
            Keystore::load(&self.keystore()?)?,
            self.client()?,
        ))
    }
}
