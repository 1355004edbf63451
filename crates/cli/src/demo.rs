//! `gpunet demo`: the embedded default, end to end, narrated.

use crate::job::describe;
use crate::output::gpn;
use anyhow::{bail, Context};
use gpunet_client::jobfile::JobFile;
use gpunet_client::jobs::{fetch_outputs, is_final, submit_job, wait_for_order};
use gpunet_devnet::{client_key, provider_key, Devnet, DevnetConfig};
use gpunet_primitives::{Address, Amount};
use gpunet_types::OrderStatus;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub(crate) async fn run(job_path: &Path, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let job = JobFile::load(job_path)
        .context("run the demo from the repository root, or pass --job FILE")?;
    let (dir, temporary) = match data_dir {
        Some(d) => (d, false),
        None => (
            std::env::temp_dir().join(format!("gpunet-demo-{}", std::process::id())),
            true,
        ),
    };
    let result = narrate(&job, &dir).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn narrate(job: &JobFile, dir: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    println!("==> Starting a local gpunet network in {}", dir.display());
    let devnet = Devnet::start(DevnetConfig::new(dir.to_path_buf())).await?;
    let node = devnet.client();
    let status = node.status().await?;
    println!(
        "    chain {}, validator {}, API {}",
        status.chain_id, status.validators[0], devnet.address
    );
    for m in node.machines().await? {
        let gpu = m.spec.gpu.as_ref().map_or("no GPU".to_string(), |g| {
            format!("{}x {}", g.count, g.model)
        });
        println!(
            "    machine {} of provider {}: {} cores, {} MiB, {}, {}/hour, staked",
            m.id,
            &m.owner.to_string()[..8],
            m.spec.cpu_cores,
            m.spec.memory_mb,
            gpu,
            gpn(m.price_per_hour)
        );
    }
    if let Some(note) = devnet
        .provider(0)
        .and_then(|a| a.hardware().gpu_note.clone())
    {
        println!("    ({note})");
    }

    let parties: Vec<(String, Address)> =
        std::iter::once(("client".to_string(), client_key().address()))
            .chain(
                (0..devnet.config.providers)
                    .map(|i| (format!("provider {i}"), provider_key(i).address())),
            )
            .collect();
    let mut before: Vec<Amount> = Vec::new();
    for (_, a) in &parties {
        before.push(node.account(a).await?.account.balance);
    }
    let burned_before = status.supply.burned;

    let wallet = devnet.client_wallet();
    let first_line = job.command.join(" ");
    println!(
        "\n==> Submitting job {:?}: {}",
        job.name,
        first_line.lines().next().unwrap_or_default()
    );
    let id = submit_job(&wallet, job).await?;
    let order = node.order(id).await?;
    println!(
        "    order {id}: deposit {} moved into escrow (max {}/hour)",
        gpn(order.deposit),
        gpn(order.max_price_per_hour)
    );
    let order = wait_for_order(
        &node,
        id,
        Duration::from_secs(job.timeout_secs + 120),
        |o| is_final(o.status),
        |o| {
            let what = match (o.status, &o.lease) {
                (OrderStatus::Running, Some(l)) => format!(
                    "leased to machine {} of provider {}",
                    l.machine,
                    &l.provider.to_string()[..8]
                ),
                (OrderStatus::Reported, _) => {
                    "result reported; settling after the dispute window".into()
                }
                (s, _) => format!("{s:?}"),
            };
            println!(
                "    [{:>5.1}s] order {id}: {what}",
                started.elapsed().as_secs_f64()
            );
        },
    )
    .await?;
    if order.status != OrderStatus::Settled {
        bail!("the job did not settle:\n{}", describe(&order));
    }

    println!("\n==> Fetching outputs and verifying them against the output root on chain");
    let out_dir = dir.join("outputs").join(id.to_string());
    let manifest = fetch_outputs(&wallet, &order, &out_dir).await?;
    for f in &manifest.files {
        println!(
            "    {:>8} bytes  {}  {}",
            f.size,
            &f.hash.to_string()[..16],
            f.path
        );
    }
    println!(
        "    verified: {} files, root {}",
        manifest.files.len(),
        manifest.root()
    );
    let stdout = std::fs::read_to_string(out_dir.join("logs/stdout.log"))?;
    println!("    stdout:");
    for line in stdout.lines() {
        println!("      | {line}");
    }

    let s = order
        .settlement
        .clone()
        .expect("settled orders have a settlement");
    println!("\n==> Settlement of order {id}");
    println!(
        "{}",
        describe(&order)
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    println!("\n==> Balances (fees go to the validator)");
    for ((name, a), b) in parties.iter().zip(&before) {
        let after = node.account(a).await?.account.balance;
        let delta = after as i128 - *b as i128;
        println!(
            "    {name:<11} {:>20} -> {:>20}  ({}{})",
            gpn(*b),
            gpn(after),
            if delta < 0 { "-" } else { "+" },
            gpn(delta.unsigned_abs())
        );
    }
    let status = node.status().await?;
    println!(
        "    burned in this job {}, burned in total {}",
        gpn(status.supply.burned - burned_before),
        gpn(status.supply.burned)
    );
    devnet
        .node
        .ledger
        .read()
        .expect("ledger lock")
        .check_invariants()?;
    println!(
        "    ledger invariants hold at height {} (state root {})",
        status.height, status.state_root
    );
    println!("\nDone in {:.1}s: job executed, verified by output hash, paid from escrow ({} to the provider, {} burned, {} refunded).",
        started.elapsed().as_secs_f64(), gpn(s.paid_to_provider), gpn(s.burned), gpn(s.refunded));
    Ok(())
}
