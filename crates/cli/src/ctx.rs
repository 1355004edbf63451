//! What every client command shares: where the node is, whose keystore signs,
//! and how output is printed.

use crate::output::Output;
use anyhow::Context;
use gpunet_client::{Keystore, NodeClient, Wallet};
use gpunet_types::NodeAddress;
use std::path::{Path, PathBuf};

/// The global options every client command takes.
pub(crate) struct Ctx {
    pub node: Option<String>,
    pub keystore: PathBuf,
    pub output: Output,
}

/// Where `gpunet devnet` keeps its data by default.
pub(crate) const DEVNET_DIR: &str = ".gpunet/devnet";

impl Ctx {
    /// The node addresses given, or else the local devnet's.
    pub(crate) fn node_addresses(&self) -> anyhow::Result<String> {
        if let Some(node) = &self.node {
            return Ok(node.clone());
        }
        let path = Path::new(DEVNET_DIR).join(NodeAddress::FILE);
        let address = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "no --node given and no local devnet address in {}: pass --node \
                 https://HOST:PORT#KEY (or set GPUNET_NODE), or start `gpunet devnet` here",
                path.display()
            )
        })?;
        Ok(address.trim().to_string())
    }

    pub(crate) fn client(&self) -> anyhow::Result<NodeClient> {
        Ok(NodeClient::new(&self.node_addresses()?)?)
    }

    pub(crate) fn wallet(&self) -> anyhow::Result<Wallet> {
        Ok(Wallet::new(Keystore::load(&self.keystore)?, self.client()?))
    }
}
