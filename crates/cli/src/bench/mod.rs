//! `gpunet bench`: measurements recorded in BENCHMARKS.md, each against a
//! baseline taken in the same run.

mod api;
mod catch_up;
mod consensus;
mod console;
#[cfg(feature = "cuda")]
mod gpu;
mod hostile;
mod images;
mod ledger;
mod matching;
mod metrics;
mod poc;
mod rentals;
mod results;
mod state_sync;
mod workload;

use crate::output::Output;
use clap::Subcommand;
use gpunet_ledger::{Genesis, GenesisAccount};
use gpunet_primitives::{Address, Amount, Keypair, SignedTx, Tx, TxBody};
use gpunet_provider::executor::ExecutorKind;
use gpunet_types::Params;

const CHAIN_ID: &str = "bench";

/// The benchmarks' chain: each of `funded` holds `balance`; `validators` validate.
fn genesis(validators: &[Keypair], funded: &[Keypair], balance: Amount) -> Genesis {
    Genesis {
        chain_id: CHAIN_ID.into(),
        genesis_time_ms: 0,
        accounts: funded
            .iter()
            .map(|k| GenesisAccount {
                address: k.address(),
                balance,
            })
            .collect(),
        validators: validators.iter().map(|k| k.address()).collect(),
        params: Params::default(),
    }
}

/// A transfer of one base unit on the benchmarks' chain, at the minimum fee.
/// Milliseconds one pass over `state`'s machines takes (summing their
/// GPUs): the baseline of the benchmarks of what reads them all.
fn machine_pass_ms(state: &gpunet_ledger::State) -> f64 {
    let start = std::time::Instant::now();
    let gpus: u64 = state
        .machines
        .iter()
        .map(|(_, m)| u64::from(m.spec.gpu_count()))
        .sum();
    std::hint::black_box(gpus);
    start.elapsed().as_secs_f64() * 1e3
}

/// The `q` quantile (0..=1) of `samples`, which it sorts.
fn quantile(samples: &mut [f64], q: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[((samples.len() - 1) as f64 * q).round() as usize]
}

/// Order `id` of `job` once its result is reported (or it ended without
/// one), given the job's timeout and two minutes to be placed and report.
async fn until_reported(
    wallet: &gpunet_client::Wallet,
    id: gpunet_primitives::OrderId,
    job: &gpunet_client::jobfile::JobFile,
) -> anyhow::Result<gpunet_types::OrderView> {
    let order = gpunet_client::jobs::wait_for_order(
        wallet.node(),
        id,
        std::time::Duration::from_secs(job.timeout_secs + 120),
        |o| o.report.is_some() || gpunet_client::jobs::is_final(o.status),
        |_| {},
    )
    .await?;
    Ok(order)
}

fn transfer(from: &Keypair, nonce: u64, to: Address) -> SignedTx {
    Tx {
        chain_id: CHAIN_ID.into(),
        sender: from.address(),
        nonce,
        fee: Params::default().min_fee,
        body: TxBody::Transfer { to, amount: 1 },
    }
    .sign(from)
}

#[derive(Subcommand)]
pub(crate) enum BenchCmd {
    /// Signed transfers applied and committed per second, against raw ed25519 verification.
    #[command(after_help = "Example:\n  gpunet bench ledger")]
    Ledger {
        #[arg(long, default_value_t = 20_000)]
        txs: usize,
        #[arg(long, default_value_t = 1_000)]
        block_size: usize,
    },
    /// Matching: orders matched per second with many machines listed and
    /// many orders queued.
    #[command(after_help = "Example:\n  gpunet bench match")]
    Match {
        #[arg(long, default_value_t = 100_000)]
        machines: usize,
        #[arg(long, default_value_t = 1_000_000)]
        orders: usize,
    },
    /// Consensus: finalized transfers per second, finality latency and CPU
    /// time per transaction for four BFT validators on loopback, against the
    /// single-validator producer; then how fast a node started from genesis
    /// syncs the chain they made.
    #[command(
        after_help = "Example:\n  gpunet bench consensus --txs 20000\n  gpunet bench consensus --txs 20000 --rate 1000"
    )]
    Consensus {
        #[arg(long, default_value_t = 20_000)]
        txs: usize,
        /// Transactions in flight at once.
        #[arg(long, default_value_t = 4_000)]
        window: usize,
        /// Submit at this sustained rate (transactions a second) instead of
        /// as fast as the window allows.
        #[arg(long)]
        rate: Option<std::num::NonZeroU32>,
        /// How long a BFT proposer with transactions waits after the last
        /// block before proposing (default: the validators' own, 60ms).
        #[arg(long, value_parser = humantime::parse_duration)]
        gather: Option<std::time::Duration>,
    },
    /// Joining a long chain: replaying every block from genesis against
    /// restoring a state snapshot, with the chain's production as baseline.
    #[command(after_help = "Example:\n  gpunet bench state-sync --blocks 100000")]
    StateSync {
        #[arg(long, default_value_t = 100_000)]
        blocks: u64,
        #[arg(long, default_value_t = 2)]
        txs_per_block: usize,
    },
    /// Coming back after N blocks: syncing them from peers against joining
    /// from a validator's snapshot, four BFT validators making blocks as
    /// fast as they decide (the baseline).
    #[command(after_help = "Example:\n  gpunet bench catch-up --blocks 10000")]
    CatchUp {
        #[arg(long, default_value_t = 10_000)]
        blocks: u64,
    },
    /// A node process under abuse: its memory and disk idle (the baseline),
    /// under stalled TLS handshakes from many addresses, after bad
    /// transactions, and after an account uploads up to its quota.
    #[command(after_help = "Example:\n  gpunet bench hostile")]
    Hostile {
        #[arg(long, default_value_t = 1_000)]
        connections: usize,
        #[arg(long, default_value_t = 20_000)]
        bad_txs: usize,
        /// The node's upload quota per account (MiB an hour).
        #[arg(long, default_value_t = 256)]
        quota_mib: u64,
    },
    /// `/metrics`: what a scrape costs with many machines and orders,
    /// against one pass over the machines.
    #[command(after_help = "Example:\n  gpunet bench metrics --machines 100000")]
    Metrics {
        #[arg(long, default_value_t = 100_000)]
        machines: usize,
        #[arg(long, default_value_t = 100_000)]
        orders: usize,
        #[arg(long, default_value_t = 50)]
        scrapes: usize,
    },
    /// The web console: how long its pages that read the whole ledger take
    /// to render with many machines and orders, against one pass over the
    /// machines.
    #[command(after_help = "Example:\n  gpunet bench console --machines 100000 --orders 1000000")]
    Console {
        #[arg(long, default_value_t = 100_000)]
        machines: usize,
        #[arg(long, default_value_t = 100_000)]
        orders: usize,
        #[arg(long, default_value_t = 50)]
        renders: usize,
    },
    /// Node API: a blob download and small requests over TLS, against
    /// plain HTTP from the same node.
    #[command(after_help = "Example:\n  gpunet bench api")]
    Api {
        /// Size of the downloaded blob.
        #[arg(long, default_value_t = 256)]
        mib: u64,
        /// Small requests per measurement.
        #[arg(long, default_value_t = 500)]
        requests: usize,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// A job's large result handed to its client: uploaded to the node and
    /// downloaded from it, against kept by the provider and fetched from its
    /// peer (`--serve-outputs`); and what the validator's disk holds after.
    #[command(after_help = "Example:\n  gpunet bench results --mib 256")]
    Results {
        /// Size of the result each job writes, in MiB.
        #[arg(long, default_value_t = 64)]
        mib: u64,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// A pushed image's archive fetched peer to peer, verified: by one
    /// provider from the client's peer directly and through a relay, and by
    /// three providers at once that also ask each other; against a raw TCP
    /// copy on loopback.
    #[command(after_help = "Example:\n  gpunet bench images --mib 1024")]
    Images {
        /// Size of the archive, in MiB.
        #[arg(long, default_value_t = 1024)]
        mib: u64,
    },
    /// A renter's shell round trip (one byte echoed) and `rent cp` of a
    /// file, through a Docker devnet's provider peer reached directly and
    /// through a relay, against `docker exec -i` and `docker cp` on the
    /// provider's host and against OpenSSH's `ssh` and `scp` over loopback
    /// (an sshd in a gpunet/ssh container: scripts/images/ssh.sh).
    #[command(after_help = "Example:\n  gpunet bench rentals --mib 1024")]
    Rentals {
        /// Size of the copied file, in MiB.
        #[arg(long, default_value_t = 256)]
        mib: u64,
        /// Round trips measured each way.
        #[arg(long, default_value_t = 200)]
        samples: usize,
    },
    /// The training example through a devnet (submitted to outputs verified
    /// on disk), against the same job run directly: with the Docker executor
    /// `docker run` of gpunet/pytorch (scripts/images/pytorch.sh), with the
    /// process executor its command as a plain process.
    #[command(after_help = "Examples:\n  gpunet bench training --epochs 2000\n  \
                      gpunet bench training --executor process --gpus 1")]
    Training {
        /// The training job file (its train.py beside it).
        #[arg(long, default_value = "examples/training/training.toml")]
        job: std::path::PathBuf,
        /// Epochs the job trains (its EPOCHS).
        #[arg(long, default_value_t = 2000)]
        epochs: u32,
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// How the devnet's provider runs the job: "docker" or "process".
        #[arg(long, default_value = "docker")]
        executor: ExecutorKind,
        /// GPUs the job asks for; the provider offers only GPUs it can prove
        /// (a binary built with `--features cuda`).
        #[arg(long, default_value_t = 0)]
        gpus: u32,
        /// A variable added to the job's environment (repeatable), e.g.
        /// `--env HIDDEN=2048`.
        #[arg(long = "env", value_name = "NAME=VALUE", value_parser = crate::job::parse_env)]
        env: Vec<(String, String)>,
    },
    /// Proof of compute: prover work and verifier time per challenge, per class.
    #[command(after_help = "Example:\n  gpunet bench poc")]
    Poc {
        /// Rows opened per challenge.
        #[arg(long, default_value_t = 8)]
        openings: u32,
        /// Seconds of required work a challenge is sized for.
        #[arg(long, default_value_t = 10)]
        work_secs: u64,
    },
    /// Proof of compute on this machine's first GPU (built with `--features
    /// cuda`): each stage's time and the int8 throughput reached, against the
    /// class's datasheet peak and deadline.
    #[cfg(feature = "cuda")]
    #[command(after_help = "Example:\n  gpunet bench gpu")]
    Gpu {
        /// Seconds of required work the class challenge is sized for.
        #[arg(long, default_value_t = 10)]
        work_secs: u64,
        /// Timed runs of each shape (the median is reported).
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Inner dimension of the challenge instead of the class's (rows sized
        /// for the same work), to compare shapes.
        #[arg(long)]
        inner: Option<u32>,
    },
}

pub(crate) async fn run(cmd: BenchCmd, output: Output) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Api {
            mib,
            requests,
            rounds,
        } => api::run(mib, requests, rounds, output).await,
        BenchCmd::Consensus {
            txs,
            window,
            rate,
            gather,
        } => consensus::run(txs, window, rate, gather, output).await,
        BenchCmd::CatchUp { blocks } => catch_up::run(blocks, output).await,
        BenchCmd::Hostile {
            connections,
            bad_txs,
            quota_mib,
        } => hostile::run(connections, bad_txs, quota_mib, output).await,
        BenchCmd::Ledger { txs, block_size } => ledger::run(txs, block_size, output),
        BenchCmd::StateSync {
            blocks,
            txs_per_block,
        } => state_sync::run(blocks, txs_per_block, output),
        BenchCmd::Match { machines, orders } => matching::run(machines, orders, output),
        BenchCmd::Metrics {
            machines,
            orders,
            scrapes,
        } => metrics::run(machines, orders, scrapes, output),
        BenchCmd::Console {
            machines,
            orders,
            renders,
        } => console::run(machines, orders, renders, output),
        BenchCmd::Results { mib, rounds } => results::run(mib, rounds, output).await,
        BenchCmd::Rentals { mib, samples } => rentals::run(mib, samples, output).await,
        BenchCmd::Images { mib } => images::run(mib, output).await,
        BenchCmd::Training {
            job,
            epochs,
            rounds,
            executor,
            gpus,
            env,
        } => {
            let bench = workload::Training {
                job_path: &job,
                epochs,
                rounds,
                executor,
                gpus,
                env,
            };
            workload::run(bench, output).await
        }
        BenchCmd::Poc {
            openings,
            work_secs,
        } => poc::run(openings, work_secs, output),
        #[cfg(feature = "cuda")]
        BenchCmd::Gpu {
            work_secs,
            repeat,
            inner,
        } => gpu::run(work_secs, repeat, inner, output),
    }
}
