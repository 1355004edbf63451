//! What a run shows: utilization, waits, costs, fairness, burn and rewards,
//! and whether cheating pays; as text, JSON and an SVG plot (plotters).

use crate::model::Strategy;
use crate::run::Provider;
use gpunet_ledger::State;
use gpunet_primitives::{format_amount, Address, Amount, UNIT};
use gpunet_types::OrderStatus;
use plotters::coord::Shift;
use plotters::prelude::*;
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

    /// Utilization over time and profit per strategy, as an SVG image
    /// (plotters): a chart that fails to draw is left blank, not fatal.
    pub fn svg(&self) -> String {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (1100, 440)).into_drawing_area();
            let _ = root.fill(&WHITE);
            let (left, right) = root.split_horizontally(520);
            let _ = self.draw_utilization(&left);
            let _ = self.draw_profits(&right);
            let _ = root.present();
        }
        svg
    }

    /// GPU and core utilization (rental rate) over simulated hours.
    fn draw_utilization(&self, area: &DrawingArea<SVGBackend, Shift>) -> Result<(), String> {
        let hours = self.samples.last().map_or(1.0, |x| x.hour.max(1.0));
        let mut chart = ChartBuilder::on(area)
            .caption("Utilization (rental rate) over time", ("sans-serif", 16))
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..hours, 0.0..100.0)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("simulated hours")
            .y_desc("% rented")
            .draw()
            .map_err(|e| e.to_string())?;
        for (label, color, value) in [
            (
                "GPUs",
                BLUE_SERIES,
                (|s: &Sample| s.gpu_utilization) as fn(&Sample) -> f64,
            ),
            ("cores", ORANGE_SERIES, |s: &Sample| s.cpu_utilization),
        ] {
            let points = self
                .samples
                .iter()
                .map(|s| (s.hour, value(s).clamp(0.0, 1.0) * 100.0));
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(label)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE)
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(|e| e.to_string())
    }

    /// Profit per machine by strategy: horizontal bars, so that every
    /// strategy's name reads in full beside its bar; honesty in green.
    fn draw_profits(&self, area: &DrawingArea<SVGBackend, Shift>) -> Result<(), String> {
        let bound = self
            .strategies
            .iter()
            .map(|r| r.profit_per_machine.abs())
            .fold(1.0, f64::max)
            * 1.1;
        let rows = self.strategies.len().max(1) as u32;
        let mut chart = ChartBuilder::on(area)
            .caption("Profit per machine by strategy (GPN)", ("sans-serif", 16))
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(150)
            .build_cartesian_2d(-bound..bound, 0.0..f64::from(rows))
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            // Key points every half row: a name at each row's middle.
            .y_labels(2 * rows as usize + 1)
            .y_label_formatter(&|y| {
                let halves = (y * 2.0).round() as u32;
                // Rows count from the bottom; the first strategy goes on top.
                let index = (halves % 2 == 1)
                    .then(|| (rows - 1).checked_sub(halves / 2))
                    .flatten();
                index
                    .and_then(|i| self.strategies.get(i as usize))
                    .map_or(String::new(), |r| r.strategy.to_string())
            })
            .x_desc("GPN per machine over the run")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(self.strategies.iter().enumerate().map(|(i, r)| {
                let row = rows - 1 - i as u32;
                let color = if r.strategy == "honest" {
                    GREEN_BAR
                } else {
                    RED_BAR
                };
                let row = f64::from(row);
                Rectangle::new(
                    [(0.0, row + 0.2), (r.profit_per_machine, row + 0.8)],
                    color.filled(),
                )
            }))
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

const BLUE_SERIES: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const ORANGE_SERIES: RGBColor = RGBColor(0xff, 0x7f, 0x0e);
const GREEN_BAR: RGBColor = RGBColor(0x2c, 0xa0, 0x2c);
const RED_BAR: RGBColor = RGBColor(0xd6, 0x27, 0x28);
