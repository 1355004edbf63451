//! `gpunet sim`: see the gpunet-sim crate.

use crate::output::Output;
use anyhow::Context;
use gpunet_sim::workload::SCENARIOS;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub(crate) struct SimArgs {
    /// The market to simulate: one of the scenarios below.
    #[arg(long, default_value = SCENARIOS[0].name, value_parser = scenario_names())]
    scenario: String,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Machines once every provider has joined [default: the scenario's].
    #[arg(long)]
    machines: Option<usize>,
    /// Jobs and rentals placed over the run [default: what the scenario's load asks for].
    #[arg(long)]
    orders: Option<usize>,
    #[arg(long, default_value_t = 7)]
    days: u64,
    /// Share of non-deterministic jobs that are canaries (known answer and
    /// time, disputed when wrong or padded), in percent.
    #[arg(long, default_value_t = gpunet_sim::Config::default().canary_pct)]
    canary_pct: u32,
    /// What one GPN is worth, in USD (for providers' returns and prices against centralized markets).
    #[arg(long, default_value_t = gpunet_sim::model::Economics::default().gpn_usd)]
    gpn_usd: f64,
    /// What providers pay for power, in USD per kWh.
    #[arg(long, default_value_t = gpunet_sim::model::Economics::default().power_usd_per_kwh)]
    power_usd_per_kwh: f64,
    /// What staked tokens would earn elsewhere, in percent a year.
    #[arg(long, default_value_t = gpunet_sim::model::Economics::default().stake_apr_pct)]
    stake_apr_pct: f64,
    /// Share of providers in a cartel that pads its jobs and confirms its
    /// members' padded times when it audits them, in percent.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
    collusion_pct: u32,
    /// Run the market at evenly spaced values of one parameter instead:
    /// KNOB=FROM..TO, the knob one of audit-pct, slash-audit (GPN),
    /// canary-pct, stake-per-gpu (GPN), collusion-pct. Shows where each cheating strategy
    /// starts to pay, simulated and by the bound P·(R+S) ≥ Δ.
    #[arg(long, value_name = "KNOB=FROM..TO")]
    sweep: Option<gpunet_sim::sweep::Sweep>,
    /// Values a sweep runs at (the bounds included).
    #[arg(long, default_value_t = 5, requires = "sweep", value_parser = clap::value_parser!(u32).range(2..=50))]
    points: u32,
    /// Where to write the plot (SVG).
    #[arg(long, default_value = "sim.svg")]
    plot: PathBuf,
}

fn scenario_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        SCENARIOS
            .iter()
            .map(|s| clap::builder::PossibleValue::new(s.name).help(s.about)),
    )
}

pub(crate) fn run(args: SimArgs, output: Output) -> anyhow::Result<()> {
    for (name, value) in [
        ("--gpn-usd", args.gpn_usd),
        ("--power-usd-per-kwh", args.power_usd_per_kwh),
        ("--stake-apr-pct", args.stake_apr_pct),
    ] {
        anyhow::ensure!(
            value.is_finite() && value >= 0.0 && (name != "--gpn-usd" || value > 0.0),
            "{name} must be a positive number, not {value}"
        );
    }
    let scenario = gpunet_sim::workload::scenario(&args.scenario)
        .with_context(|| format!("no scenario called {}", args.scenario))?;
    let mut config = gpunet_sim::Config::of(scenario);
    config.seed = args.seed;
    config.machines = args.machines.unwrap_or(scenario.machines);
    config.orders = args.orders;
    config.days = args.days;
    config.canary_pct = args.canary_pct;
    config.collusion_pct = args.collusion_pct;
    config.economics = gpunet_sim::model::Economics {
        gpn_usd: args.gpn_usd,
        power_usd_per_kwh: args.power_usd_per_kwh,
        stake_apr_pct: args.stake_apr_pct,
    };
    let start = Instant::now();
    let progress = |line: &str| eprintln!("[{:>6.1} s] {line}", start.elapsed().as_secs_f64());
    if let Some(sweep) = args.sweep {
        let report = gpunet_sim::sweep::sweep(&config, sweep, args.points, progress)?;
        std::fs::write(&args.plot, report.svg())
            .with_context(|| format!("writing {}", args.plot.display()))?;
        eprintln!(
            "swept {} over {} runs in {:.1} s; plot in {}",
            sweep.knob.name(),
            args.points,
            start.elapsed().as_secs_f64(),
            args.plot.display()
        );
        output.print(&report, || report.text());
        return Ok(());
    }
    let report = gpunet_sim::run(&config, progress)?;
    std::fs::write(&args.plot, report.svg())
        .with_context(|| format!("writing {}", args.plot.display()))?;
    eprintln!(
        "simulated {} days in {:.1} s; plot in {}",
        args.days,
        start.elapsed().as_secs_f64(),
        args.plot.display()
    );
    output.print(&report, || report.text());
    Ok(())
}
