//! `gpunet sim --sweep KNOB=FROM..TO`: the same market simulated at evenly
//! spaced values of one security parameter, to find where each cheating
//! strategy starts to earn more than honesty, next to where the analytic
//! bound says it should.
//!
//! The bound: a cheat pays when what it saves or bills on top, Δ, exceeds
//! what it loses when caught, P·(R+S): detection probability P (the audit
//! share for deterministic jobs, the canary share for the others, certain
//! for a lazy audit run or a fake GPU; audits that land on a fellow
//! colluder's machine catch nothing), the payment withheld R (the whole
//! payment for a skipped run, the padded part for a padded one) and the
//! stake slashed S (`slash_audit`, at most a one-GPU machine's stake). Δ, R
//! and the job mix come from the runs themselves (`JobStats`). The bound
//! counts one cheated job; the simulation also counts what it leaves out
//! (a padder's machine held idle, repeated slashes, work lost to a
//! delisting), so measured boundaries lie at or beyond the analytic ones.

use crate::model::{Strategy, STRATEGIES};
use crate::report::JobStats;
use crate::run::{run, Config, SimError};
use gpunet_primitives::UNIT;
use plotters::prelude::*;
use std::str::FromStr;

/// A parameter a sweep varies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Knob {
    /// Share of deterministic jobs audited, percent.
    AuditPct,
    /// What a provider caught by an audit, a referee or a canary loses, GPN.
    SlashAudit,
    /// Share of non-deterministic jobs that are canaries, percent.
    CanaryPct,
    /// Stake per GPU, GPN.
    StakePerGpu,
    /// Share of providers in a colluding cartel, percent.
    CollusionPct,
}

impl Knob {
    /// Every knob.
    pub const ALL: [Knob; 5] = [
        Knob::AuditPct,
        Knob::SlashAudit,
        Knob::CanaryPct,
        Knob::StakePerGpu,
        Knob::CollusionPct,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Knob::AuditPct => "audit-pct",
            Knob::SlashAudit => "slash-audit",
            Knob::CanaryPct => "canary-pct",
            Knob::StakePerGpu => "stake-per-gpu",
            Knob::CollusionPct => "collusion-pct",
        }
    }

    /// Its value in `config`.
    pub fn get(self, config: &Config) -> f64 {
        let gpn = |a: u128| a as f64 / UNIT as f64;
        match self {
            Knob::AuditPct => f64::from(config.audit_bps) / 100.0,
            Knob::SlashAudit => gpn(config.params.slash_audit),
            Knob::CanaryPct => f64::from(config.canary_pct),
            Knob::StakePerGpu => gpn(config.params.stake_per_gpu),
            Knob::CollusionPct => f64::from(config.collusion_pct),
        }
    }

    /// `config` with this knob at `value` (rounded to what it can hold).
    pub fn set(self, config: &Config, value: f64) -> Config {
        let mut config = config.clone();
        let value = value.max(0.0);
        let base_units = |gpn: f64| (gpn * UNIT as f64).round() as u128;
        match self {
            Knob::AuditPct => config.audit_bps = (value * 100.0).round().min(10_000.0) as u32,
            Knob::SlashAudit => config.params.slash_audit = base_units(value),
            Knob::CanaryPct => config.canary_pct = value.round().min(100.0) as u32,
            Knob::StakePerGpu => config.params.stake_per_gpu = base_units(value),
            Knob::CollusionPct => config.collusion_pct = value.round().min(100.0) as u32,
        }
        config
    }
}

/// A sweep the command line asked for: `KNOB=FROM..TO`.
#[derive(Clone, Copy, Debug)]
pub struct Sweep {
    /// What varies.
    pub knob: Knob,
    /// Its first value.
    pub from: f64,
    /// Its last value.
    pub to: f64,
}

/// Why a sweep's text is not one.
#[derive(thiserror::Error, Debug, PartialEq)]
pub enum SweepError {
    /// No `=`, or no `..` between the bounds.
    #[error("a sweep reads KNOB=FROM..TO, e.g. audit-pct=0..20")]
    Shape,
    /// A knob the simulator does not vary.
    #[error(
        "no knob called {0:?}: one of audit-pct, slash-audit, canary-pct, stake-per-gpu, collusion-pct"
    )]
    UnknownKnob(String),
    /// A bound that is no number, is negative, or a range that is empty.
    #[error("{0:?} is no range of numbers from low to high, at least 0")]
    Range(String),
}

impl FromStr for Sweep {
    type Err = SweepError;

    fn from_str(text: &str) -> Result<Sweep, SweepError> {
        let (name, range) = text.split_once('=').ok_or(SweepError::Shape)?;
        let (from, to) = range.split_once("..").ok_or(SweepError::Shape)?;
        let knob = Knob::ALL
            .into_iter()
            .find(|k| k.name() == name.trim())
            .ok_or_else(|| SweepError::UnknownKnob(name.trim().to_string()))?;
        let bound = |b: &str| {
            b.trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        match (bound(from), bound(to)) {
            (Some(from), Some(to)) if from < to => Ok(Sweep { knob, from, to }),
            _ => Err(SweepError::Range(range.to_string())),
        }
    }
}

/// One strategy at one value of the knob.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Margin {
    /// The strategy.
    pub strategy: &'static str,
    /// What it earned per machine against honest machines of the same
    /// classes, in GPN (below 0: cheating loses); `None` where no provider
    /// followed it.
    pub versus_honest: Option<f64>,
    /// What one cheated job earns against honesty by the analytic bound,
    /// Δ − P·(R+S), in GPN; `None` where it is no per-job cheat.
    pub analytic: Option<f64>,
}

/// The runs at one value of the knob.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SweepPoint {
    /// The knob's value.
    pub value: f64,
    /// Each cheating strategy.
    pub strategies: Vec<Margin>,
}

/// Where a strategy turns profitable.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Boundary {
    /// The strategy.
    pub strategy: &'static str,
    /// The knob's values where the simulation finds it starts or stops
    /// paying (linear between the points).
    pub measured: Vec<f64>,
    /// The same by the analytic bound.
    pub analytic: Vec<f64>,
    /// Its measured margin at the default value, in GPN per machine
    /// (below 0: cheating loses), and the analytic one per cheated job.
    pub at_default: Option<Margin>,
}

/// What a sweep found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SweepReport {
    /// The scenario swept.
    pub scenario: &'static str,
    /// The knob.
    pub knob: Knob,
    /// Its value by default.
    pub default_value: f64,
    /// The runs, by value.
    pub points: Vec<SweepPoint>,
    /// Each cheating strategy's boundaries.
    pub boundaries: Vec<Boundary>,
}

/// What cheating with `strategy` earns per cheated job against honesty by
/// the analytic bound, Δ − P·(R+S), in GPN, under `config`, for jobs like
/// `unchecked` and `deterministic`; `None` where the strategy is no per-job
/// cheat (honesty, going dark during rentals).
pub fn analytic_gain(
    strategy: Strategy,
    config: &Config,
    unchecked: &JobStats,
    deterministic: &JobStats,
) -> Option<f64> {
    let gpn = |a: u128| a as f64 / UNIT as f64;
    let params = &config.params;
    let audit = f64::from(config.audit_bps) / 10_000.0;
    // An audit run of a colluder's job lands on a fellow member about as
    // often as the cartel's share of the providers.
    let cartel = f64::from(config.collusion_pct.min(100)) / 100.0;
    let canary = f64::from(config.canary_pct) / 100.0;
    let stake = gpn(params.stake_per_machine + params.stake_per_gpu);
    let slash = gpn(params.slash_audit).min(stake);
    let jobs = (unchecked.jobs + deterministic.jobs).max(1) as f64;
    let share = deterministic.jobs as f64 / jobs;
    let (pay_u, power_u, pad_u) = unchecked.mean();
    let (pay_d, power_d, pad_d) = deterministic.mean();
    // Δ − P·(R+S) for a skipped run and for a padded one.
    let skip = |power: f64, p: f64, pay: f64| power - p * (pay + slash);
    let pad = |gain: f64, p: f64| gain - p * (gain + slash);
    Some(match strategy {
        Strategy::Honest | Strategy::OfflineWhileRented => return None,
        Strategy::SkipWork => {
            share * skip(power_d, audit, pay_d) + (1.0 - share) * skip(power_u, canary, pay_u)
        }
        Strategy::SelectiveSkip => skip(power_u, canary, pay_u),
        Strategy::PadBilling => share * pad(pad_d, audit) + (1.0 - share) * pad(pad_u, canary),
        Strategy::SelectivePadding => pad(pad_u, canary),
        Strategy::ColludingPadding => {
            share * pad(pad_d, audit * (1.0 - cartel)) + (1.0 - share) * pad(pad_u, canary)
        }
        // Every lazy audit run contradicts the job it checks: a referee
        // decides, and the lazy auditor is caught.
        Strategy::LazyAuditor => skip(power_d, 1.0, pay_d),
        // A GPU slower than claimed never passes its challenge.
        Strategy::FakeHardware => -gpn(params.slash_challenge),
    })
}

/// Where `ys` (over `xs`) crosses zero, linearly between points.
fn crossings(xs: &[f64], ys: &[f64]) -> Vec<f64> {
    xs.windows(2)
        .zip(ys.windows(2))
        .filter(|(_, y)| (y[0] < 0.0) != (y[1] < 0.0))
        .map(|(x, y)| x[0] + (x[1] - x[0]) * y[0] / (y[0] - y[1]))
        .collect()
}

/// Runs `config` at `points` evenly spaced values of the sweep's knob;
/// `progress` hears about each run.
pub fn sweep(
    config: &Config,
    sweep: Sweep,
    points: u32,
    mut progress: impl FnMut(&str),
) -> Result<SweepReport, SimError> {
    let points = points.max(2);
    let values: Vec<f64> = (0..points)
        .map(|i| sweep.from + (sweep.to - sweep.from) * f64::from(i) / f64::from(points - 1))
        .collect();
    let colluding = sweep.knob == Knob::CollusionPct || config.collusion_pct > 0;
    let cheats: Vec<Strategy> = STRATEGIES
        .iter()
        .map(|(s, _)| *s)
        .filter(|s| *s != Strategy::Honest)
        .chain(colluding.then_some(Strategy::ColludingPadding))
        .collect();
    let mut reports = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let at = sweep.knob.set(config, *value);
        progress(&format!(
            "run {}/{points}: {} = {value}",
            i + 1,
            sweep.knob.name()
        ));
        reports.push((at.clone(), run(&at, |_| {})?));
    }
    // The analytic bound over the jobs of all runs together.
    let mut unchecked = JobStats::default();
    let mut deterministic = JobStats::default();
    for (_, r) in &reports {
        for (sum, one) in [
            (&mut unchecked, &r.unchecked_jobs),
            (&mut deterministic, &r.deterministic_jobs),
        ] {
            sum.add(one);
        }
    }
    let analytic_at =
        |strategy, config: &Config| analytic_gain(strategy, config, &unchecked, &deterministic);
    let margin = |strategy: Strategy, config: &Config, report: &crate::Report| Margin {
        strategy: strategy.name(),
        versus_honest: report
            .strategies
            .iter()
            .find(|r| r.strategy == strategy.name() && r.machines > 0)
            .map(|r| r.versus_honest),
        analytic: analytic_at(strategy, config),
    };
    let points: Vec<SweepPoint> = reports
        .iter()
        .zip(&values)
        .map(|((config, report), value)| SweepPoint {
            value: *value,
            strategies: cheats.iter().map(|s| margin(*s, config, report)).collect(),
        })
        .collect();
    let default_value = sweep.knob.get(config);
    // The analytic bound is cheap: find its crossings on a fine grid.
    let fine: Vec<f64> = (0..=400)
        .map(|i| sweep.from + (sweep.to - sweep.from) * f64::from(i) / 400.0)
        .collect();
    let boundaries = cheats
        .iter()
        .enumerate()
        .map(|(i, strategy)| {
            let (xs, measured): (Vec<f64>, Vec<f64>) = points
                .iter()
                .filter_map(|p| p.strategies[i].versus_honest.map(|m| (p.value, m)))
                .unzip();
            let analytic: Option<Vec<f64>> = fine
                .iter()
                .map(|v| analytic_at(*strategy, &sweep.knob.set(config, *v)))
                .collect();
            let in_range = (sweep.from..=sweep.to).contains(&default_value);
            Boundary {
                strategy: strategy.name(),
                measured: crossings(&xs, &measured),
                analytic: analytic.map_or(Vec::new(), |a| crossings(&fine, &a)),
                at_default: in_range.then(|| {
                    // The point nearest the default stands for it.
                    let nearest = reports
                        .iter()
                        .zip(&values)
                        .min_by(|a, b| {
                            (a.1 - default_value)
                                .abs()
                                .total_cmp(&(b.1 - default_value).abs())
                        })
                        .map(|(r, _)| r);
                    nearest.map_or(
                        Margin {
                            strategy: strategy.name(),
                            versus_honest: None,
                            analytic: None,
                        },
                        |(c, r)| margin(*strategy, c, r),
                    )
                }),
            }
        })
        .collect();
    Ok(SweepReport {
        scenario: config.scenario.name,
        knob: sweep.knob,
        default_value,
        points,
        boundaries,
    })
}

impl SweepReport {
    /// The sweep for people: each strategy's margin at each value, then
    /// where each turns profitable, measured and by the bound.
    pub fn text(&self) -> String {
        let knob = self.knob.name();
        let mut t = format!(
            "scenario {}: {knob} swept; GPN per machine against honesty (below 0: cheating loses)\n\n{:<22}",
            self.scenario, "strategy"
        );
        for p in &self.points {
            t += &format!(" {:>17}", format!("{knob} {}", trim(p.value)));
        }
        t += "\n";
        for (i, b) in self.boundaries.iter().enumerate() {
            t += &format!("{:<22}", b.strategy);
            for p in &self.points {
                t += &match p.strategies[i].versus_honest {
                    Some(m) => format!(" {m:>+17.2}"),
                    None => format!(" {:>17}", "-"),
                };
            }
            t += "\n";
        }
        t += &format!(
            "\n{:<22} {:>24} {:>24} {:>28}\n",
            "strategy",
            "pays where (simulated)",
            "pays where (bound)",
            format!("at default {knob} {}", trim(self.default_value))
        );
        for b in &self.boundaries {
            let at_default = b.at_default.as_ref().map_or("-".to_string(), |m| {
                let measured = m
                    .versus_honest
                    .map_or("-".to_string(), |v| format!("{v:+.2} GPN/machine"));
                let analytic = m
                    .analytic
                    .map_or(String::new(), |a| format!(", {a:+.2}/job"));
                measured + &analytic
            });
            t += &format!(
                "{:<22} {:>24} {:>24} {:>28}\n",
                b.strategy,
                self.paying_ranges(&b.measured, |v| {
                    self.pays(b.strategy, v, |m| m.versus_honest)
                }),
                self.paying_ranges(&b.analytic, |v| self.pays(b.strategy, v, |m| m.analytic)),
                at_default
            );
        }
        t
    }

    /// Whether `strategy` pays at the sweep point nearest `value`, by
    /// `gain` (its simulated or its analytic margin).
    fn pays(
        &self,
        strategy: &str,
        value: f64,
        gain: impl Fn(&Margin) -> Option<f64>,
    ) -> Option<bool> {
        let point = self
            .points
            .iter()
            .min_by(|a, b| (a.value - value).abs().total_cmp(&(b.value - value).abs()))?;
        let m = point.strategies.iter().find(|m| m.strategy == strategy)?;
        gain(m).map(|g| g >= 0.0)
    }

    /// Where a strategy pays, in words, from its crossings and whether it
    /// pays at the first value that has an answer.
    fn paying_ranges(&self, crossings: &[f64], pays: impl Fn(f64) -> Option<bool>) -> String {
        let Some(last) = self.points.last() else {
            return "-".into();
        };
        let Some((mut from, mut paying)) = self
            .points
            .iter()
            .find_map(|p| pays(p.value).map(|answer| (p.value, answer)))
        else {
            return "-".into();
        };
        let mut ranges = Vec::new();
        for x in crossings.iter().copied().chain([last.value]) {
            if paying {
                ranges.push(format!("{}..{}", trim(from), trim(x)));
            }
            paying = !paying;
            from = x;
        }
        if ranges.is_empty() {
            "never".into()
        } else {
            ranges.join(", ")
        }
    }

    /// One chart per cheating strategy: its simulated margin over the
    /// knob, zero, the default value (grey) and the analytic boundary
    /// (dashed), as one SVG image.
    pub fn svg(&self) -> String {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (1600, 760)).into_drawing_area();
            let _ = root.fill(&WHITE);
            let title = format!(
                "gpunet sim --sweep {}: each cheat against honesty (scenario {})",
                self.knob.name(),
                self.scenario
            );
            let root = root
                .titled(&title, ("sans-serif", 20))
                .unwrap_or_else(|_| root.clone());
            // A chart per strategy and one for the legend, in two rows.
            let columns = (self.boundaries.len() + 1).div_ceil(2).max(4);
            let areas = root.split_evenly((2, columns));
            for (i, area) in areas.iter().enumerate().take(self.boundaries.len() + 1) {
                match self.boundaries.get(i) {
                    Some(b) => {
                        let _ = self.draw_strategy(area, i, b);
                    }
                    None => {
                        let _ = self.draw_legend(area);
                    }
                }
            }
            let _ = root.present();
        }
        svg
    }

    /// What the lines of the other charts are.
    fn draw_legend(
        &self,
        area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    ) -> Result<(), String> {
        let style = ("sans-serif", 15).into_font();
        let rows = [
            (RED, "simulated: GPN per machine against honesty"),
            (BLACK, "zero: below it, cheating loses"),
            (DEFAULT, "the knob's default value"),
            (BLUE, "dashed: where the bound P(R+S) = Δ lies"),
        ];
        for (i, (color, text)) in rows.iter().enumerate() {
            let y = 80 + 34 * i as i32;
            area.draw(&PathElement::new([(20, y), (60, y)], color.stroke_width(3)))
                .map_err(|e| e.to_string())?;
            area.draw(&Text::new(*text, (70, y - 8), style.clone()))
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn draw_strategy(
        &self,
        area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
        i: usize,
        b: &Boundary,
    ) -> Result<(), String> {
        let xs: Vec<f64> = self.points.iter().map(|p| p.value).collect();
        let (x0, x1) = (xs[0], xs[xs.len() - 1]);
        let (xs, ys): (Vec<f64>, Vec<f64>) = self
            .points
            .iter()
            .filter_map(|p| p.strategies[i].versus_honest.map(|m| (p.value, m)))
            .unzip();
        let high = ys.iter().fold(1.0_f64, |m, y| m.max(*y)) * 1.15;
        let low = ys.iter().fold(-1.0_f64, |m, y| m.min(*y)) * 1.15;
        let mut chart = ChartBuilder::on(area)
            .caption(b.strategy, ("sans-serif", 15))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, low..high)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(self.knob.name())
            .y_desc("GPN/machine vs honest")
            .draw()
            .map_err(|e| e.to_string())?;
        let line = |x: f64, color: RGBColor| {
            PathElement::new([(x, low), (x, high)], color.stroke_width(2))
        };
        chart
            .draw_series(std::iter::once(PathElement::new(
                [(x0, 0.0), (x1, 0.0)],
                BLACK.mix(0.4),
            )))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(
                xs.iter().copied().zip(ys.iter().copied()),
                RED.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(
                xs.iter()
                    .zip(&ys)
                    .map(|(x, y)| Circle::new((*x, *y), 3, RED.filled())),
            )
            .map_err(|e| e.to_string())?;
        if (x0..=x1).contains(&self.default_value) {
            chart
                .draw_series(std::iter::once(line(
                    self.default_value,
                    RGBColor(150, 150, 150),
                )))
                .map_err(|e| e.to_string())?;
        }
        // The analytic boundary, dashed: short segments up the chart.
        for x in &b.analytic {
            let steps = 24;
            let dashes = (0..steps).step_by(2).map(|k| {
                let y = |k: i32| low + (high - low) * f64::from(k) / f64::from(steps);
                PathElement::new([(*x, y(k)), (*x, y(k + 1))], BLUE.stroke_width(2))
            });
            chart.draw_series(dashes).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

const DEFAULT: RGBColor = RGBColor(0x2c, 0xa0, 0x2c);

/// A knob's value without needless decimals.
fn trim(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}
