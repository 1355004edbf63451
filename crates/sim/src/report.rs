//! What a run shows: utilization, waits and prices over time, what clients
//! pay per GPU-hour against centralized markets, what honest providers of
//! each class make after power and the cost of their stake, fairness, burn
//! and rewards, and whether cheating pays; as text, JSON and an SVG plot
//! (plotters).

use crate::model::{Economics, Pricing, Strategy, CLASSES};
use crate::run::{Config, MachineMeta, Provider};
use gpunet_ledger::State;
use gpunet_primitives::{format_amount, Address, Amount, MachineId, UNIT};
use gpunet_types::OrderStatus;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeMap;

const HOUR_MS: f64 = 3_600_000.0;
const WEEK_MS: f64 = 7.0 * 24.0 * HOUR_MS;

/// One class of machines at one hour.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ClassSample {
    /// Leased GPUs (cores for CPU machines) over those of its machines that take work or hold leases.
    pub utilization: f64,
    /// The median unit price (per GPU-hour, per core-hour for CPU
    /// machines) its adaptive machines ask, in GPN (the list price when it
    /// has none): where the market's price settles.
    pub median_adaptive_price: f64,
}

/// Hourly snapshot of the market.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Sample {
    /// Simulated hours since the start.
    pub hour: f64,
    /// Leased GPUs over listed GPUs.
    pub gpu_utilization: f64,
    /// Leased cores over listed cores.
    pub cpu_utilization: f64,
    /// Open leases.
    pub running_leases: u64,
    /// Orders waiting for a machine.
    pub waiting: u64,
    /// Mean wait of the orders leased in the last hour, in minutes.
    pub mean_wait_min: f64,
    /// Each class, in the order of `CLASSES`.
    pub classes: Vec<ClassSample>,
}

impl Sample {
    /// The snapshot of `state` at `hour`; takes the waits of the hour's leases.
    pub(crate) fn of(
        state: &State,
        machines: &BTreeMap<MachineId, MachineMeta>,
        hour: f64,
        waits_ms: &mut Vec<u64>,
    ) -> Sample {
        let (mut gpus, mut used_gpus, mut cores, mut used_cores, mut leases) = (0, 0, 0, 0, 0);
        let mut units = vec![(0u64, 0u64); CLASSES.len()];
        let mut prices: Vec<Vec<Amount>> = vec![Vec::new(); CLASSES.len()];
        // Both are ordered by id: walked side by side, not looked up.
        let mut listed = state.machines.iter().peekable();
        for (id, meta) in machines {
            while listed.next_if(|(listed_id, _)| *listed_id < id).is_some() {}
            let Some((_, m)) = listed.next_if(|(listed_id, _)| *listed_id == id) else {
                continue;
            };
            if !m.online && m.active_leases == 0 {
                continue;
            }
            gpus += u64::from(m.spec.gpu_count());
            used_gpus += u64::from(m.allocated.gpus);
            cores += u64::from(m.spec.cpu_cores);
            used_cores += u64::from(m.allocated.cpu_cores);
            leases += u64::from(m.active_leases);
            let class = &CLASSES[meta.class];
            let (used, of, price) = class.units_of(m);
            units[meta.class].0 += u64::from(used);
            units[meta.class].1 += u64::from(of);
            if meta.pricing == Pricing::Adaptive {
                prices[meta.class].push(price);
            }
        }
        let mean_wait_min = if waits_ms.is_empty() {
            0.0
        } else {
            waits_ms.iter().sum::<u64>() as f64 / waits_ms.len() as f64 / 60_000.0
        };
        waits_ms.clear();
        Sample {
            hour,
            gpu_utilization: used_gpus as f64 / gpus.max(1) as f64,
            cpu_utilization: used_cores as f64 / cores.max(1) as f64,
            running_leases: leases,
            waiting: state.pending.len() as u64,
            mean_wait_min,
            classes: units
                .iter()
                .zip(prices.iter_mut())
                .zip(CLASSES)
                .map(|(((used, of), prices), class)| {
                    prices.sort_unstable();
                    let median = prices.get(prices.len() / 2).copied();
                    ClassSample {
                        utilization: *used as f64 / (*of).max(1) as f64,
                        median_adaptive_price: median.unwrap_or(class.unit_price()) as f64
                            / UNIT as f64,
                    }
                })
                .collect(),
        }
    }
}

/// How the providers of one strategy fared.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StrategyResult {
    /// The strategy's name.
    pub strategy: &'static str,
    /// Its providers.
    pub providers: usize,
    /// Their machines.
    pub machines: u64,
    /// Net result per machine over the run, in GPN: payments and rewards,
    /// minus slashes, the power of the work actually done and what the
    /// stake would have earned elsewhere.
    pub profit_per_machine: f64,
    /// Against what honest fixed-price machines of the same classes,
    /// listed as long, netted (for honest providers: what adaptive prices
    /// changed).
    pub versus_honest: f64,
}

/// What one class of machines sold, and what its honest providers made.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ClassResult {
    /// The class's name.
    pub class: &'static str,
    /// Machines of honest providers in it.
    pub honest_machines: u64,
    /// Its GPUs (cores for CPU machines) leased, over the run.
    pub utilization: f64,
    /// What clients paid per GPU-hour (core-hour for CPU machines), in GPN.
    pub client_price_gpn: f64,
    /// The same in USD.
    pub client_price_usd: f64,
    /// What centralized markets ask for the same, in USD (low, high).
    pub reference_usd: Option<(f64, f64)>,
    /// Per honest machine and week, in USD: what it was paid (and its
    /// share of the rewards), its power, the return its stake forgoes, and
    /// what is left.
    pub income_usd: f64,
    /// See `income_usd`.
    pub power_usd: f64,
    /// See `income_usd`.
    pub stake_usd: f64,
    /// See `income_usd`.
    pub net_usd: f64,
    /// Jain's index of income per listed hour among honest fixed-price
    /// machines of the class (1 = perfectly even).
    pub fairness: f64,
    /// Income per machine-week of honest fixed-price and adaptive machines, in USD.
    pub fixed_income_usd: f64,
    /// See `fixed_income_usd`.
    pub adaptive_income_usd: f64,
    /// The median unit price adaptive machines ask at the end, in percent of the list price.
    pub adaptive_price_pct: f64,
}

/// How one kind of work fared.
#[derive(Clone, Debug, serde::Serialize)]
pub struct WorkResult {
    /// The work's name.
    pub work: &'static str,
    /// Orders placed.
    pub orders: u64,
    /// Of those, leased to a machine.
    pub leased_pct: f64,
    /// Of those, expired waiting (nothing fitted at the client's price in time).
    pub expired_pct: f64,
    /// Median wait for a machine, in minutes.
    pub wait_p50_min: f64,
    /// 99th percentile of that wait, in minutes.
    pub wait_p99_min: f64,
}

/// What the jobs leased to machines were worth, summed: what the
/// simulator's analytic bound on cheating (`crate::sweep`) is computed from.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct JobStats {
    /// Jobs leased (not audit runs, not rentals).
    pub jobs: u64,
    /// Their payments at their lease prices for the time they take, in GPN.
    pub payment: f64,
    /// The power running them cost, in GPN.
    pub power: f64,
    /// What reporting each a minute before its timeout would bill on top, in GPN.
    pub pad_gain: f64,
}

impl JobStats {
    /// Adds `other`'s jobs to these.
    pub fn add(&mut self, other: &JobStats) {
        self.jobs += other.jobs;
        self.payment += other.payment;
        self.power += other.power;
        self.pad_gain += other.pad_gain;
    }

    /// Per job: (payment, power, padding gain), in GPN.
    pub fn mean(&self) -> (f64, f64, f64) {
        let n = self.jobs.max(1) as f64;
        (self.payment / n, self.power / n, self.pad_gain / n)
    }
}

/// What a simulation found.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: &'static str,
    /// The money assumptions.
    pub economics: Economics,
    /// Hourly snapshots.
    pub samples: Vec<Sample>,
    /// Orders clients placed.
    pub orders_placed: usize,
    /// Orders paid out.
    pub orders_settled: usize,
    /// Orders that expired waiting for a machine.
    pub orders_expired: usize,
    /// GPU utilization averaged over the samples.
    pub mean_gpu_utilization: f64,
    /// Median wait from placing an order to its lease, in seconds.
    pub wait_p50_s: f64,
    /// 99th percentile of that wait, in seconds.
    pub wait_p99_s: f64,
    /// What clients paid per order, in GPN.
    pub cost_per_order: f64,
    /// Of clients' orders that ran and closed, the share settled (their
    /// providers paid), in percent.
    pub settled_pct: f64,
    /// The same for the clients who never look at their results: settlement
    /// needs no acceptance, so they pay like everyone else.
    pub settled_pct_never_accepting: f64,
    /// Jain's index of honest fixed-price machines' income per listed hour
    /// over what their list price would earn them fully rented, across
    /// classes (1 = perfectly even).
    pub fairness: f64,
    /// Tokens burned, in GPN.
    pub burned: String,
    /// Of those, what slashing took, in GPN.
    pub slashed: String,
    /// Tokens minted as rewards, in GPN.
    pub minted_rewards: String,
    /// Each strategy's result.
    pub strategies: Vec<StrategyResult>,
    /// Each class's prices and returns.
    pub classes: Vec<ClassResult>,
    /// Each kind of work's waits.
    pub works: Vec<WorkResult>,
    /// Leased jobs that are not deterministic (only canaries check them).
    pub unchecked_jobs: JobStats,
    /// Leased deterministic jobs (audits check them).
    pub deterministic_jobs: JobStats,
}

/// What `Report::finish` reads.
pub(crate) struct Finish<'a> {
    pub config: &'a Config,
    pub state: &'a State,
    pub providers: &'a BTreeMap<Address, Provider>,
    pub machines: &'a BTreeMap<MachineId, MachineMeta>,
    /// (work, wait) of every leased order.
    pub waits_ms: &'a mut Vec<(usize, u64)>,
    /// Per class: gross paid and unit-hours bought.
    pub class_sales: &'a [(Amount, f64)],
    /// The work of every order, by id.
    pub work_of: &'a [usize],
    /// Orders placed of each kind of work.
    pub placed_by_work: &'a [u64],
    /// Leased jobs that are not, and that are, deterministic.
    pub job_stats: [JobStats; 2],
    pub client_funds: Amount,
    pub clients: &'a [Address],
    pub placed: usize,
    pub end_ms: u64,
}

/// Jain's index of `xs` (1 = all equal; 1 for none).
fn jain(xs: &[f64]) -> f64 {
    let sum: f64 = xs.iter().sum();
    let squares: f64 = xs.iter().map(|x| x * x).sum();
    if squares > 0.0 {
        sum * sum / (xs.len() as f64 * squares)
    } else {
        1.0
    }
}

/// The `p`th percentile of sorted `xs`.
fn percentile(xs: &[u64], p: usize) -> u64 {
    xs.get(xs.len().saturating_sub(1) * p / 100)
        .copied()
        .unwrap_or(0)
}

impl Report {
    /// Records an hourly snapshot.
    pub fn sample(&mut self, sample: Sample) {
        self.samples.push(sample);
    }

    /// Open leases at the last snapshot.
    pub fn last_running(&self) -> u64 {
        self.samples.last().map_or(0, |s| s.running_leases)
    }

    pub(crate) fn finish(&mut self, f: Finish<'_>) {
        let Finish {
            config,
            state,
            providers,
            machines,
            waits_ms,
            class_sales,
            work_of,
            placed_by_work,
            job_stats,
            client_funds,
            clients,
            placed,
            end_ms,
        } = f;
        let economics = config.economics;
        let gpn = |a: i128| a as f64 / UNIT as f64;
        self.scenario = config.scenario.name;
        [self.unchecked_jobs, self.deterministic_jobs] = job_stats;
        self.economics = economics;
        self.orders_placed = placed;
        let mut expired_by_work = vec![0u64; config.scenario.mix.len()];
        for (id, o) in state.orders.iter() {
            match o.status() {
                OrderStatus::Settled if o.audit_of().is_none() => self.orders_settled += 1,
                OrderStatus::Expired if o.audit_of().is_none() => {
                    self.orders_expired += 1;
                    if let Some(w) = work_of.get(*id as usize) {
                        expired_by_work[*w] += 1;
                    }
                }
                _ => {}
            }
        }
        self.mean_gpu_utilization = self.samples.iter().map(|s| s.gpu_utilization).sum::<f64>()
            / self.samples.len().max(1) as f64;
        let mut all: Vec<u64> = waits_ms.iter().map(|(_, w)| *w).collect();
        all.sort_unstable();
        self.wait_p50_s = percentile(&all, 50) as f64 / 1000.0;
        self.wait_p99_s = percentile(&all, 99) as f64 / 1000.0;
        self.works = Self::works(config, placed_by_work, waits_ms, &expired_by_work);

        // What each client has spent: funds minus balance minus open escrow.
        let mut escrow: BTreeMap<Address, Amount> = BTreeMap::new();
        let mut orders_of: BTreeMap<Address, u64> = BTreeMap::new();
        // Per client: orders that ran and closed, and of those settled.
        let mut closed_of: BTreeMap<Address, (u64, u64)> = BTreeMap::new();
        for (_, o) in state.orders.iter() {
            *escrow.entry(o.client).or_default() += o.escrow;
            if o.audit_of().is_none() {
                *orders_of.entry(o.client).or_default() += 1;
                let status = o.status();
                let ran = !matches!(
                    status,
                    OrderStatus::Expired | OrderStatus::Cancelled | OrderStatus::Declined
                );
                if ran && !status.is_open() {
                    let entry = closed_of.entry(o.client).or_default();
                    entry.0 += 1;
                    entry.1 += u64::from(status == OrderStatus::Settled);
                }
            }
        }
        let spent = |c: &Address| {
            client_funds - state.account(c).balance - escrow.get(c).copied().unwrap_or(0)
        };
        // The first tenth of the clients never accept (or even fetch) results.
        let (never, others) = clients.split_at(clients.len() / 10);
        let settled = |group: &[Address]| {
            let (closed, settled) = group
                .iter()
                .filter_map(|c| closed_of.get(c))
                .fold((0, 0), |(c, s), (c1, s1)| (c + c1, s + s1));
            settled as f64 / closed.max(1) as f64 * 100.0
        };
        self.settled_pct = settled(others);
        self.settled_pct_never_accepting = settled(never);
        let paid: Amount = clients.iter().map(spent).sum();
        self.cost_per_order = gpn(paid as i128) / orders_of.values().sum::<u64>().max(1) as f64;

        // Rewards go to providers, not machines: each machine gets its
        // provider's rewards in proportion to its listed time.
        let listed_ms = |m: &MachineMeta| m.left_ms.unwrap_or(end_ms).saturating_sub(m.listed_ms);
        let params = &state.params;
        let stake_cost = |m: &MachineMeta| {
            let stake =
                params.stake_per_machine + params.stake_per_gpu * u128::from(CLASSES[m.class].gpus);
            stake as f64 * economics.stake_apr_pct / 100.0 * listed_ms(m) as f64
                / (365.0 * 24.0 * HOUR_MS)
        };
        let mut provider_of: BTreeMap<Address, (&Provider, f64)> = BTreeMap::new();
        for (address, p) in providers {
            let account = state.account(address);
            let held = account.balance + account.bonded + account.unbonding_total();
            let income: Amount = p
                .machines
                .iter()
                .filter_map(|m| machines.get(m))
                .map(|m| m.income)
                .sum();
            // What it holds beyond its payments: rewards, less slashes.
            provider_of.insert(*address, (p, held as f64 - p.funded as f64 - income as f64));
        }
        // Per class, honest machines only.
        let listed_of = |owner: &Address| {
            providers.get(owner).map_or(0, |p| {
                p.machines
                    .iter()
                    .filter_map(|m| machines.get(m))
                    .map(listed_ms)
                    .sum::<u64>()
            })
        };
        let mut across = Vec::new();
        // What an honest fixed-price machine of each class nets per listed
        // ms: cheats keep list prices too, so that is what they compare with.
        let mut honest_rate = vec![0.0; CLASSES.len()];
        self.classes = CLASSES
            .iter()
            .enumerate()
            .map(|(c, class)| {
                let mut weeks = 0.0;
                let (mut income, mut power, mut stake) = (0.0, 0.0, 0.0);
                // (earned, weeks listed, net)
                let mut fixed = (0.0, 0.0, 0.0);
                let mut adaptive = (0.0, 0.0);
                let mut rates = Vec::new();
                let mut honest_machines = 0;
                let mut adaptive_prices = Vec::new();
                for (id, m) in machines.iter().filter(|(_, m)| m.class == c) {
                    let Some((p, other)) = provider_of.get(&m.owner) else {
                        continue;
                    };
                    if p.strategy != Strategy::Honest {
                        continue;
                    }
                    honest_machines += 1;
                    let listed = listed_ms(m) as f64;
                    let share = listed / listed_of(&m.owner).max(1) as f64;
                    let earned = m.income as f64 + other * share;
                    weeks += listed / WEEK_MS;
                    income += earned;
                    power += m.power as f64;
                    stake += stake_cost(m);
                    match p.pricing {
                        Pricing::Fixed => {
                            fixed.0 += earned;
                            fixed.1 += listed / WEEK_MS;
                            fixed.2 += earned - m.power as f64 - stake_cost(m);
                            if listed > 0.0 {
                                let per_hour = m.income as f64 / (listed / HOUR_MS);
                                rates.push(per_hour);
                                let full =
                                    (class.unit_price() * Amount::from(class.units())) as f64;
                                across.push(per_hour / full);
                            }
                        }
                        Pricing::Adaptive => {
                            adaptive.0 += earned;
                            adaptive.1 += listed / WEEK_MS;
                            if let Some(machine) = state.machines.get(id) {
                                let (.., unit) = class.units_of(machine);
                                adaptive_prices
                                    .push(unit as f64 / class.unit_price() as f64 * 100.0);
                            }
                        }
                    }
                }
                adaptive_prices.sort_by(f64::total_cmp);
                honest_rate[c] = fixed.2 / (fixed.1 * WEEK_MS).max(1.0);
                let per_week = |amount: f64, weeks: f64| economics.usd(amount) / weeks.max(1e-9);
                let (paid, unit_hours) = class_sales[c];
                let client_price_gpn = paid as f64 / UNIT as f64 / unit_hours.max(1e-9);
                ClassResult {
                    class: class.name,
                    honest_machines,
                    utilization: self
                        .samples
                        .iter()
                        .map(|s| s.classes[c].utilization)
                        .sum::<f64>()
                        / self.samples.len().max(1) as f64,
                    client_price_gpn,
                    client_price_usd: client_price_gpn * economics.gpn_usd,
                    reference_usd: class.reference_usd,
                    income_usd: per_week(income, weeks),
                    power_usd: per_week(power, weeks),
                    stake_usd: per_week(stake, weeks),
                    net_usd: per_week(income - power - stake, weeks),
                    fairness: jain(&rates),
                    fixed_income_usd: per_week(fixed.0, fixed.1),
                    adaptive_income_usd: per_week(adaptive.0, adaptive.1),
                    adaptive_price_pct: adaptive_prices
                        .get(adaptive_prices.len() / 2)
                        .copied()
                        .unwrap_or(100.0),
                }
            })
            .collect();
        self.fairness = jain(&across);
        self.strategies = Self::strategies(
            state,
            providers,
            machines,
            &honest_rate,
            &listed_ms,
            &stake_cost,
        );
        let g = state.globals();
        self.burned = format_amount(g.burned);
        self.slashed = format_amount(g.slashed);
        self.minted_rewards = format_amount(g.minted);
    }

    /// Each strategy's profit per machine, and against what honest machines
    /// of the same classes, listed as long, netted.
    fn strategies(
        state: &State,
        providers: &BTreeMap<Address, Provider>,
        machines: &BTreeMap<MachineId, MachineMeta>,
        honest_rate: &[f64],
        listed_ms: &dyn Fn(&MachineMeta) -> u64,
        stake_cost: &dyn Fn(&MachineMeta) -> f64,
    ) -> Vec<StrategyResult> {
        // (providers, machines, profit, what honesty would have netted)
        let mut by_strategy: BTreeMap<Strategy, (usize, u64, f64, f64)> = BTreeMap::new();
        for (address, p) in providers {
            let account = state.account(address);
            let held = account.balance + account.bonded + account.unbonding_total();
            let own: Vec<&MachineMeta> =
                p.machines.iter().filter_map(|m| machines.get(m)).collect();
            let power: Amount = own.iter().map(|m| m.power).sum();
            let stake: f64 = own.iter().map(|m| stake_cost(m)).sum();
            let honest: f64 = own
                .iter()
                .map(|m| honest_rate[m.class] * listed_ms(m) as f64)
                .sum();
            let profit = held as f64 - p.funded as f64 - power as f64 - stake;
            let entry = by_strategy.entry(p.strategy).or_default();
            entry.0 += 1;
            entry.1 += own.len() as u64;
            entry.2 += profit / UNIT as f64;
            entry.3 += honest / UNIT as f64;
        }
        by_strategy
            .into_iter()
            .map(|(s, (providers, machines, profit, honest))| {
                let n = machines.max(1) as f64;
                StrategyResult {
                    strategy: s.name(),
                    providers,
                    machines,
                    profit_per_machine: profit / n,
                    versus_honest: (profit - honest) / n,
                }
            })
            .collect()
    }

    /// Each kind of work's orders, leases, expiries and waits.
    fn works(
        config: &Config,
        placed: &[u64],
        waits_ms: &[(usize, u64)],
        expired: &[u64],
    ) -> Vec<WorkResult> {
        let mut waits: Vec<Vec<u64>> = vec![Vec::new(); placed.len()];
        for (w, ms) in waits_ms {
            waits[*w].push(*ms);
        }
        config
            .scenario
            .mix
            .iter()
            .enumerate()
            .map(|(i, (work, _))| {
                waits[i].sort_unstable();
                let n = placed[i].max(1) as f64;
                WorkResult {
                    work: work.name,
                    orders: placed[i],
                    leased_pct: waits[i].len() as f64 / n * 100.0,
                    expired_pct: expired[i] as f64 / n * 100.0,
                    wait_p50_min: percentile(&waits[i], 50) as f64 / 60_000.0,
                    wait_p99_min: percentile(&waits[i], 99) as f64 / 60_000.0,
                }
            })
            .collect()
    }

    /// Whether every cheating strategy earned less per machine than honesty.
    pub fn cheating_loses(&self) -> bool {
        self.strategies
            .iter()
            .filter(|s| s.strategy != Strategy::Honest.name())
            .all(|s| s.versus_honest < 0.0)
    }

    /// The report for people.
    pub fn text(&self) -> String {
        let e = self.economics;
        let mut t = format!(
            "scenario {}: orders placed {}, settled {}, expired waiting {}\n\
             GPU utilization (rental rate) {:.1} % on average\n\
             wait for a machine: p50 {:.0} s, p99 {:.0} s\n\
             clients paid {:.4} GPN per order; of their orders that ran, {:.1} % settled ({:.1} % for those who never accept results)\n\
             fairness across classes, income over capacity (Jain's index) {:.3}\n\
             burned {} GPN (slashed {}), rewards minted {} GPN\n\
             assuming 1 GPN = ${:.2}, power ${:.3}/kWh, stake forgoing {:.1} % a year\n\n",
            self.scenario,
            self.orders_placed,
            self.orders_settled,
            self.orders_expired,
            self.mean_gpu_utilization * 100.0,
            self.wait_p50_s,
            self.wait_p99_s,
            self.cost_per_order,
            self.settled_pct,
            self.settled_pct_never_accepting,
            self.fairness,
            self.burned,
            self.slashed,
            self.minted_rewards,
            e.gpn_usd,
            e.power_usd_per_kwh,
            e.stake_apr_pct,
        );
        t += &format!(
            "{:<9} {:>7} {:>6} {:>14} {:>12} {:>34} {:>8} {:>9}\n",
            "class",
            "honest",
            "used",
            "client $/unit-h",
            "centralized",
            "per machine-week: paid-power-stake",
            "fairness",
            "adaptive"
        );
        for c in &self.classes {
            let reference = c
                .reference_usd
                .map_or("-".to_string(), |(lo, hi)| format!("{lo:.2}-{hi:.2}"));
            let money = format!(
                "${:.0}-{:.0}-{:.0} = {:+.0}",
                c.income_usd, c.power_usd, c.stake_usd, c.net_usd
            );
            t += &format!(
                "{:<9} {:>7} {:>5.1}% {:>14.3} {:>12} {:>34} {:>8.3} {:>8.0}%\n",
                c.class,
                c.honest_machines,
                c.utilization * 100.0,
                c.client_price_usd,
                reference,
                money,
                c.fairness,
                c.adaptive_price_pct
            );
        }
        t += &format!(
            "\n{:<16} {:>9} {:>8} {:>8} {:>14} {:>14}\n",
            "work", "orders", "leased", "expired", "wait p50 min", "wait p99 min"
        );
        for w in &self.works {
            t += &format!(
                "{:<16} {:>9} {:>7.1}% {:>7.1}% {:>14.1} {:>14.1}\n",
                w.work, w.orders, w.leased_pct, w.expired_pct, w.wait_p50_min, w.wait_p99_min
            );
        }
        t += &format!(
            "\n{:<22} {:>9} {:>9} {:>16} {:>16}\n",
            "strategy", "providers", "machines", "GPN per machine", "vs honest"
        );
        for s in &self.strategies {
            t += &format!(
                "{:<22} {:>9} {:>9} {:>16.2} {:>+16.2}\n",
                s.strategy, s.providers, s.machines, s.profit_per_machine, s.versus_honest
            );
        }
        t += if self.cheating_loses() {
            "\nevery cheating strategy earns less than honesty under these parameters"
        } else {
            "\nWARNING: some cheating strategy earns more than honesty"
        };
        t
    }

    /// Six charts as one SVG image (plotters): utilization, waits and
    /// prices over time; profit by strategy, net return by class and
    /// fairness by class. A chart that fails to draw is left blank, not fatal.
    pub fn svg(&self) -> String {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (1650, 880)).into_drawing_area();
            let _ = root.fill(&WHITE);
            let title = format!("gpunet sim: scenario {}", self.scenario);
            let root = root
                .titled(&title, ("sans-serif", 20))
                .unwrap_or_else(|_| root.clone());
            let areas = root.split_evenly((2, 3));
            let hours = self.samples.last().map_or(1.0, |x| x.hour.max(1.0));
            let per_class = |value: fn(&ClassSample) -> f64| -> Vec<Series> {
                CLASSES
                    .iter()
                    .enumerate()
                    .map(|(c, class)| Series {
                        label: class.name.to_string(),
                        color: PALETTE[c % PALETTE.len()],
                        points: self
                            .samples
                            .iter()
                            .filter_map(|s| s.classes.get(c).map(|x| (s.hour, value(x))))
                            .collect(),
                    })
                    .collect()
            };
            let utilization = per_class(|x| x.utilization.clamp(0.0, 1.0) * 100.0);
            let _ = draw_lines(
                &areas[0],
                "Utilization (rental rate) by class",
                "% rented",
                hours,
                100.0,
                &utilization,
            );
            let waits = vec![Series {
                label: "mean wait of the hour's leases".into(),
                color: PALETTE[0],
                points: self
                    .samples
                    .iter()
                    .map(|s| (s.hour, s.mean_wait_min))
                    .collect(),
            }];
            let _ = draw_lines(
                &areas[1],
                "Wait for a machine",
                "minutes",
                hours,
                max_of(&waits),
                &waits,
            );
            let prices: Vec<Series> = per_class(|x| x.median_adaptive_price)
                .into_iter()
                .zip(CLASSES)
                .map(|(mut series, class)| {
                    let list = class.unit_price() as f64 / UNIT as f64;
                    for p in &mut series.points {
                        p.1 = p.1 / list * 100.0;
                    }
                    series
                })
                .collect();
            let _ = draw_lines(
                &areas[2],
                "Median adaptive price, % of list",
                "% of list price",
                hours,
                max_of(&prices).max(100.0),
                &prices,
            );
            let strategies: Vec<Bar> = self
                .strategies
                .iter()
                .map(|r| Bar {
                    label: r.strategy.to_string(),
                    value: r.profit_per_machine,
                    color: if r.strategy == Strategy::Honest.name() {
                        GREEN_BAR
                    } else {
                        RED_BAR
                    },
                })
                .collect();
            let _ = draw_bars(
                &areas[3],
                "Profit per machine by strategy (GPN)",
                "GPN per machine over the run",
                &strategies,
                None,
            );
            let net: Vec<Bar> = self
                .classes
                .iter()
                .map(|c| Bar {
                    label: c.class.to_string(),
                    value: c.net_usd,
                    color: if c.net_usd >= 0.0 { GREEN_BAR } else { RED_BAR },
                })
                .collect();
            let _ = draw_bars(
                &areas[4],
                "Honest net per machine-week (USD)",
                "USD after power and stake",
                &net,
                None,
            );
            let fairness: Vec<Bar> = self
                .classes
                .iter()
                .map(|c| Bar {
                    label: c.class.to_string(),
                    value: c.fairness,
                    color: PALETTE[0],
                })
                .collect();
            let _ = draw_bars(
                &areas[5],
                "Fairness within class (Jain's index)",
                "1 = every machine earns the same",
                &fairness,
                Some(0.9),
            );
            let _ = root.present();
        }
        svg
    }
}

/// A line of a chart.
struct Series {
    label: String,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

/// A bar of a chart.
struct Bar {
    label: String,
    value: f64,
    color: RGBColor,
}

fn max_of(series: &[Series]) -> f64 {
    series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(1.0, f64::max)
        * 1.1
}

/// Lines over simulated hours.
fn draw_lines(
    area: &DrawingArea<SVGBackend, Shift>,
    caption: &str,
    y_desc: &str,
    hours: f64,
    y_max: f64,
    series: &[Series],
) -> Result<(), String> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..hours, 0.0..y_max)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("simulated hours")
        .y_desc(y_desc)
        .draw()
        .map_err(|e| e.to_string())?;
    for s in series {
        let color = s.color;
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(s.label.as_str())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(|e| e.to_string())
}

/// Horizontal bars, so that every label reads in full beside its bar,
/// the first on top; `mark` draws a vertical line at a goal.
fn draw_bars(
    area: &DrawingArea<SVGBackend, Shift>,
    caption: &str,
    x_desc: &str,
    bars: &[Bar],
    mark: Option<f64>,
) -> Result<(), String> {
    let bound = bars
        .iter()
        .map(|b| b.value.abs())
        .chain(mark)
        .fold(f64::MIN_POSITIVE, f64::max)
        * 1.1;
    let low = if bars.iter().any(|b| b.value < 0.0) {
        -bound
    } else {
        0.0
    };
    let rows = bars.len().max(1) as u32;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(150)
        .build_cartesian_2d(low..bound, 0.0..f64::from(rows))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        // Key points every half row: a name at each row's middle.
        .y_labels(2 * rows as usize + 1)
        .y_label_formatter(&|y| {
            let halves = (y * 2.0).round() as u32;
            // Rows count from the bottom; the first bar goes on top.
            let index = (halves % 2 == 1)
                .then(|| (rows - 1).checked_sub(halves / 2))
                .flatten();
            index
                .and_then(|i| bars.get(i as usize))
                .map_or(String::new(), |b| b.label.clone())
        })
        .x_desc(x_desc)
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, b)| {
            let row = f64::from(rows - 1 - i as u32);
            Rectangle::new([(0.0, row + 0.2), (b.value, row + 0.8)], b.color.filled())
        }))
        .map_err(|e| e.to_string())?;
    if let Some(x) = mark {
        chart
            .draw_series(std::iter::once(PathElement::new(
                [(x, 0.0), (x, f64::from(rows))],
                BLACK.stroke_width(1),
            )))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

const PALETTE: [RGBColor; 5] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];
const GREEN_BAR: RGBColor = RGBColor(0x2c, 0xa0, 0x2c);
const RED_BAR: RGBColor = RGBColor(0xd6, 0x27, 0x28);
