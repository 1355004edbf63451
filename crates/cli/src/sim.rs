//! `gpunet sim`: see the gpunet-sim crate.

use crate::output::Output;
use anyhow::Context;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub(crate) struct SimArgs {
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value_t = 100_000)]
    machines: usize,
    /// Jobs and rentals placed over the run.
    #[arg(long, default_value_t = 1_000_000)]
    orders: usize,
    #[arg(long, default_value_t = 7)]
    days: u64,
    /// Share of non-deterministic jobs that are canaries (known answer and
    /// time, disputed when wrong or padded), in percent.
    #[arg(long, default_value_t = gpunet_sim::Config::default().canary_pct)]
    canary_pct: u32,
    /// Where to write the plot (SVG).
    #[arg(long, default_value = "sim.svg")]
    plot: PathBuf,
}

pub(crate) fn run(args: SimArgs, output: Output) -> anyhow::Result<()> {
    let config = gpunet_sim::Config {
        seed: args.seed,
        machines: args.machines,
        orders: args.orders,
        days: args.days,
        canary_pct: args.canary_pct,
        ..Default::default()
    };
    let start = Instant::now();
    let report = gpunet_sim::run(&config, |line| {
        eprintln!("[{:>6.1} s] {line}", start.elapsed().as_secs_f64())
    })?;
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
