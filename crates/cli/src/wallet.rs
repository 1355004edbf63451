//! `gpunet wallet`: keys, balances and transfers.

use crate::ctx::Ctx;
use crate::output::{gpn, time_until};
use crate::owner;
use anyhow::Context;
use clap::Subcommand;
use gpunet_client::{Keystore, Protection};
use gpunet_primitives::{parse_amount, Address, Keypair, TxBody};

#[derive(Subcommand)]
pub(crate) enum WalletCmd {
    /// Create a new key in the keystore file (mode 0600), sealed with a
    /// passphrase: from GPUNET_PASSPHRASE, or asked twice on the terminal.
    #[command(
        after_help = "Examples:\n  gpunet wallet new --keystore ~/.gpunet/wallet.json\n  gpunet wallet new --plaintext --keystore throwaway.json"
    )]
    New {
        /// Keep the key unencrypted (for throwaway and test keys: anyone
        /// who reads the file can spend from it).
        #[arg(long)]
        plaintext: bool,
    },
    /// Show your address.
    #[command(after_help = "Example:\n  gpunet wallet show")]
    Show,
    /// Show balance, stake and nonce (yours, or ADDRESS's).
    #[command(
        after_help = "Examples:\n  gpunet wallet balance\n  gpunet wallet balance $(gpunet --keystore friend.json wallet show) -o json"
    )]
    Balance { address: Option<String> },
    /// Send GPN to another account.
    #[command(
        after_help = "Example:\n  gpunet wallet transfer $(gpunet --keystore friend.json wallet show) 12.5"
    )]
    Transfer { to: String, amount: String },
    /// Bond provider stake (the agent bonds what its machines require by itself).
    #[command(after_help = "Example:\n  gpunet wallet stake 100")]
    Stake { amount: String },
    /// Start unbonding provider stake: without AMOUNT, all that your machines
    /// do not require. It returns to your balance after the unbonding delay.
    #[command(after_help = "Example:\n  gpunet wallet unstake 40")]
    Unstake { amount: Option<String> },
}

pub(crate) async fn wallet(ctx: &Ctx, cmd: WalletCmd) -> anyhow::Result<()> {
    match cmd {
        WalletCmd::New { plaintext } => {
            let protection = if plaintext {
                Protection::Plaintext
            } else {
                Protection::passphrase_from_env_or_prompt()?
            };
            let key = Keypair::generate();
            let keystore = ctx.keystore()?;
            Keystore::create(&keystore, &key, &protection)?;
            let sealed = matches!(protection, Protection::Passphrase(_));
            let out = serde_json::json!({
                "address": key.address(),
                "keystore": keystore,
                "sealed": sealed,
            });
            ctx.output.print(&out, || {
                format!(
                    "new wallet {}\nkeystore  {} (mode 0600, {})",
                    key.address(),
                    keystore.display(),
                    if sealed {
                        "sealed with your passphrase"
                    } else {
                        "unencrypted"
                    }
                )
            });
        }
        WalletCmd::Show => {
            let key = Keystore::load(&ctx.keystore()?)?;
            ctx.output
                .print(&serde_json::json!({ "address": key.address() }), || {
                    key.address().to_string()
                });
        }
        WalletCmd::Balance { address } => {
            let address: Address = match address {
                Some(a) => a.parse().context("invalid address")?,
                None => Keystore::load(&ctx.keystore()?)?.address(),
            };
            let client = ctx.client()?;
            let view = client.account(&address).await?;
            let now_ms = client.status().await?.time_ms;
            let a = &view.account;
            ctx.output.print(&view, || {
                let mut text = format!(
                    "address   {address}\nbalance   {}\nbonded    {} (provider), {} (validator)\nunbonding {}",
                    gpn(a.balance),
                    gpn(a.bonded),
                    gpn(a.validator_bonded),
                    gpn(a.unbonding_total()),
                );
                for u in &a.unbonding {
                    text += &format!(
                        "\n          {} back in {}",
                        gpn(u.amount),
                        time_until(now_ms, u.release_ms)
                    );
                }
                text + &format!("\nnonce     {}", a.nonce)
            });
        }
        WalletCmd::Transfer { to, amount } => {
            let to: Address = to.parse().context("invalid recipient address")?;
            let amount = parse_amount(&amount)?;
            let included = ctx.wallet()?.send(TxBody::Transfer { to, amount }).await?;
            ctx.output.print(&included, || {
                format!("sent {} to {to} in block {}", gpn(amount), included.height)
            });
        }
        WalletCmd::Stake { amount } => owner::stake(ctx, &amount).await?,
        WalletCmd::Unstake { amount } => owner::unstake(ctx, amount.as_deref()).await?,
    }
    Ok(())
}
