//! `gpunet init` and `gpunet profiles`: the profiles that tell every other
//! command which node to talk to and whose key signs (`gpunet_client::config`).

use crate::ctx::{default_keystore, Ctx};
use crate::output::table;
use anyhow::Context;
use gpunet_client::config::{Config, Profile};
use gpunet_client::{Keystore, NodeClient, Protection};
use gpunet_primitives::Keypair;
use std::path::{Path, PathBuf};

/// The profile `gpunet init` writes when `--profile` names none.
const DEFAULT_NAME: &str = "default";

/// The profile `gpunet devnet` registers.
pub(crate) const DEVNET_PROFILE: &str = "devnet";

/// `path` made absolute against the working directory, so a profile means
/// the same file from wherever a command runs.
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot make {} absolute", path.display()))
}

/// `gpunet init`: writes the profile `--profile` names (`default` if none)
/// with `--node` and `--keystore` (kept from the profile where not given;
/// the keystore defaults to ~/.gpunet/wallet.json), makes a new sealed key
/// in the keystore if it has none, and makes the profile the default when
/// asked or when there is none yet. Then it asks the node for its chain.
pub(crate) async fn init(ctx: &Ctx, make_default: bool, plaintext: bool) -> anyhow::Result<()> {
    let path = Config::path()?;
    let mut config = Config::load(&path)?;
    let name = ctx.profile.as_deref().unwrap_or(DEFAULT_NAME);
    let existing = config.profiles.get(name).cloned();
    let node = match (&ctx.node, &existing) {
        (Some(node), _) => node.clone(),
        (None, Some(p)) => p.node.clone(),
        (None, None) => anyhow::bail!(
            "`gpunet init` needs the node's address: --node https://HOST:PORT#KEY (a node \
             prints it when it starts; `gpunet devnet` writes its own profile)"
        ),
    };
    // A typo in the address is caught here, not at the next command.
    NodeClient::new(&node).context("--node")?;
    let keystore = absolute(
        &ctx.keystore
            .clone()
            .or(existing.map(|p| p.keystore))
            .unwrap_or_else(default_keystore),
    )?;
    let (address, created) = if keystore.exists() {
        (Keystore::load(&keystore)?.address(), false)
    } else {
        let protection = if plaintext {
            Protection::Plaintext
        } else {
            Protection::passphrase_from_env_or_prompt()?
        };
        let key = Keypair::generate();
        Keystore::create(&keystore, &key, &protection)?;
        (key.address(), true)
    };
    let is_default = config.set(
        name,
        Profile {
            node: node.clone(),
            keystore: keystore.clone(),
        },
        make_default,
    )?;
    config.save(&path)?;
    let chain = match NodeClient::new(&node)?.status().await {
        Ok(status) => Ok((status.chain_id, status.height)),
        Err(e) => Err(e.to_string()),
    };
    let out = serde_json::json!({
        "profile": name,
        "config": path,
        "node": node,
        "keystore": keystore,
        "address": address,
        "new_key": created,
        "default": is_default,
        "chain": chain.as_ref().ok().map(|(id, _)| id),
        "height": chain.as_ref().ok().map(|(_, h)| h),
        "unreachable": chain.as_ref().err(),
    });
    ctx.output.print(&out, || {
        let mut text = format!(
            "profile {name} written to {}{}\nnode      {node}\nkeystore  {} ({})\naddress   {address}\n",
            path.display(),
            if is_default {
                " (the default: commands use it from any directory)".to_string()
            } else {
                format!(" (use it with --profile {name})")
            },
            keystore.display(),
            if created { "a new key" } else { "existing key" },
        );
        text += &match &chain {
            Ok((id, height)) => format!("chain     {id}, at height {height}"),
            Err(e) => format!("the node does not answer now: {e}"),
        };
        text
    });
    Ok(())
}

/// `gpunet profiles`: every profile, the default marked.
pub(crate) fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let path = Config::path()?;
    let config = Config::load(&path)?;
    let default = config.default_entry().map(|(name, _)| name.to_string());
    let rows: Vec<serde_json::Value> = config
        .profiles
        .iter()
        .map(|(name, p)| {
            serde_json::json!({
                "profile": name,
                "default": default.as_deref() == Some(name.as_str()),
                "node": p.node,
                "keystore": p.keystore,
            })
        })
        .collect();
    ctx.output.print(&rows, || {
        if config.profiles.is_empty() {
            return format!(
                "no profiles in {}: `gpunet init --node https://HOST:PORT#KEY` writes one",
                path.display()
            );
        }
        let rows = config.profiles.iter().map(|(name, p)| {
            [
                if default.as_deref() == Some(name.as_str()) {
                    format!("{name} *")
                } else {
                    name.clone()
                },
                p.node.clone(),
                p.keystore.display().to_string(),
            ]
        });
        format!(
            "{}\n(* the default; in {})",
            table(["profile", "node", "keystore"], [false; 3], rows),
            path.display()
        )
    });
    Ok(())
}

/// Registers a running devnet as the profile `devnet` (the default if there
/// is none yet). Returns the configuration file and whether it is the default.
pub(crate) fn register_devnet(node: &str, keystore: &Path) -> anyhow::Result<(PathBuf, bool)> {
    let path = Config::path()?;
    let mut config = Config::load(&path)?;
    let is_default = config.set(
        DEVNET_PROFILE,
        Profile {
            node: node.to_string(),
            keystore: absolute(keystore)?,
        },
        false,
    )?;
    config.save(&path)?;
    Ok((path, is_default))
}
