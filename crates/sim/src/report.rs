//! What a run shows: utilization, waits, costs, fairness, burn and rewards,
//! and whether cheating pays; as text, JSON and an SVG plot.

use crate::model::Strategy;
use crate::run::Provider;
use gpunet_ledger::State;
use gpunet_primitives::{format_amount, Address, Amount, UNIT};
use gpunet_types::OrderStatus;
use std::collections::BTreeMap;

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
}

impl Sample {
    /// The snapshot of `state` at `hour`.
    pub fn of(state: &State, hour: f64) -> Sample {
        let (mut gpus, mut used_gpus, mut cores, mut used_cores, mut leases) = (0, 0, 0, 0, 0);
        for (_, m) in state.machines.iter() {
            gpus += u64::from(m.spec.gpu_count());
            used_gpus += u64::from(m.allocated.gpus);
            cores += u64::from(m.spec.cpu_cores);
            used_cores += u64::from(m.allocated.cpu_cores);
            leases += u64::from(m.active_leases);
        }
        Sample {
            hour,
            gpu_utilization: used_gpus as f64 / gpus.max(1) as f64,
            cpu_utilization: used_cores as f64 / cores.max(1) as f64,
            running_leases: leases,
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
    /// minus slashes and the cost of the work actually done.
    pub profit_per_machine: f64,
    /// Against an honest machine's.
    pub versus_honest: f64,
}

/// What a simulation found.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Report {
    /// Hourly snapshots.
    pub samples: Vec<Sample>,
    /// Orders clients placed.
    pub orders_placed: usize,
    /// Orders paid out.
    pub orders_settled: usize,
    /// GPU utilization averaged over the samples.
    pub mean_gpu_utilization: f64,
    /// Median wait from placing an order to its lease, in seconds.
    pub wait_p50_s: f64,
    /// 99th percentile of that wait, in seconds.
    pub wait_p99_s: f64,
    /// What clients paid per order, in GPN.
    pub cost_per_order: f64,
    /// The same for the clients who never look at their results.
    pub cost_per_order_never_accepting: f64,
    /// Jain's index of honest providers' income per machine (1 = perfectly even).
    pub fairness: f64,
    /// Tokens burned, in GPN.
    pub burned: String,
    /// Of those, what slashing took, in GPN.
    pub slashed: String,
    /// Tokens minted as rewards, in GPN.
    pub minted_rewards: String,
    /// Each strategy's result.
    pub strategies: Vec<StrategyResult>,
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

    pub(crate) fn finish(
        &mut self,
        state: &State,
        providers: &BTreeMap<Address, Provider>,
        waits_ms: &mut [u64],
        client_funds: Amount,
        clients: &[Address],
        placed: usize,
    ) {
        let gpn = |a: i128| a as f64 / UNIT as f64;
        self.orders_placed = placed;
        self.orders_settled = state
            .orders
            .iter()
            .filter(|(_, o)| o.status() == OrderStatus::Settled)
            .count();
        self.mean_gpu_utilization = self.samples.iter().map(|s| s.gpu_utilization).sum::<f64>()
            / self.samples.len().max(1) as f64;
        waits_ms.sort_unstable();
        let pct = |p: usize| {
            waits_ms
                .get(waits_ms.len().saturating_sub(1) * p / 100)
                .map_or(0.0, |w| *w as f64 / 1000.0)
        };
        self.wait_p50_s = pct(50);
        self.wait_p99_s = pct(99);

        // What each client has spent: funds minus balance minus open escrow.
        let mut escrow: BTreeMap<Address, Amount> = BTreeMap::new();
        let mut orders_of: BTreeMap<Address, u64> = BTreeMap::new();
        for (_, o) in state.orders.iter() {
            *escrow.entry(o.client).or_default() += o.escrow;
            if o.audit_of().is_none() {
                *orders_of.entry(o.client).or_default() += 1;
            }
        }
        let spent = |c: &Address| {
            client_funds - state.account(c).balance - escrow.get(c).copied().unwrap_or(0)
        };
        // The first tenth of the clients never accept (or even fetch) results.
        let (never, others) = clients.split_at(clients.len() / 10);
        let per_order = |group: &[Address]| {
            let paid: Amount = group.iter().map(spent).sum();
            let n: u64 = group
                .iter()
                .map(|c| orders_of.get(c).copied().unwrap_or(0))
                .sum();
            gpn(paid as i128) / n.max(1) as f64
        };
        self.cost_per_order = per_order(others);
        self.cost_per_order_never_accepting = per_order(never);

        let mut by_strategy: BTreeMap<Strategy, (usize, u64, f64)> = BTreeMap::new();
        let mut honest_income = Vec::new();
        for (address, p) in providers {
            let account = state.account(address);
            let held = account.balance + account.bonded + account.unbonding_total();
            let profit = held as i128 - p.funded as i128 - p.running_cost as i128;
            let entry = by_strategy.entry(p.strategy).or_default();
            entry.0 += 1;
            entry.1 += u64::from(p.machines);
            entry.2 += gpn(profit);
            if p.strategy == Strategy::Honest {
                honest_income.push(gpn(held as i128 - p.funded as i128) / f64::from(p.machines));
            }
        }
        let sum: f64 = honest_income.iter().sum();
        let squares: f64 = honest_income.iter().map(|x| x * x).sum();
        self.fairness = if squares > 0.0 {
            sum * sum / (honest_income.len() as f64 * squares)
        } else {
            1.0
        };
        let honest = by_strategy
            .get(&Strategy::Honest)
            .map_or(0.0, |(_, m, p)| p / (*m).max(1) as f64);
        self.strategies = by_strategy
            .into_iter()
            .map(|(s, (providers, machines, profit))| {
                let per_machine = profit / machines.max(1) as f64;
                StrategyResult {
                    strategy: s.name(),
                    providers,
                    machines,
                    profit_per_machine: per_machine,
                    versus_honest: per_machine - honest,
                }
            })
            .collect();
        let g = state.globals();
        self.burned = format_amount(g.burned);
        self.slashed = format_amount(g.slashed);
        self.minted_rewards = format_amount(g.minted);
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
        let mut t = format!(
            "orders placed {}, settled {}\n\
             GPU utilization (rental rate) {:.1} % on average\n\
             wait for a machine: p50 {:.0} s, p99 {:.0} s\n\
             client cost per order {:.4} GPN; clients who never accept results {:.4} GPN\n\
             fairness across honest providers (Jain's index) {:.3}\n\
             burned {} GPN (slashed {}), rewards minted {} GPN\n\n\
             {:<22} {:>9} {:>9} {:>16} {:>16}\n",
            self.orders_placed,
            self.orders_settled,
            self.mean_gpu_utilization * 100.0,
            self.wait_p50_s,
            self.wait_p99_s,
            self.cost_per_order,
            self.cost_per_order_never_accepting,
            self.fairness,
            self.burned,
            self.slashed,
            self.minted_rewards,
            "strategy",
            "providers",
            "machines",
            "GPN per machine",
            "vs honest"
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

    /// Utilization over time and profit per strategy, as an SVG image.
    pub fn svg(&self) -> String {
        let (w, h) = (960.0, 420.0);
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        );
        // Left: utilization over simulated hours.
        let (x0, y0, pw, ph) = (50.0, 40.0, 420.0, 320.0);
        s += &format!("<text x=\"{x0}\" y=\"25\">Utilization (rental rate) over time</text>\n");
        s += &format!(
            "<rect x=\"{x0}\" y=\"{y0}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#888\"/>\n"
        );
        let max_hour = self.samples.last().map_or(1.0, |x| x.hour.max(1.0));
        s += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">100%</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">0%</text>\n",
            x0 - 4.0,
            y0 + 10.0,
            x0 - 4.0,
            y0 + ph
        );
        for (field, color) in [(0, "#1f77b4"), (1, "#ff7f0e")] {
            let points: Vec<String> = self
                .samples
                .iter()
                .map(|p| {
                    let v = if field == 0 {
                        p.gpu_utilization
                    } else {
                        p.cpu_utilization
                    };
                    format!(
                        "{:.1},{:.1}",
                        x0 + p.hour / max_hour * pw,
                        y0 + ph - v.clamp(0.0, 1.0) * ph
                    )
                })
                .collect();
            s += &format!(
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>\n",
                points.join(" ")
            );
        }
        s += &format!(
            "<text x=\"{x0}\" y=\"{}\">0 h</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{max_hour:.0} h</text>\n",
            y0 + ph + 15.0,
            x0 + pw,
            y0 + ph + 15.0
        );
        s += &format!(
            "<text x=\"{}\" y=\"{}\" fill=\"#1f77b4\">GPUs</text><text x=\"{}\" y=\"{}\" fill=\"#ff7f0e\">cores</text>\n",
            x0 + 10.0,
            y0 + 15.0,
            x0 + 60.0,
            y0 + 15.0
        );
        // Right: profit per machine by strategy.
        let (x1, pw1) = (540.0, 380.0);
        s += &format!("<text x=\"{x1}\" y=\"25\">Profit per machine by strategy (GPN)</text>\n");
        let max = self
            .strategies
            .iter()
            .map(|r| r.profit_per_machine.abs())
            .fold(1.0, f64::max);
        let zero = y0 + ph / 2.0;
        s += &format!(
            "<line x1=\"{x1}\" y1=\"{zero}\" x2=\"{}\" y2=\"{zero}\" stroke=\"#444\"/>\n",
            x1 + pw1
        );
        let bar = pw1 / self.strategies.len().max(1) as f64;
        for (i, r) in self.strategies.iter().enumerate() {
            let len = r.profit_per_machine / max * (ph / 2.0 - 20.0);
            let (y, hgt) = if len >= 0.0 {
                (zero - len, len)
            } else {
                (zero, -len)
            };
            let color = if r.strategy == "honest" {
                "#2ca02c"
            } else {
                "#d62728"
            };
            let x = x1 + i as f64 * bar + 8.0;
            s += &format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{hgt:.1}\" fill=\"{color}\"/>\n\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\">{}</text>\n\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"10\">{:.0}</text>\n",
                bar - 16.0,
                x + (bar - 16.0) / 2.0,
                // Alternate rows so long names do not overlap.
                y0 + ph + 15.0 + (i % 2) as f64 * 14.0,
                r.strategy,
                x + (bar - 16.0) / 2.0,
                if len >= 0.0 { y - 4.0 } else { y + hgt + 12.0 },
                r.profit_per_machine
            );
        }
        s += "</svg>\n";
        s
    }
}
