//! `gpunet machines`: the offer search, and why nothing matches.

use crate::ctx::Ctx;
use crate::output::{gpn, table};
use crate::owner;
use clap::Subcommand;
use gpunet_client::{Keystore, NodeClient};
use gpunet_primitives::MachineId;
use gpunet_types::api::MachineSearch;

#[derive(Subcommand)]
pub(crate) enum MachinesCmd {
    /// List registered machines, filtered and sorted like an offer search:
    /// `gpunet machines list 'gpu_model=H100 vram>=80 price<=2.5' -o price`
    /// (quote the query: `>` and `<` redirect in a shell). When nothing
    /// matches, it says which machines come closest and what they miss.
    ///
    /// Fields: id, gpu_model (substring), gpu_vendor, num_gpus, vram (GB per
    /// GPU), cpu, ram (GB), disk (GB), region, price (base GPN/hour), gpu_price
    /// (GPN per GPU-hour), online,
    /// verified, gops, reliability, leases, owner. Operators: = != >= <= > <.
    /// The node runs the search and sends only what it returns.
    #[command(
        after_help = "Example:\n  gpunet machines list 'gpu_model=H100 vram>=80 price<=2.5 verified=true' --sort price --limit 20"
    )]
    List {
        /// Filters, e.g. `num_gpus>=2 verified=true`.
        query: Vec<String>,
        /// Sort keys, comma-separated; `-` for descending, e.g. `-gops,price`.
        #[arg(
            short = 's',
            long = "sort",
            alias = "order",
            allow_hyphen_values = true
        )]
        order: Option<String>,
        /// Show at most this many machines (the first in the order).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Only your machines (owned by the wallet's address).
        #[arg(long)]
        mine: bool,
    },
    /// Take your machine off the market: no new work; what runs goes on.
    #[command(after_help = "Example:\n  gpunet machines pause 3")]
    Pause { id: MachineId },
    /// List your paused (or delisted) machine again: it proves its hardware
    /// again first, so keep its agent running.
    #[command(after_help = "Example:\n  gpunet machines resume 3")]
    Resume { id: MachineId },
    /// Remove your machine for good: it goes offline, its leases run out and
    /// its open hardware challenge is answered (keep the agent running), then
    /// it is deregistered and the stake it freed starts unbonding.
    #[command(after_help = "Example:\n  gpunet machines remove 3")]
    Remove {
        id: MachineId,
        /// How long to wait for its leases and challenge to end, e.g. 30m.
        #[arg(long = "wait-for", alias = "wait-secs", default_value = "1h", value_parser = crate::rent::parse_duration)]
        wait_secs: u64,
        /// Keep the freed stake bonded (for another machine).
        #[arg(long)]
        keep_stake: bool,
    },
}

/// Says on stderr that `search` found nothing, and which machines come
/// closest and what they miss.
async fn explain_no_match(client: &NodeClient, search: &MachineSearch) -> anyhow::Result<()> {
    let query = search.q.as_deref().unwrap_or_default();
    let closest = client
        .closest_machines(&MachineSearch {
            limit: Some(3),
            ..search.clone()
        })
        .await?;
    if closest.is_empty() {
        eprintln!("no machine matches `{query}`: no machine is registered");
        return Ok(());
    }
    eprintln!("no machine matches `{query}`; the closest offers:");
    for near in closest {
        eprintln!(
            "  machine {} ({}): misses {}",
            near.machine.id,
            gpunet_client::jobs::machine_summary(&near.machine),
            near.unmet.join(" ")
        );
    }
    Ok(())
}

pub(crate) async fn machines(ctx: &Ctx, cmd: MachinesCmd) -> anyhow::Result<()> {
    let (query, order, limit) = match cmd {
        MachinesCmd::List {
            mut query,
            order,
            limit,
            mine,
        } => {
            if mine {
                query.push(format!(
                    "owner={}",
                    Keystore::load(&ctx.keystore()?)?.address()
                ));
            }
            (query, order, limit)
        }
        MachinesCmd::Pause { id } => return owner::set_online(ctx, id, false).await,
        MachinesCmd::Resume { id } => return owner::set_online(ctx, id, true).await,
        MachinesCmd::Remove {
            id,
            wait_secs,
            keep_stake,
        } => return owner::remove(ctx, id, wait_secs, keep_stake).await,
    };
    // Checked here first, to say what is wrong without asking the node.
    gpunet_types::offers::Query::parse(&query, order.as_deref())?;
    let search = MachineSearch {
        q: Some(query.join(" ")),
        order,
        limit: Some(limit),
    };
    let client = ctx.client()?;
    let (machines, matched) = client.find_machines(&search).await?;
    if matched == 0 && !query.is_empty() {
        explain_no_match(&client, &search).await?;
    }
    if matched > machines.len() {
        eprintln!(
            "showing {} of {matched} matching machines (--limit to see more)",
            machines.len()
        );
    }
    ctx.output.print(&machines, || {
        let rows = machines.iter().map(|m| {
            let gpu = m.spec.gpu.as_ref().map_or("-".to_string(), |g| {
                format!("{}x {} {}G", g.count, g.model, g.vram_mb / 1024)
            });
            [
                m.id.to_string(),
                m.owner.to_string()[..8].to_string(),
                m.spec.cpu_cores.to_string(),
                m.spec.memory_mb.to_string(),
                gpu,
                m.active_leases.to_string(),
                m.spec.region.clone(),
                gpn(m.price_per_hour),
                m.online.to_string(),
                format!("{:?}", m.hardware).to_lowercase(),
                m.compute_gops.to_string(),
                format!("{:.0}%", gpunet_types::offers::reliability(m) * 100.0),
            ]
        });
        table(
            [
                "id",
                "owner",
                "cpu",
                "mem MiB",
                "gpu",
                "leases",
                "region",
                "price/hour",
                "online",
                "hardware",
                "GOPS",
                "reliab",
            ],
            [
                true, false, true, true, false, true, false, true, false, false, true, true,
            ],
            rows,
        )
    });
    Ok(())
}
