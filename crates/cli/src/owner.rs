//! Machine owners' and validators' commands: a machine offline and back,
//! removed with its stake returned; provider and validator stake.

use crate::ctx::Ctx;
use crate::output::{gpn, time_until};
use clap::Subcommand;
use gpunet_client::owner::{self, Unbonded};
use gpunet_primitives::{parse_amount, MachineId, TxBody};
use std::time::Duration;

#[derive(Subcommand)]
pub(crate) enum ValidatorCmd {
    /// Bond validator stake: voting power is each whole `stake_per_vote`
    /// bonded, from the next block on (run a `gpunet node --bft` with this key).
    #[command(after_help = "Example:\n  gpunet validator bond 1000")]
    Bond { amount: String },
    /// Start unbonding validator stake: it leaves the voting power from the
    /// next block on and returns to the balance after the unbonding delay
    /// (slashable until then).
    #[command(after_help = "Example:\n  gpunet validator unbond 1000")]
    Unbond { amount: String },
}

/// Takes machine `id` off the market (`online: false`) or lists it again.
pub(crate) async fn set_online(ctx: &Ctx, id: MachineId, online: bool) -> anyhow::Result<()> {
    let included = owner::set_online(&ctx.wallet()?, id, online).await?;
    ctx.output.print(&included, || {
        if online {
            format!(
                "machine {id} is listed again once it passes a new hardware challenge \
                 (keep its agent running; block {})",
                included.height
            )
        } else {
            format!(
                "machine {id} is offline: it takes no new work, what runs goes on (block {})",
                included.height
            )
        }
    });
    Ok(())
}

pub(crate) async fn remove(
    ctx: &Ctx,
    id: MachineId,
    wait_secs: u64,
    keep_stake: bool,
) -> anyhow::Result<()> {
    let wallet = ctx.wallet()?;
    eprintln!("taking machine {id} offline and waiting for its leases and challenge to end");
    let removal =
        owner::remove_machine(&wallet, id, Duration::from_secs(wait_secs), !keep_stake).await?;
    let now_ms = wallet.node().status().await?.time_ms;
    ctx.output.print(&removal, || {
        let stake = if keep_stake {
            "its stake stays bonded (gpunet wallet unstake returns it)".into()
        } else {
            unbonded_text(removal.unbonded, now_ms)
        };
        format!("machine {id} removed in block {}\n{stake}", removal.height)
    });
    Ok(())
}

/// `gpunet wallet stake`: bonds provider stake ahead of registering machines.
pub(crate) async fn stake(ctx: &Ctx, amount: &str) -> anyhow::Result<()> {
    let amount = parse_amount(amount)?;
    let included = ctx.wallet()?.send(TxBody::Stake { amount }).await?;
    ctx.output.print(&included, || {
        format!("bonded {} in block {}", gpn(amount), included.height)
    });
    Ok(())
}

/// `gpunet wallet unstake`: unbonds provider stake (all its machines do not
/// require, without an amount).
pub(crate) async fn unstake(ctx: &Ctx, amount: Option<&str>) -> anyhow::Result<()> {
    let amount = amount.map(parse_amount).transpose()?;
    let wallet = ctx.wallet()?;
    let unbonded = owner::unstake(&wallet, amount).await?;
    let now_ms = wallet.node().status().await?.time_ms;
    ctx.output
        .print(&unbonded, || unbonded_text(unbonded, now_ms));
    Ok(())
}

pub(crate) async fn validator(ctx: &Ctx, cmd: ValidatorCmd) -> anyhow::Result<()> {
    let (body, verb) = match cmd {
        ValidatorCmd::Bond { amount } => (
            TxBody::BondValidator {
                amount: parse_amount(&amount)?,
            },
            "bonded",
        ),
        ValidatorCmd::Unbond { amount } => (
            TxBody::UnbondValidator {
                amount: parse_amount(&amount)?,
            },
            "unbonding",
        ),
    };
    let wallet = ctx.wallet()?;
    let included = wallet.send(body).await?;
    let account = wallet.node().account(&wallet.address()).await?.account;
    ctx.output.print(&account, || {
        format!(
            "{verb} (block {}); validator stake now {}, unbonding {}",
            included.height,
            gpn(account.validator_bonded),
            gpn(account.unbonding_total())
        )
    });
    Ok(())
}

fn unbonded_text(unbonded: Option<Unbonded>, now_ms: u64) -> String {
    match unbonded {
        Some(u) => format!(
            "unbonding {}: back in your balance in {} (slashable until then)",
            gpn(u.amount),
            time_until(now_ms, u.release_ms)
        ),
        None => "no stake to unbond: your machines require all you have bonded".into(),
    }
}
