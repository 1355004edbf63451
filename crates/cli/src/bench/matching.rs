//! `gpunet bench match`: orders matched per second by the ledger's matching
//! with many machines listed and many orders queued, through the real
//! execution code (`gpunet_ledger::sim`, no signatures), from both sides:
//! orders arriving look for machines (the offer indexes), then machines
//! coming back take the oldest orders they can (the index of what pending
//! orders want).

use crate::output::Output;
use gpunet_ledger::sim::Simulation;
use gpunet_primitives::{
    Address, BlockHeader, GpuRequirement, GpuSpec, Hash, JobSpec, Keypair, MachineSpec, Placement,
    Resources, TxBody, UNIT,
};
use gpunet_types::{OrderStatus, Params};
use std::time::Instant;

/// Machine classes of the synthetic market: (GPU model, GPUs, VRAM GiB, cores, price GPN/h).
const CLASSES: &[(Option<&str>, u32, u64, u32, u128)] = &[
    (Some("NVIDIA H100 80GB HBM3"), 8, 80, 96, 16),
    (Some("NVIDIA A100-SXM4-80GB"), 4, 80, 64, 6),
    (Some("NVIDIA GeForce RTX 4090"), 1, 24, 16, 1),
    (Some("NVIDIA GeForce RTX 3090"), 1, 24, 8, 1),
    (None, 0, 0, 8, 1),
];

/// Paused machines put back online per block in the machine-side phase.
const RESUMED_PER_BLOCK: usize = 500;

#[derive(serde::Serialize)]
struct MatchResult {
    machines: usize,
    queued: usize,
    matched: usize,
    /// Until the last block that matched anything.
    seconds: f64,
    orders_matched_per_sec: f64,
    /// Then one pass over the orders nothing can take, to see it is idle.
    idle_pass_seconds: f64,
    blocks: usize,
    machine_side: MachineSide,
}

/// The same market with every machine paused while the orders queue, then
/// `RESUMED_PER_BLOCK` machines back online a block until all are.
#[derive(serde::Serialize)]
struct MachineSide {
    matched: usize,
    /// In the blocks' end (matching), not in applying the resumptions.
    seconds: f64,
    orders_matched_per_sec: f64,
    blocks: usize,
    /// Whether every lease went to the oldest order its machine could take:
    /// no order left waiting is older than a leased one it was as fit for
    /// (in this market every order of one kind fits every machine with room).
    oldest_first: bool,
}

fn provider(i: usize) -> Address {
    Keypair::from_label(&format!("bench-provider/{i}")).address()
}

fn job(i: usize) -> JobSpec {
    // A mix: CPU jobs, any-GPU jobs and model-constrained GPU jobs.
    let (gpus, model) = match i % 4 {
        0 => (0, None),
        1 => (1, None),
        2 => (1, Some("4090".to_string())),
        _ => (2, Some("H100".to_string())),
    };
    JobSpec {
        name: "bench".into(),
        placement: if i.is_multiple_of(10) {
            Placement::Cheapest
        } else {
            Placement::Spread
        },
        ..JobSpec::new(
            "bench",
            vec!["run".into()],
            Resources {
                gpu: GpuRequirement {
                    count: gpus,
                    model,
                    ..Default::default()
                },
                ..Resources::new(1, 1024, 100)
            },
            24 * 3600,
        )
    }
}

/// The synthetic market: `machines` listed and proven (a mix of
/// [`CLASSES`]), paused if `paused`, `orders` queued by 100 clients,
/// nothing matched yet.
pub(super) fn market(machines: usize, orders: usize, paused: bool) -> anyhow::Result<Simulation> {
    let params = Params {
        order_ttl_ms: u64::MAX / 4,
        ..Params::default()
    };
    let mut sim = Simulation::new(params, 1_000);
    let per_provider = 10;
    eprintln!("listing {machines} machines...");
    for p in 0..machines.div_ceil(per_provider) {
        let owner = provider(p);
        sim.fund(owner, 1_000_000 * UNIT);
        sim.apply(
            owner,
            &TxBody::Stake {
                amount: 900_000 * UNIT,
            },
        )?;
        for k in 0..per_provider.min(machines - p * per_provider) {
            let (model, gpus, vram, cores, price) = CLASSES[(p * per_provider + k) % CLASSES.len()];
            let spec = MachineSpec {
                cpu_cores: cores,
                memory_mb: u64::from(cores) * 8 * 1024,
                disk_mb: 1 << 20,
                gpu: model.map(|m| GpuSpec {
                    vendor: "nvidia".into(),
                    model: m.into(),
                    count: gpus,
                    vram_mb: vram * 1024,
                }),
                region: "eu".into(),
                executor: "docker".into(),
            };
            sim.apply(
                owner,
                &TxBody::RegisterMachine {
                    spec,
                    price_per_hour: price * UNIT,
                    resource_prices: Default::default(),
                },
            )?;
        }
        if p.is_multiple_of(1000) {
            sim.flush();
        }
    }
    let ids: Vec<u64> = sim.state().machines.iter().map(|(id, _)| *id).collect();
    // Machines with GPUs are proven twice on joining: their GPUs, then their
    // CPUs; a challenge left unanswered would delist them during the run.
    loop {
        let settled = ids
            .iter()
            .filter(|id| sim.settle_challenge(**id, true, 1_000))
            .count();
        if settled == 0 {
            break;
        }
        sim.next_block(sim.now_ms() + 100)?;
    }
    sim.flush();
    if paused {
        set_online(&mut sim, &ids, false)?;
    }
    // Matching serves machines listed or changed a bounded number a block:
    // let it see them all before any order is queued.
    while !sim.state().offered.is_empty() {
        sim.next_block(sim.now_ms() + 100)?;
    }
    sim.flush();
    eprintln!("queueing {orders} orders...");
    let clients: Vec<Address> = (0..100)
        .map(|i| Keypair::from_label(&format!("bench-client/{i}")).address())
        .collect();
    for c in &clients {
        sim.fund(*c, u128::MAX / 1024);
    }
    for i in 0..orders {
        sim.apply(
            clients[i % clients.len()],
            &TxBody::SubmitOrder {
                spec: job(i),
                max_price_per_hour: 100 * UNIT,
                deposit: 2_400 * UNIT,
            },
        )?;
        if i.is_multiple_of(50_000) {
            sim.flush();
        }
    }
    sim.flush();
    Ok(sim)
}

/// [`market`] after 20 blocks of matching, and a head block to read it at:
/// what `bench metrics` and `bench console` read.
pub(super) fn matched_market(
    machines: usize,
    orders: usize,
) -> anyhow::Result<(Simulation, BlockHeader)> {
    let mut sim = market(machines, orders, false)?;
    eprintln!("matching for 20 blocks...");
    for _ in 0..20 {
        sim.next_block(sim.now_ms() + 100)?;
        sim.take_events();
    }
    let head = BlockHeader {
        chain_id: "bench".into(),
        height: 1_000,
        parent: Hash::ZERO,
        time_ms: sim.now_ms(),
        proposer: Address([0; 32]),
        txs_root: Hash::ZERO,
        state_root: Hash::ZERO,
    };
    Ok((sim, head))
}

/// Pauses or resumes `ids` at their listed prices, as their owners would.
fn set_online(sim: &mut Simulation, ids: &[u64], online: bool) -> anyhow::Result<()> {
    for id in ids {
        let m = sim.state().machines.get(id).cloned();
        let m = m.ok_or_else(|| anyhow::anyhow!("machine {id} is gone"))?;
        sim.apply(
            m.owner,
            &TxBody::UpdateMachine {
                machine: *id,
                price_per_hour: m.price_per_hour,
                resource_prices: m.resource_prices,
                online,
            },
        )?;
    }
    Ok(())
}

/// The machine-side phase: see [`MachineSide`].
fn machine_side(machines: usize, orders: usize) -> anyhow::Result<MachineSide> {
    let mut sim = market(machines, orders, true)?;
    // The orders' own block: they look for machines and find none.
    sim.next_block(sim.now_ms() + 100)?;
    sim.take_events();
    eprintln!("resuming machines, {RESUMED_PER_BLOCK} a block...");
    let ids: Vec<u64> = sim.state().machines.iter().map(|(id, _)| *id).collect();
    let before = sim.state().pending.len();
    let mut seconds = 0.0;
    let mut blocks = 0;
    for batch in ids.chunks(RESUMED_PER_BLOCK) {
        set_online(&mut sim, batch, true)?;
        let start = Instant::now();
        sim.next_block(sim.now_ms() + 100)?;
        seconds += start.elapsed().as_secs_f64();
        sim.take_events();
        blocks += 1;
    }
    let matched = before - sim.state().pending.len();
    Ok(MachineSide {
        matched,
        seconds,
        orders_matched_per_sec: matched as f64 / f64::max(seconds, 1e-9),
        blocks,
        oldest_first: oldest_first(&sim),
    })
}

/// Whether no pending order is older than a running one of the same kind
/// (`job(i)` by `i % 4` and placement, read back from its spec).
fn oldest_first(sim: &Simulation) -> bool {
    let kind = |o: &gpunet_ledger::Order| {
        let gpu = &o.spec.resources.gpu;
        (gpu.count, gpu.model.clone())
    };
    let mut newest_running = std::collections::BTreeMap::new();
    let mut oldest_waiting = std::collections::BTreeMap::new();
    for (id, o) in sim.state().orders.iter() {
        match o.status() {
            OrderStatus::Running => {
                let t = newest_running.entry(kind(o)).or_insert(*id);
                *t = (*t).max(*id);
            }
            OrderStatus::Pending => {
                let t = oldest_waiting.entry(kind(o)).or_insert(*id);
                *t = (*t).min(*id);
            }
            _ => {}
        }
    }
    newest_running
        .iter()
        .all(|(k, newest)| oldest_waiting.get(k).is_none_or(|oldest| oldest > newest))
}

pub(super) fn run(machines: usize, orders: usize, output: Output) -> anyhow::Result<()> {
    let mut sim = market(machines, orders, false)?;
    eprintln!("matching...");
    let pending = |sim: &Simulation| sim.state().pending.len();
    let before = pending(&sim);
    let start = Instant::now();
    let mut blocks = 0;
    // Each block looks at a window of 1024 pending orders that moves on:
    // stop once a whole pass over the queue matched nothing (the market is
    // full) or everything is matched.
    let mut idle_blocks = 0;
    let mut filled = 0.0;
    while pending(&sim) > 0 && idle_blocks * 1024 < pending(&sim) + 1024 {
        let queued = pending(&sim);
        sim.next_block(sim.now_ms() + 100)?;
        sim.take_events();
        blocks += 1;
        if pending(&sim) == queued {
            idle_blocks += 1;
        } else {
            idle_blocks = 0;
            filled = start.elapsed().as_secs_f64();
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let matched = before - pending(&sim);
    let running = sim
        .state()
        .orders
        .iter()
        .filter(|(_, o)| o.status() == OrderStatus::Running)
        .count();
    anyhow::ensure!(running == matched, "matched orders are running");
    drop(sim);
    let machine_side = machine_side(machines, orders)?;
    let result = MatchResult {
        machines,
        queued: orders,
        matched,
        seconds: filled,
        orders_matched_per_sec: matched as f64 / f64::max(filled, 1e-9),
        idle_pass_seconds: seconds - filled,
        blocks,
        machine_side,
    };
    output.print(&result, || {
        let m = &result.machine_side;
        format!(
            "{machines} machines, {orders} orders queued:\n\
             orders looking for machines: {matched} matched in {filled:.2} s \
             ({:.0} orders matched/s, one core), then {:.2} s for one pass over the {} that \
             the full market cannot take ({blocks} blocks in all)\n\
             machines coming back, {RESUMED_PER_BLOCK} a block: {} matched in {:.2} s \
             ({:.0} orders matched/s, one core; {} blocks), {}",
            result.orders_matched_per_sec,
            result.idle_pass_seconds,
            orders - matched,
            m.matched,
            m.seconds,
            m.orders_matched_per_sec,
            m.blocks,
            if m.oldest_first {
                "each taking the oldest orders it could"
            } else {
                "NOT oldest first: a newer order ran while an older one of its kind waits"
            }
        )
    });
    anyhow::ensure!(
        result.machine_side.oldest_first,
        "machine-side matching served a newer order before an older one of its kind"
    );
    Ok(())
}
