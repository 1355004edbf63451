//! The event loop: blocks of simulated time; clients place orders, providers
//! answer leases, challenges and probes by their strategy.

use crate::model::{address, pick, Economics, Pricing, Strategy, CLASSES, STRATEGIES};
use crate::report::{JobStats, Report, Sample};
use crate::workload::{daily_rhythm, Rates, Scenario, SCENARIOS};
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
    /// The market: its work, load, rhythm and network.
    pub scenario: &'static Scenario,
    /// Machines in the network (once every provider has joined).
    pub machines: usize,
    /// Orders clients place over the run, instead of the scenario's volume.
    pub orders: Option<usize>,
    /// Simulated days.
    pub days: u64,
    /// Simulated time per block.
    pub block_ms: u64,
    /// Share of non-deterministic jobs that are canaries, in percent: their
    /// clients know the answer and how long the job takes, and dispute a
    /// wrong output or a padded time.
    pub canary_pct: u32,
    /// Share of deterministic jobs audited (their `audit_bps`), in basis points.
    pub audit_bps: u32,
    /// Share of providers in a colluding cartel, in percent (drawn before
    /// the other strategies; none by default).
    pub collusion_pct: u32,
    /// The ledger's parameters (genesis defaults, settling promptly and
    /// billing rentals hourly: see `Config::of`).
    pub params: Params,
    /// Prices of power, of tokens and of capital, for the money figures.
    pub economics: Economics,
}

impl Default for Config {
    fn default() -> Self {
        Config::of(&SCENARIOS[0])
    }
}

impl Config {
    /// `scenario` at its own size, seed 42, over 7 days.
    pub fn of(scenario: &'static Scenario) -> Config {
        Config {
            seed: 42,
            scenario,
            machines: scenario.machines,
            orders: None,
            days: 7,
            block_ms: 60_000,
            canary_pct: 10,
            audit_bps: 1_000,
            collusion_pct: 0,
            params: Params {
                // Simulated hours pass in minutes of blocks: settle promptly.
                dispute_window_ms: 10 * 60_000,
                // Rentals stream hourly (a real network may bill as coarsely).
                rental_billing_ms: 3_600_000,
                // Clients of days-long work wait for a machine longer than an hour.
                order_ttl_ms: 12 * 3_600_000,
                ..Params::default()
            },
            economics: Economics::default(),
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
    pub pricing: Pricing,
    pub funded: Amount,
    /// Its machines' classes (indexes into `CLASSES`), as it lists them.
    pub classes: Vec<usize>,
    /// Its machines once listed.
    pub machines: Vec<MachineId>,
}

/// A listed machine, for the report.
pub(crate) struct MachineMeta {
    pub owner: Address,
    /// Index into `CLASSES`.
    pub class: usize,
    /// How its provider prices it.
    pub pricing: Pricing,
    /// When it was listed and, if its provider left, when it went offline.
    pub listed_ms: u64,
    pub left_ms: Option<u64>,
    /// Paid to its provider for its settled work, net of the burn.
    pub income: Amount,
    /// What the work it did cost in power.
    pub power: Amount,
}

/// What an order is, for the simulated parties.
#[derive(Clone, Copy, Default)]
struct OrderMeta {
    /// Index into the scenario's mix (audit runs: their job's).
    work: usize,
    duration_ms: u64,
    submitted_ms: u64,
    rental: bool,
    deterministic: bool,
    /// A canary: its client knows the true output and how long the job
    /// takes, and disputes another output or a padded time.
    canary: bool,
    /// Where it was leased and at what price (0 until then).
    machine: MachineId,
    price_per_hour: Amount,
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
    Join {
        provider: Address,
    },
    Leave {
        provider: Address,
    },
    AnswerProbe {
        order: OrderId,
        provider: Address,
    },
    /// A renter ends a rental before its time (refunded the rest).
    EndRental {
        order: OrderId,
        client: Address,
    },
    Relist {
        machine: MachineId,
    },
    Dispute {
        order: OrderId,
        client: Address,
    },
}

struct Sim {
    ledger: Simulation,
    rng: StdRng,
    economics: Economics,
    providers: BTreeMap<Address, Provider>,
    machines: BTreeMap<MachineId, MachineMeta>,
    orders: Vec<OrderMeta>,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    actions: BTreeMap<u64, Action>,
    seq: u64,
    /// Wait from placing each leased order to its lease, with its work.
    waits_ms: Vec<(usize, u64)>,
    /// Waits of the leases since the last sample.
    hour_waits_ms: Vec<u64>,
    /// Per class: what clients paid (gross) and the unit-hours it bought.
    class_sales: Vec<(Amount, f64)>,
    /// Orders placed of each kind of work.
    placed_by_work: Vec<u64>,
    /// Leased jobs that are not, and that are, deterministic.
    job_stats: [JobStats; 2],
    report: Report,
}

/// The output every honest run of `order` produces.
fn true_root(order: OrderId) -> Hash {
    Hash::digest(&order.to_le_bytes())
}

/// What `provider` makes up for `order`: cheats who do not collude invent
/// different outputs, so two lazy auditors never agree with each other.
fn made_up_root(order: OrderId, provider: &Address) -> Hash {
    Hash::digest(&[&order.to_le_bytes()[..], &provider.0, b"made up"].concat())
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

    /// The power `order` draws on its machine in `ms`: the class's power
    /// in the share of its GPUs (or cores) the order holds.
    fn power_of(&mut self, order: OrderId, ms: u64) -> Amount {
        let machine = self.meta(order).machine;
        let Some(class) = self.machines.get(&machine).map(|m| &CLASSES[m.class]) else {
            return 0;
        };
        let Some(spec) = self
            .ledger
            .state()
            .orders
            .get(&order)
            .map(|o| o.spec.resources.clone())
        else {
            return 0;
        };
        let (held, of) = if class.gpus > 0 && spec.gpu.count > 0 {
            (spec.gpu.count, class.gpus)
        } else {
            (spec.cpu_cores, class.cores)
        };
        let per_hour = self.economics.power_per_hour(class);
        per_hour * Amount::from(ms) * Amount::from(held.min(of))
            / (3_600_000 * Amount::from(of.max(1)))
    }

    /// Charges `order`'s machine the power it draws in `ms`.
    fn charge_power(&mut self, order: OrderId, ms: u64) {
        let cost = self.power_of(order, ms);
        let machine = self.meta(order).machine;
        if let Some(m) = self.machines.get_mut(&machine) {
            m.power += cost;
        }
    }

    /// Credits a settled payment to the machine that earned it and to its
    /// class's sales.
    fn paid(&mut self, order: OrderId, paid: Amount, burned: Amount) {
        let meta = *self.meta(order);
        let Some(m) = self.machines.get_mut(&meta.machine) else {
            return;
        };
        m.income += paid;
        let class = &CLASSES[m.class];
        let units = self.ledger.state().orders.get(&order).map_or(0, |o| {
            let r = &o.spec.resources;
            if class.gpus > 0 && r.gpu.count > 0 {
                r.gpu.count
            } else if class.gpus == 0 {
                r.cpu_cores
            } else {
                // CPU work on a GPU machine buys no GPU-hours.
                0
            }
        });
        if units == 0 || meta.price_per_hour == 0 {
            return;
        }
        let gross = paid + burned;
        let sales = &mut self.class_sales[m.class];
        sales.0 += gross;
        sales.1 += gross as f64 / meta.price_per_hour as f64 * f64::from(units);
    }

    fn handle(&mut self, event: Event) {
        let now = self.ledger.now_ms();
        match event {
            Event::OrderLeased {
                order,
                provider,
                machine,
                ..
            } => self.leased(order, provider, machine, now),
            Event::OrderSettled {
                order,
                paid,
                burned,
                ..
            }
            | Event::JobStopped {
                order,
                paid,
                burned,
                ..
            }
            | Event::RentalEnded {
                order,
                paid,
                burned,
                ..
            } => self.paid(order, paid, burned),
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
            Event::ChallengeFailed { machine, .. } => {
                // A fake keeps trying to get listed again.
                self.at(now + 6 * 3_600_000, Action::Relist { machine });
            }
            Event::LivenessProbe {
                order,
                provider,
                client,
                ..
            } => {
                if self.strategy(&provider) == Strategy::OfflineWhileRented {
                    // It answers late, and the machine stays dark: the
                    // renter, still unable to use it, ends the rental.
                    let answered = now + 3 * 3_600_000;
                    self.at(answered, Action::AnswerProbe { order, provider });
                    self.at(answered + 60_000, Action::EndRental { order, client });
                } else {
                    self.at(now + 60_000, Action::AnswerProbe { order, provider });
                }
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

    fn leased(&mut self, order: OrderId, provider: Address, machine: MachineId, now: u64) {
        let Some(o) = self.ledger.state().orders.get(&order).cloned() else {
            return;
        };
        let price = o.lease().map_or(0, |l| l.price_per_hour);
        let strategy = self.strategy(&provider);
        if let Some(parent) = o.audit_of() {
            let job = *self.meta(parent);
            *self.meta(order) = OrderMeta {
                machine,
                price_per_hour: price,
                ..job
            };
            let audited = self.machines.get(&job.machine).map(|m| m.owner);
            let member = audited.is_some_and(|a| self.strategy(&a) == Strategy::ColludingPadding);
            let run = match strategy {
                Strategy::LazyAuditor => Run::Skip,
                Strategy::PadBilling => Run::Pad,
                // Confirms a fellow member's padded time.
                Strategy::ColludingPadding if member => Run::Pad,
                _ => Run::Honest,
            };
            self.work(order, provider, parent, job.duration_ms, run);
            return;
        }
        let meta = self.meta(order);
        meta.machine = machine;
        meta.price_per_hour = price;
        let meta = *meta;
        let waited = now.saturating_sub(meta.submitted_ms);
        self.waits_ms.push((meta.work, waited));
        self.hour_waits_ms.push(waited);
        if meta.rental {
            let mut up_ms = meta.duration_ms;
            if strategy == Strategy::OfflineWhileRented && self.rng.gen_bool(0.5) {
                // Goes dark an hour in (halfway through a shorter rental),
                // saving the power; the renter notices and reports it.
                up_ms = (meta.duration_ms / 2).min(3_600_000);
                self.at(
                    now + up_ms,
                    Action::ReportOffline {
                        order,
                        client: o.client,
                    },
                );
            }
            self.charge_power(order, up_ms);
            return;
        }
        let timeout_ms = o.spec.timeout_secs * 1_000;
        let padded_ms = timeout_ms
            .saturating_sub(60_000)
            .saturating_sub(meta.duration_ms);
        let power = self.power_of(order, meta.duration_ms);
        let stats = &mut self.job_stats[usize::from(meta.deterministic)];
        let gpn = |a: Amount| a as f64 / UNIT as f64;
        stats.jobs += 1;
        stats.payment += gpn(price) * meta.duration_ms as f64 / 3_600_000.0;
        stats.pad_gain += gpn(price) * padded_ms as f64 / 3_600_000.0;
        stats.power += gpn(power);
        let unchecked = !meta.deterministic;
        let run = match strategy {
            Strategy::SkipWork => Run::Skip,
            Strategy::SelectiveSkip if unchecked => Run::Skip,
            Strategy::PadBilling => Run::Pad,
            Strategy::SelectivePadding if unchecked => Run::Pad,
            Strategy::ColludingPadding => Run::Pad,
            _ => Run::Honest,
        };
        self.work(order, provider, order, meta.duration_ms, run);
    }

    /// Runs the job whose output `order` must reproduce (`job`: itself, or the
    /// order an audit run checks) the way `run` says and reports it: a
    /// skipped run claims the real duration, a padded one a minute less than
    /// the timeout.
    fn work(
        &mut self,
        order: OrderId,
        provider: Address,
        job: OrderId,
        duration_ms: u64,
        run: Run,
    ) {
        let (root, claimed_ms) = match run {
            Run::Skip => (made_up_root(job, &provider), duration_ms),
            Run::Honest => {
                self.charge_power(order, duration_ms);
                (true_root(job), duration_ms)
            }
            Run::Pad => {
                self.charge_power(order, duration_ms);
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
            Action::Join { provider } => {
                let listed = self.list(provider);
                // Its machines' first challenges are answered now, before
                // the block's time runs past their deadlines.
                self.drain_events();
                listed
            }
            Action::Leave { provider } => {
                let now = self.ledger.now_ms();
                let machines = self
                    .providers
                    .get(&provider)
                    .map(|p| p.machines.clone())
                    .unwrap_or_default();
                for machine in machines {
                    if let Some(m) = self.machines.get_mut(&machine) {
                        m.left_ms = Some(now);
                    }
                    self.set_price(machine, None, false);
                }
                Ok(())
            }
            Action::AnswerProbe { order, provider } => {
                self.ledger.apply(provider, &TxBody::AnswerProbe { order })
            }
            Action::EndRental { order, client } => self
                .ledger
                .apply(client, &TxBody::EndRental { order, save: false }),
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
            Action::Relist { machine } => {
                if self
                    .machines
                    .get(&machine)
                    .is_some_and(|m| m.left_ms.is_none())
                {
                    self.set_price(machine, None, true);
                }
                Ok(())
            }
        };
    }

    /// Stakes for `provider`'s machines and lists them.
    fn list(&mut self, provider: Address) -> Result<(), gpunet_ledger::TxError> {
        let Some((classes, pricing)) = self
            .providers
            .get(&provider)
            .map(|p| (p.classes.clone(), p.pricing))
        else {
            return Ok(());
        };
        let params = &self.ledger.state().params;
        let gpus: u32 = classes.iter().map(|c| CLASSES[*c].gpus).sum();
        let stake = params.stake_per_machine * classes.len() as u128
            + params.stake_per_gpu * u128::from(gpus);
        self.ledger
            .apply(provider, &TxBody::Stake { amount: stake })?;
        let now = self.ledger.now_ms();
        for class in classes {
            let (price_per_hour, resource_prices) =
                CLASSES[class].prices_at(CLASSES[class].unit_price());
            let id = self.ledger.state().globals().next_machine_id;
            self.ledger.apply(
                provider,
                &TxBody::RegisterMachine {
                    spec: CLASSES[class].spec(),
                    price_per_hour,
                    resource_prices,
                },
            )?;
            self.machines.insert(
                id,
                MachineMeta {
                    owner: provider,
                    class,
                    pricing,
                    listed_ms: now,
                    left_ms: None,
                    income: 0,
                    power: 0,
                },
            );
            if let Some(p) = self.providers.get_mut(&provider) {
                p.machines.push(id);
            }
        }
        Ok(())
    }

    /// Sets `machine`'s unit price (`None` keeps it) and whether it takes work.
    fn set_price(&mut self, machine: MachineId, unit_price: Option<Amount>, online: bool) {
        let Some((m, class)) = self
            .ledger
            .state()
            .machines
            .get(&machine)
            .cloned()
            .zip(self.machines.get(&machine).map(|m| m.class))
        else {
            return;
        };
        let (price_per_hour, resource_prices) = match unit_price {
            Some(unit) => CLASSES[class].prices_at(unit),
            None => (m.price_per_hour, m.resource_prices),
        };
        let _ = self.ledger.apply(
            m.owner,
            &TxBody::UpdateMachine {
                machine,
                price_per_hour,
                resource_prices,
                online,
            },
        );
    }

    /// Adaptive providers lower the price of each idle machine and raise
    /// that of each full one, by `ADAPT_STEP_PCT`, between their power cost
    /// (and a margin) and three times the list price.
    fn adapt_prices(&mut self) {
        let adaptive: Vec<MachineId> = self
            .providers
            .values()
            .filter(|p| p.pricing == Pricing::Adaptive)
            .flat_map(|p| p.machines.iter().copied())
            .collect();
        for id in adaptive {
            let Some(meta) = self.machines.get(&id).filter(|m| m.left_ms.is_none()) else {
                continue;
            };
            let class = &CLASSES[meta.class];
            let Some(m) = self.ledger.state().machines.get(&id) else {
                continue;
            };
            if !m.online {
                continue;
            }
            let (used, listed, unit) = class.units_of(m);
            let free = listed.saturating_sub(used);
            // Less than the smallest CPU job (two cores) is as good as full.
            let free = if class.gpus > 0 { free } else { free / 2 };
            let floor = self.economics.power_per_hour(class) * 5 / 4 / Amount::from(class.units());
            let ceiling = class.unit_price() * 3;
            let next = if m.active_leases == 0 {
                (unit * (100 - ADAPT_STEP_PCT) / 100).max(floor)
            } else if free == 0 {
                (unit * (100 + ADAPT_STEP_PCT) / 100).min(ceiling)
            } else {
                continue;
            };
            if next != unit {
                self.set_price(id, Some(next), true);
            }
        }
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

/// How far an adaptive provider moves a price at a time, percent.
const ADAPT_STEP_PCT: Amount = 8;

/// How often adaptive providers look at their prices.
const ADAPT_EVERY_HOURS: u64 = 6;

/// Runs the simulation; `progress` hears about each simulated day.
pub fn run(config: &Config, mut progress: impl FnMut(&str)) -> Result<Report, SimError> {
    let scenario = config.scenario;
    let params = config.params.clone();
    let max_timeout_secs = params.max_job_timeout_secs;
    let start_ms = 1_000;
    let end_ms = start_ms + config.days * 24 * 3_600_000;
    let mut sim = Sim {
        ledger: Simulation::new(params, start_ms),
        rng: StdRng::seed_from_u64(config.seed),
        economics: config.economics,
        providers: BTreeMap::new(),
        machines: BTreeMap::new(),
        orders: Vec::new(),
        queue: BinaryHeap::new(),
        actions: BTreeMap::new(),
        seq: 0,
        waits_ms: Vec::new(),
        hour_waits_ms: Vec::new(),
        class_sales: vec![(0, 0.0); CLASSES.len()],
        placed_by_work: vec![0; scenario.mix.len()],
        job_stats: [JobStats::default(); 2],
        report: Report::default(),
    };
    let class_table: Vec<(usize, u32)> = CLASSES
        .iter()
        .enumerate()
        .map(|(i, c)| (i, c.share))
        .collect();
    // Providers own one to seven machines, four on average; some join
    // later, some leave, as the scenario's network says.
    let mut planned = 0;
    let mut units = vec![0u64; CLASSES.len()];
    let mut p: u64 = 0;
    let leave_per_day = f64::from(scenario.network.leave_pct_per_day) / 100.0;
    while planned < config.machines {
        let owner = address(&format!("provider/{p}"));
        p += 1;
        let strategy =
            if config.collusion_pct > 0 && sim.rng.gen_ratio(config.collusion_pct.min(100), 100) {
                Strategy::ColludingPadding
            } else {
                pick(&mut sim.rng, STRATEGIES)
            };
        let pricing =
            if strategy == Strategy::Honest && sim.rng.gen_ratio(scenario.adaptive_pct, 100) {
                Pricing::Adaptive
            } else {
                Pricing::Fixed
            };
        let count = sim.rng.gen_range(1..=7).min(config.machines - planned);
        let classes: Vec<usize> = (0..count)
            .map(|_| {
                let class = pick(&mut sim.rng, &class_table);
                // A fake claims H100s it does not have.
                if strategy == Strategy::FakeHardware {
                    0
                } else {
                    class
                }
            })
            .collect();
        for c in &classes {
            units[*c] += u64::from(CLASSES[*c].units());
        }
        let funded = 1_000_000 * UNIT;
        sim.ledger.fund(owner, funded);
        sim.providers.insert(
            owner,
            Provider {
                strategy,
                pricing,
                funded,
                classes,
                machines: Vec::new(),
            },
        );
        planned += count;
        let joins_ms = if sim.rng.gen_ratio(scenario.network.start_pct, 100) {
            start_ms
        } else {
            sim.rng.gen_range(start_ms..end_ms)
        };
        if joins_ms == start_ms {
            sim.list(owner).map_err(SimError::Setup)?;
            sim.drain_events();
        } else {
            sim.at(joins_ms, Action::Join { provider: owner });
        }
        if leave_per_day > 0.0 {
            // Leaving is a daily hazard: exponential time to leave.
            let days = -(1.0 - sim.rng.gen::<f64>()).ln() / leave_per_day;
            let leaves_ms = joins_ms + (days * 86_400_000.0) as u64;
            if leaves_ms < end_ms {
                sim.at(leaves_ms, Action::Leave { provider: owner });
            }
        }
        if p.is_multiple_of(1_000) {
            sim.ledger.flush();
        }
    }
    progress(&format!(
        "scenario {}: {} machines of {} providers planned, {} listed at the start",
        scenario.name,
        planned,
        sim.providers.len(),
        sim.machines.len()
    ));
    let clients: Vec<Address> = (0..1_000)
        .map(|i| address(&format!("client/{i}")))
        .collect();
    let client_funds = 1_000_000_000 * UNIT;
    for c in &clients {
        sim.ledger.fund(*c, client_funds);
    }

    let rates = Rates::new(
        scenario,
        &units,
        config.machines,
        config.days,
        config.orders,
    );
    let bursts: Vec<(usize, u64, u64)> = match &scenario.bursts {
        Some(b) => {
            let work = scenario.mix.iter().position(|(w, _)| w.name == b.work);
            (0..config.days * u64::from(b.per_day))
                .filter_map(|_| {
                    let from = sim.rng.gen_range(start_ms..end_ms);
                    work.map(|w| (w, from, from + u64::from(b.hours) * 3_600_000))
                })
                .collect()
        }
        None => Vec::new(),
    };
    let burst_factor = scenario
        .bursts
        .as_ref()
        .map_or(1.0, |b| f64::from(b.factor_pct) / 100.0);
    let blocks_per_hour = 3_600_000 / config.block_ms.max(1);
    let hours_per_block = config.block_ms as f64 / 3_600_000.0;
    let mut now = start_ms;
    let mut submitted = 0usize;
    let mut block = 0u64;
    while now < end_ms {
        now += config.block_ms;
        block += 1;
        let hour = (now - start_ms) as f64 / 3_600_000.0;
        let rhythm = daily_rhythm(hour % 24.0, scenario.rhythm_pct);
        for (work, per_hour) in rates.per_hour.iter().enumerate() {
            let bursting = bursts
                .iter()
                .any(|(w, from, to)| *w == work && (*from..*to).contains(&now));
            let expected =
                per_hour * hours_per_block * rhythm * if bursting { burst_factor } else { 1.0 };
            let mut arrivals = expected.floor() as usize;
            if sim.rng.gen::<f64>() < expected.fract() {
                arrivals += 1;
            }
            if let Some(cap) = config.orders {
                arrivals = arrivals.min(cap - submitted.min(cap));
            }
            for _ in 0..arrivals {
                let d = scenario.mix[work]
                    .0
                    .draw(&mut sim.rng, max_timeout_secs, config.audit_bps);
                let deterministic = d.spec.is_deterministic();
                let canary =
                    !d.rental && !deterministic && sim.rng.gen_ratio(config.canary_pct, 100);
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
                        work,
                        duration_ms: d.duration_ms,
                        submitted_ms: now,
                        rental: d.rental,
                        deterministic,
                        canary,
                        machine: 0,
                        price_per_hour: 0,
                    };
                    submitted += 1;
                    sim.placed_by_work[work] += 1;
                }
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
            if block.is_multiple_of(blocks_per_hour * ADAPT_EVERY_HOURS) {
                sim.adapt_prices();
                sim.drain_events();
            }
            let sample = Sample::of(
                sim.ledger.state(),
                &sim.machines,
                hour,
                &mut sim.hour_waits_ms,
            );
            sim.report.sample(sample);
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
    sim.report.finish(crate::report::Finish {
        config,
        state: sim.ledger.state(),
        providers: &sim.providers,
        machines: &sim.machines,
        waits_ms: &mut sim.waits_ms,
        class_sales: &sim.class_sales,
        work_of: &sim.orders.iter().map(|o| o.work).collect::<Vec<_>>(),
        placed_by_work: &sim.placed_by_work,
        job_stats: sim.job_stats,
        client_funds,
        clients: &clients,
        placed: submitted,
        end_ms,
    });
    Ok(sim.report)
}
