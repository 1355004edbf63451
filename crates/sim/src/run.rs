//! The event loop: blocks of simulated time; clients place orders, providers
//! answer leases, challenges and probes by their strategy.

use crate::model::{
    address, daily_rhythm, demand, pick, Strategy, CLASSES, RUNNING_COST_PCT, STRATEGIES,
};
use crate::report::{Report, Sample};
use gpunet_ledger::sim::Simulation;
use gpunet_primitives::{Address, Amount, Hash, JobOutcome, MachineId, OrderId, TxBody, UNIT};
use gpunet_types::{Event, Params};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Config {
    /// The random seed: one seed, one report.
    pub seed: u64,
    /// Machines in the network.
    pub machines: usize,
    /// Orders clients place over the run.
    pub orders: usize,
    /// Simulated days.
    pub days: u64,
    /// Simulated time per block.
    pub block_ms: u64,
    /// Share of non-deterministic jobs that are canaries, in percent: their
    /// clients know the answer and how long the job takes, and dispute a
    /// wrong output or a padded time.
    pub canary_pct: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 42,
            machines: 100_000,
            orders: 1_000_000,
            days: 7,
            block_ms: 60_000,
            canary_pct: 10,
        }
    }
}

/// Why a simulation stopped.
#[derive(thiserror::Error, Debug)]
pub enum SimError {
    /// The ledger refused to set up the market (a machine, a stake).
    #[error("the ledger refused a setup transaction: {0}")]
    Setup(gpunet_ledger::TxError),
    /// A block's time-driven work failed.
    #[error("a block failed: {0}")]
    Block(gpunet_ledger::TxError),
}

pub(crate) struct Provider {
    pub strategy: Strategy,
    pub funded: Amount,
    pub running_cost: Amount,
    pub machines: u32,
}

/// What an order is, for the simulated parties.
#[derive(Clone, Copy, Default)]
struct OrderMeta {
    duration_ms: u64,
    submitted_ms: u64,
    rental: bool,
    deterministic: bool,
    /// A canary: its client knows the true output and how long the job
    /// takes, and disputes another output or a padded time.
    canary: bool,
}

/// How a provider does one run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Run {
    Honest,
    /// Reports a made-up output without the running cost.
    Skip,
    /// Runs it, then reports it a minute before its timeout, claiming that long.
    Pad,
}

enum Action {
    Report {
        order: OrderId,
        provider: Address,
        root: Hash,
        duration_ms: u64,
    },
    ReportOffline {
        order: OrderId,
        client: Address,
    },
    AnswerProbe {
        order: OrderId,
        provider: Address,
    },
    Relist {
        machine: MachineId,
        owner: Address,
    },
    Dispute {
        order: OrderId,
        client: Address,
    },
}

struct Sim {
    ledger: Simulation,
    rng: StdRng,
    providers: BTreeMap<Address, Provider>,
    orders: Vec<OrderMeta>,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    actions: BTreeMap<u64, Action>,
    seq: u64,
    waits_ms: Vec<u64>,
    report: Report,
}

/// The output every honest run of `order` produces.
fn true_root(order: OrderId) -> Hash {
    Hash::digest(&order.to_le_bytes())
}

fn made_up_root(order: OrderId) -> Hash {
    Hash::digest(&[&order.to_le_bytes()[..], b"made up"].concat())
}

impl Sim {
    fn at(&mut self, time: u64, action: Action) {
        self.seq += 1;
        self.queue.push(Reverse((time, self.seq)));
        self.actions.insert(self.seq, action);
    }

    fn strategy(&self, who: &Address) -> Strategy {
        self.providers
            .get(who)
            .map_or(Strategy::Honest, |p| p.strategy)
    }

    fn meta(&mut self, order: OrderId) -> &mut OrderMeta {
        let i = order as usize;
        if self.orders.len() <= i {
            self.orders.resize(i + 1, OrderMeta::default());
        }
        &mut self.orders[i]
    }

    fn charge_running_cost(&mut self, provider: Address, price_per_hour: Amount, ms: u64) {
        let cost = price_per_hour * Amount::from(ms) / 3_600_000 * RUNNING_COST_PCT / 100;
        if let Some(p) = self.providers.get_mut(&provider) {
            p.running_cost += cost;
        }
    }

    fn handle(&mut self, event: Event) {
        let now = self.ledger.now_ms();
        match event {
            Event::OrderLeased {
                order, provider, ..
            } => self.leased(order, provider, now),
            Event::OrderReported { order, client, .. } if self.meta(order).canary => {
                let took = self.meta(order).duration_ms;
                // What a referee as fast as the canary's own run lets it bill.
                let allowed = self.ledger.state().params.duration_bound(took);
                let wrong = self.ledger.state().orders.get(&order).is_some_and(|o| {
                    o.report().is_some_and(|r| {
                        r.billable_ms > allowed
                            || !matches!(r.outcome, JobOutcome::Completed { output_root, .. }
                            if output_root == true_root(order))
                    })
                });
                if wrong {
                    self.at(now + 60_000, Action::Dispute { order, client });
                }
            }
            Event::ChallengeIssued {
                challenge,
                machine,
                owner,
                ..
            } => {
                let pass = self.strategy(&owner) != Strategy::FakeHardware;
                let state = self.ledger.state();
                let of_cpus = state
                    .challenges
                    .get(&challenge)
                    .is_some_and(|ch| ch.class == gpunet_poc::CPU_CLASS.name);
                let gops = state.machines.get(&machine).map_or(0, |m| {
                    let model = m.spec.gpu.as_ref().map(|g| g.model.as_str());
                    let class = CLASSES.iter().find(|c| c.model == model);
                    let cpus = CLASSES.iter().find(|c| c.model.is_none());
                    match (class, cpus) {
                        // Every machine's cores as fast as a CPU machine's.
                        (_, Some(cpus)) if of_cpus => {
                            cpus.gops * u64::from(m.spec.cpu_cores) / u64::from(cpus.cores)
                        }
                        (Some(class), _) => class.gops,
                        _ => 0,
                    }
                });
                self.ledger.settle_challenge(machine, pass, gops);
            }
            Event::ChallengeFailed { machine, owner, .. } => {
                // A fake keeps trying to get listed again.
                self.at(now + 6 * 3_600_000, Action::Relist { machine, owner });
            }
            Event::LivenessProbe {
                order, provider, ..
            } => {
                let delay = if self.strategy(&provider) == Strategy::OfflineWhileRented {
                    3 * 3_600_000
                } else {
                    60_000
                };
                self.at(now + delay, Action::AnswerProbe { order, provider });
            }
            Event::Slashed {
                provider, amount, ..
            } => {
                // Stake is restored so the machines keep qualifying for work.
                let _ = self.ledger.apply(provider, &TxBody::Stake { amount });
            }
            _ => {}
        }
    }

    fn leased(&mut self, order: OrderId, provider: Address, now: u64) {
        let Some(o) = self.ledger.state().orders.get(&order).cloned() else {
            return;
        };
        let price = o.lease().map_or(0, |l| l.price_per_hour);
        let strategy = self.strategy(&provider);
        if let Some(parent) = o.audit_of() {
            let duration = self.meta(parent).duration_ms;
            let run = match strategy {
                Strategy::LazyAuditor => Run::Skip,
                Strategy::PadBilling => Run::Pad,
                _ => Run::Honest,
            };
            self.work(order, provider, price, parent, duration, run);
            return;
        }
        let meta = *self.meta(order);
        self.waits_ms.push(now.saturating_sub(meta.submitted_ms));
        if meta.rental {
            let mut up_ms = meta.duration_ms;
            if strategy == Strategy::OfflineWhileRented && self.rng.gen_bool(0.5) {
                // Goes dark an hour in; the renter notices and reports it.
                let noticed = now + (meta.duration_ms / 2).min(3_600_000);
                self.at(
                    noticed,
                    Action::ReportOffline {
                        order,
                        client: o.client,
                    },
                );
                up_ms = meta.duration_ms / 2;
            }
            self.charge_running_cost(provider, price, up_ms);
            return;
        }
        let unchecked = !meta.deterministic;
        let run = match strategy {
            Strategy::SkipWork => Run::Skip,
            Strategy::SelectiveSkip if unchecked => Run::Skip,
            Strategy::PadBilling => Run::Pad,
            Strategy::SelectivePadding if unchecked => Run::Pad,
            _ => Run::Honest,
        };
        self.work(order, provider, price, order, meta.duration_ms, run);
    }

    /// Runs the job whose output `order` must reproduce (`job`: itself, or the
    /// order an audit run checks) the way `run` says and reports it: a
    /// skipped run claims the real duration, a padded one a minute less than
    /// the timeout.
    fn work(
        &mut self,
        order: OrderId,
        provider: Address,
        price: Amount,
        job: OrderId,
        duration_ms: u64,
        run: Run,
    ) {
        let (root, claimed_ms) = match run {
            Run::Skip => (made_up_root(job), duration_ms),
            Run::Honest => {
                self.charge_running_cost(provider, price, duration_ms);
                (true_root(job), duration_ms)
            }
            Run::Pad => {
                self.charge_running_cost(provider, price, duration_ms);
                let timeout_ms = self
                    .ledger
                    .state()
                    .orders
                    .get(&order)
                    .map_or(0, |o| o.spec.timeout_secs * 1_000);
                (
                    true_root(job),
                    duration_ms.max(timeout_ms.saturating_sub(60_000)),
                )
            }
        };
        // Reported once the claimed time has passed, so that all of it is billed.
        let now = self.ledger.now_ms();
        self.at(
            now + claimed_ms,
            Action::Report {
                order,
                provider,
                root,
                duration_ms: claimed_ms,
            },
        );
    }

    fn act(&mut self, action: Action) {
        // Refusals are part of the game (a lease that already timed out...).
        let _ = match action {
            Action::Report {
                order,
                provider,
                root,
                duration_ms,
            } => self.ledger.apply(
                provider,
                &TxBody::ReportResult {
                    order,
                    outcome: JobOutcome::Completed {
                        exit_code: 0,
                        output_root: root,
                        output_bytes: 1,
                        duration_ms,
                        stopped: None,
                        held_by: gpunet_primitives::OutputHolder::Nodes,
                    },
                },
            ),
            Action::ReportOffline { order, client } => {
                self.ledger.apply(client, &TxBody::ReportOffline { order })
            }
            Action::AnswerProbe { order, provider } => {
                self.ledger.apply(provider, &TxBody::AnswerProbe { order })
            }
            Action::Dispute { order, client } => {
                let deposit = self.ledger.state().orders.get(&order).map_or(0, |o| {
                    gpunet_types::run_cost(o.max_price_per_hour, &o.spec).unwrap_or(0)
                });
                self.ledger.apply(
                    client,
                    &TxBody::DisputeResult {
                        order,
                        expected_root: true_root(order),
                        deposit,
                    },
                )
            }
            Action::Relist { machine, owner } => {
                let m = self.ledger.state().machines.get(&machine).cloned();
                match m {
                    Some(m) => self.ledger.apply(
                        owner,
                        &TxBody::UpdateMachine {
                            machine,
                            price_per_hour: m.price_per_hour,
                            resource_prices: m.resource_prices,
                            online: true,
                        },
                    ),
                    None => Ok(()),
                }
            }
        };
    }

    fn drain_events(&mut self) {
        loop {
            let events = self.ledger.take_events();
            if events.is_empty() {
                return;
            }
            for e in events {
                self.handle(e);
            }
        }
    }
}

/// Runs the simulation; `progress` hears about each simulated day.
pub fn run(config: &Config, mut progress: impl FnMut(&str)) -> Result<Report, SimError> {
    let params = Params {
        // Simulated hours pass in minutes of blocks: settle promptly.
        dispute_window_ms: 10 * 60_000,
        // Rentals stream hourly (a real network may bill as coarsely).
        rental_billing_ms: 3_600_000,
        ..Params::default()
    };
    let start_ms = 1_000;
    let mut sim = Sim {
        ledger: Simulation::new(params.clone(), start_ms),
        rng: StdRng::seed_from_u64(config.seed),
        providers: BTreeMap::new(),
        orders: Vec::new(),
        queue: BinaryHeap::new(),
        actions: BTreeMap::new(),
        seq: 0,
        waits_ms: Vec::new(),
        report: Report::default(),
    };
    let class_table: Vec<(usize, u32)> = CLASSES
        .iter()
        .enumerate()
        .map(|(i, c)| (i, c.share))
        .collect();
    // Providers own one to eight machines, four on average.
    let mut listed = 0;
    let mut p: u64 = 0;
    while listed < config.machines {
        let owner = address(&format!("provider/{p}"));
        p += 1;
        let strategy = pick(&mut sim.rng, STRATEGIES);
        let count = sim.rng.gen_range(1..=7).min(config.machines - listed);
        let funded = 1_000_000 * UNIT;
        sim.ledger.fund(owner, funded);
        let mut gpus = 0;
        let mut classes = Vec::new();
        for _ in 0..count {
            let mut class = &CLASSES[pick(&mut sim.rng, &class_table)];
            if strategy == Strategy::FakeHardware {
                class = &CLASSES[0]; // claims H100s it does not have
            }
            gpus += class.gpus;
            classes.push(class);
        }
        let stake =
            params.stake_per_machine * count as u128 + params.stake_per_gpu * u128::from(gpus);
        sim.ledger
            .apply(owner, &TxBody::Stake { amount: stake })
            .map_err(SimError::Setup)?;
        for class in classes {
            let (price_per_hour, resource_prices) = class.prices();
            sim.ledger
                .apply(
                    owner,
                    &TxBody::RegisterMachine {
                        spec: class.spec(),
                        price_per_hour,
                        resource_prices,
                    },
                )
                .map_err(SimError::Setup)?;
        }
        sim.providers.insert(
            owner,
            Provider {
                strategy,
                funded,
                running_cost: 0,
                machines: count as u32,
            },
        );
        listed += count;
        sim.drain_events();
        if p.is_multiple_of(1_000) {
            sim.ledger.flush();
        }
    }
    progress(&format!(
        "listed {listed} machines of {} providers",
        sim.providers.len()
    ));
    let clients: Vec<Address> = (0..1_000)
        .map(|i| address(&format!("client/{i}")))
        .collect();
    let client_funds = 1_000_000_000 * UNIT;
    for c in &clients {
        sim.ledger.fund(*c, client_funds);
    }

    let end_ms = start_ms + config.days * 24 * 3_600_000;
    let blocks_per_hour = 3_600_000 / config.block_ms.max(1);
    let per_block = config.orders as f64 / (config.days as f64 * 24.0 * blocks_per_hour as f64);
    let mut now = start_ms;
    let mut submitted = 0usize;
    let mut block = 0u64;
    while now < end_ms {
        now += config.block_ms;
        block += 1;
        let hour = (now - start_ms) as f64 / 3_600_000.0;
        let expected = per_block * daily_rhythm(hour % 24.0);
        let mut arrivals = expected.floor() as usize;
        if sim.rng.gen::<f64>() < expected.fract() {
            arrivals += 1;
        }
        for _ in 0..arrivals.min(config.orders - submitted) {
            let d = demand(&mut sim.rng);
            let deterministic = d.spec.is_deterministic();
            let canary = !d.rental && !deterministic && sim.rng.gen_ratio(config.canary_pct, 100);
            let client = clients[sim.rng.gen_range(0..clients.len())];
            let deposit = gpunet_types::min_deposit(d.max_price_per_hour, &d.spec).unwrap_or(0);
            let id = sim.ledger.state().globals().next_order_id;
            let body = if d.rental {
                TxBody::Rent {
                    spec: d.spec,
                    max_price_per_hour: d.max_price_per_hour,
                    deposit,
                }
            } else {
                TxBody::SubmitOrder {
                    spec: d.spec,
                    max_price_per_hour: d.max_price_per_hour,
                    deposit,
                }
            };
            if sim.ledger.apply(client, &body).is_ok() {
                *sim.meta(id) = OrderMeta {
                    duration_ms: d.duration_ms,
                    submitted_ms: now,
                    rental: d.rental,
                    deterministic,
                    canary,
                };
                submitted += 1;
            }
        }
        while let Some(Reverse((time, seq))) = sim.queue.peek().copied() {
            if time > now {
                break;
            }
            sim.queue.pop();
            if let Some(action) = sim.actions.remove(&seq) {
                sim.act(action);
            }
        }
        sim.ledger.next_block(now).map_err(SimError::Block)?;
        sim.drain_events();
        if block.is_multiple_of(blocks_per_hour) {
            sim.report.sample(Sample::of(sim.ledger.state(), hour));
            if (hour as u64).is_multiple_of(24) {
                progress(&format!(
                    "day {}/{}: {submitted} orders placed, {} leases running, {} waiting",
                    hour as u64 / 24,
                    config.days,
                    sim.report.last_running(),
                    sim.ledger.state().pending.len()
                ));
            }
        }
    }
    sim.report.finish(
        sim.ledger.state(),
        &sim.providers,
        &mut sim.waits_ms,
        client_funds,
        &clients,
        submitted,
    );
    Ok(sim.report)
}
