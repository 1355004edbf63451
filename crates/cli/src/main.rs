#![doc = include_str!("../README.md")]

mod bench;
mod canary;
mod check;
mod copy;
mod ctx;
mod demo;
mod forward;
mod image;
mod job;
mod logs;
mod machines;
mod node;
mod output;
mod owner;
mod profile;
mod provider;
mod rent;
mod secrets;
mod serve;
mod session;
mod signals;
mod sim;
mod template;
mod wallet;

use clap::{CommandFactory as _, Parser, Subcommand};
use output::Output;
use std::net::SocketAddr;
use std::path::PathBuf;

/// mimalloc, not glibc's malloc: the ledger clones and drops records by the
/// million (orders, machines, their specs), and glibc's free lists cost a
/// third of matching's time. `gpunet bench match` ran 1.2-1.4x faster with
/// it and `gpunet sim` 1.1x, reports unchanged (BENCHMARKS.md). Allocation
/// addresses reach no result: the ledger orders by keys, never by pointer.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "gpunet",
    version,
    about = "A decentralized GPU compute network"
)]
struct Cli {
    /// Node to talk to: https://HOST:PORT#KEY, with the key of the node's API
    /// (it prints its address when it starts); several, comma-separated, to
    /// fail over. Default: the profile's, else the devnet started from this
    /// directory (.gpunet/devnet/api-url).
    #[arg(long, global = true, env = "GPUNET_NODE")]
    node: Option<String>,
    /// Keystore file of your wallet. Default: the profile's, else
    /// ~/.gpunet/wallet.json.
    #[arg(long, global = true, env = "GPUNET_KEYSTORE")]
    keystore: Option<PathBuf>,
    /// The profile (node and keystore, written by `gpunet init` or `gpunet
    /// devnet`) to use instead of the default one.
    #[arg(long, global = true, env = "GPUNET_PROFILE")]
    profile: Option<String>,
    /// Output format: text for people, JSON for programs.
    #[arg(short, long, global = true, value_enum, default_value = "text")]
    output: Output,
    /// Log format on stderr: text lines for people, or one JSON object per
    /// line for log collectors (Loki, Elasticsearch, journald). Which lines
    /// is `RUST_LOG`'s to say.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "GPUNET_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: logs::LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a local network, run an example job end to end and show who got paid.
    #[command(after_help = "Example:\n  gpunet demo")]
    Demo {
        #[arg(long, default_value = "examples/hello.toml")]
        job: PathBuf,
        /// Where the demo network keeps its data (a fresh temporary directory by default).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Run a one-process local network (validator, API, faucet wallet, providers) until Ctrl-C;
    /// `gpunet devnet fund ADDRESS GPN` sends from its faucet.
    #[command(args_conflicts_with_subcommands = true)]
    #[command(
        after_help = "Examples:\n  gpunet devnet\n  gpunet devnet --executor docker --providers 3\n  gpunet devnet --serve-outputs"
    )]
    Devnet {
        #[command(subcommand)]
        action: Option<node::DevnetCmd>,
        #[command(flatten)]
        args: node::DevnetArgs,
    },
    /// Run a validator node with the HTTP API.
    #[command(
        after_help = "Example:\n  gpunet node --genesis genesis.json --validator-keystore v1.json --bft --peer /ip4/10.0.0.2/tcp/26656"
    )]
    Node(node::NodeArgs),
    /// Write a genesis file for a new network.
    #[command(
        after_help = "Example:\n  gpunet genesis --chain-id mynet --validator $(gpunet --keystore v1.json wallet show) --fund ADDRESS=1000 --out genesis.json"
    )]
    Genesis {
        #[arg(long)]
        chain_id: String,
        /// Validator addresses.
        #[arg(long, required = true)]
        validator: Vec<String>,
        /// Funded accounts, as ADDRESS=GPN.
        #[arg(long)]
        fund: Vec<String>,
        /// Required work a hardware challenge is sized for, in ms, instead
        /// of the default (a local network's proofs can be short; a public
        /// one's must outweigh the latency allowance).
        #[arg(long)]
        challenge_work_ms: Option<u64>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Run the provider agent for this machine. Ctrl-C pauses the machine
    /// (no new work) and stops once what runs has finished; twice stops at once.
    #[command(after_help = "Example:\n  gpunet provider --executor docker --price 2.5")]
    Provider(provider::ProviderArgs),
    /// Run a data-plane relay: providers that accept no inbound connection
    /// (`gpunet provider --serve-outputs --relay URL --relay-only`) keep a
    /// connection to it, and clients reach them through it. It forwards
    /// end-to-end encrypted QUIC it cannot read. Plain HTTP: put it behind
    /// a TLS terminator to serve the internet.
    #[command(
        after_help = "Example:\n  gpunet relay --listen 0.0.0.0:3340 --public-host relay.example.org"
    )]
    Relay {
        /// Where it listens (HTTP).
        #[arg(long, default_value = "127.0.0.1:3340")]
        listen: SocketAddr,
        /// The name or address providers and clients reach it at, for the
        /// URL it prints (needed with an unspecified --listen, 0.0.0.0).
        #[arg(long, value_name = "HOST")]
        public_host: Option<String>,
    },
    /// Write a profile (a node's address and your keystore) that commands
    /// use from any directory: `--profile NAME` (default "default"), `--node`
    /// (kept if the profile has one), `--keystore` (default
    /// ~/.gpunet/wallet.json; a new sealed key is made there if it has none).
    /// The first profile, or one given `--default`, is the default.
    #[command(
        after_help = "Examples:\n  gpunet init --node https://10.0.0.2:8645#5173d67290643433ddc177fb423f5cad8c0ebd975a441b0e010a491e6b0e436d\n  gpunet init --profile work --keystore work.json --default"
    )]
    Init {
        /// Make it the default profile even if there is one.
        #[arg(long)]
        default: bool,
        /// Store a new key unencrypted (throwaway keys only).
        #[arg(long)]
        plaintext: bool,
    },
    /// List your profiles (`gpunet init` and `gpunet devnet` write them).
    #[command(after_help = "Example:\n  gpunet profiles")]
    Profiles,
    /// Manage your wallet.
    #[command(subcommand)]
    #[command(after_help = "Example:\n  gpunet wallet balance")]
    Wallet(wallet::WalletCmd),
    /// Inspect machines offered on the network; pause, resume or remove yours.
    #[command(subcommand)]
    #[command(after_help = "Example:\n  gpunet machines list 'num_gpus>=2 verified=true'")]
    Machines(machines::MachinesCmd),
    /// Bond or unbond validator stake.
    #[command(subcommand)]
    #[command(after_help = "Example:\n  gpunet validator bond 1000")]
    Validator(owner::ValidatorCmd),
    /// Submit and follow jobs.
    #[command(subcommand)]
    #[command(after_help = "Example:\n  gpunet job run examples/hello.toml --wait")]
    Job(job::JobCmd),
    /// Push container images from your Docker engine and serve them to the
    /// providers that run your jobs, peer to peer (no registry).
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  gpunet image push my/trainer:1\n  gpunet serve\n  gpunet job run --image my/trainer:1 --max-price 5 --wait -- python3 train.py"
    )]
    Image(image::ImageCmd),
    /// Serve your pushed images, and the inputs of your jobs that serve
    /// them (`serve_inputs = true`, `job run --serve-inputs`), to the
    /// providers of your orders, peer to peer, until Ctrl-C; announces where
    /// on chain. Keep it running until those jobs ran: nothing of theirs is
    /// on the nodes.
    #[command(after_help = "Example:\n  gpunet serve --listen 0.0.0.0:4450")]
    Serve {
        /// Where providers reach it (QUIC, UDP).
        #[arg(long, default_value = "0.0.0.0:0")]
        listen: std::net::SocketAddr,
        /// A relay (`gpunet relay`) it is also reached through, for a
        /// machine that accepts no inbound connection.
        #[arg(long, value_name = "URL")]
        relay: Option<String>,
    },
    /// Rent a machine, or some of its GPUs, for a time.
    #[command(subcommand)]
    #[command(after_help = "Example:\n  gpunet rent start examples/rental.toml --duration 2h")]
    Rent(rent::RentCmd),
    /// Submit a job as a canary: run it here too to know its answer and time,
    /// and dispute the provider's result if it differs or its time if padded
    /// (a referee run decides).
    #[command(after_help = "Example:\n  gpunet canary examples/hello.toml")]
    Canary(canary::CanaryArgs),
    /// Show the chain as the node sees it: height, time, validators, supply.
    #[command(after_help = "Example:\n  gpunet status -o json")]
    Status,
    /// Show a block the node holds: its header and its transactions (a node
    /// that joined from a snapshot holds none before it).
    #[command(after_help = "Example:\n  gpunet block 1")]
    Block {
        /// Its height.
        height: u64,
    },
    /// Show this machine's hardware as the provider agent detects it, and the
    /// compute class its hardware challenges will hold it to.
    #[command(after_help = "Example:\n  gpunet hardware --data-dir /var/lib/gpunet")]
    Hardware {
        /// Where jobs would run (its free space is the offered disk).
        #[arg(long, default_value = ".")]
        data_dir: PathBuf,
    },
    /// Simulate a large market with honest and cheating providers, through the
    /// ledger's real matching and settlement (deterministic for a seed):
    /// utilization, waits, prices against centralized markets, providers'
    /// returns by class after power and stake, fairness, and every cheating
    /// strategy's profit against honesty.
    #[command(
        after_help = "Examples:\n  gpunet sim --seed 42\n  gpunet sim --scenario peak --gpn-usd 2 --plot peak.svg\n  gpunet sim --scenario busy --machines 2000 --sweep canary-pct=0..20 --plot canaries.svg"
    )]
    Sim(sim::SimArgs),
    /// Measure performance (results go in BENCHMARKS.md).
    #[command(subcommand)]
    #[command(after_help = "Example:\n  gpunet bench consensus")]
    Bench(bench::BenchCmd),
    /// Print a completion script for SHELL, e.g. `gpunet completions bash >
    /// ~/.local/share/bash-completion/completions/gpunet`.
    #[command(after_help = "Example:\n  gpunet completions zsh > ~/.zfunc/_gpunet")]
    Completions { shell: clap_complete::Shell },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    init_logs(&cli.command, cli.log_format);
    let output = cli.output;
    if let Err(e) = run(cli).await {
        output.print_error(&e);
        std::process::exit(1);
    }
}

/// Without `RUST_LOG`, the long-running commands report warnings (a peer
/// lost, a bad proposal) and the others only errors, so their output stays
/// theirs: not the data plane's own errors either (a relay gone logs one
/// from iroh's internals beside the command's error, which says what
/// failed, and broke `--output json`'s one JSON error on stderr).
fn init_logs(command: &Command, format: logs::LogFormat) {
    let default = match command {
        // What the agent does is its operator's to see.
        Command::Provider(_) => "warn,gpunet_provider=info",
        Command::Node(_) | Command::Devnet { .. } | Command::Relay { .. } => "warn",
        // Benchmarks start validators one after another in one process and
        // drop them at its end: their first dials to peers not yet
        // listening fail, and their last writes meet closed channels, as
        // expected; the engine's errors would bury the figures (a benchmark
        // checks the outcome itself: blocks agree, orders ran).
        Command::Bench(_) => "error,iroh=off,informalsystems_malachitebft=off",
        _ => "error,iroh=off",
    };
    logs::init(default, format);
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = ctx::Ctx {
        node: cli.node,
        keystore: cli.keystore,
        profile: cli.profile,
        output: cli.output,
    };
    match cli.command {
        Command::Demo { job, data_dir } => demo::run(&job, data_dir).await,
        Command::Devnet {
            action: Some(action),
            ..
        } => node::devnet_action(&ctx, action).await,
        Command::Devnet { action: None, args } => node::devnet(args).await,
        Command::Node(args) => node::node(args).await,
        Command::Genesis {
            chain_id,
            validator,
            fund,
            challenge_work_ms,
            out,
        } => node::genesis(chain_id, validator, fund, challenge_work_ms, out),
        Command::Init { default, plaintext } => profile::init(&ctx, default, plaintext).await,
        Command::Profiles => profile::list(&ctx),
        Command::Provider(args) => provider::provider(&ctx, args).await,
        Command::Relay {
            listen,
            public_host,
        } => provider::relay(listen, public_host).await,
        Command::Wallet(cmd) => wallet::wallet(&ctx, cmd).await,
        Command::Machines(cmd) => machines::machines(&ctx, cmd).await,
        Command::Validator(cmd) => owner::validator(&ctx, cmd).await,
        Command::Job(cmd) => job::job(&ctx, cmd).await,
        Command::Image(cmd) => image::image(&ctx, cmd).await,
        Command::Serve { listen, relay } => serve::serve(&ctx, listen, relay).await,
        Command::Rent(cmd) => rent::rent(&ctx, cmd).await,
        Command::Canary(args) => canary::run(&ctx, args).await,
        Command::Status => node::status(&ctx).await,
        Command::Block { height } => node::block(&ctx, height).await,
        Command::Hardware { data_dir } => provider::hardware(&ctx, &data_dir),
        Command::Bench(cmd) => bench::run(cmd, ctx.output).await,
        Command::Sim(args) => sim::run(args, ctx.output),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "gpunet", &mut script);
            // A closed pipe (`| head`) is the reader's choice, not an error.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::{CommandFactory as _, Parser as _};

    /// Splits an example as a shell would, enough for these: single quotes
    /// group words, a `$(...)` stands for an address, `>` ends the command.
    fn words(example: &str) -> Vec<String> {
        let address = gpunet_primitives::Keypair::from_label("example").address();
        let mut words = Vec::new();
        // In a pipeline, the command is the part that starts with gpunet and
        // ends at the next pipe or redirection.
        let mut rest = example
            .find("gpunet ")
            .map_or(example, |start| &example[start..])
            .trim();
        while !rest.is_empty() && !rest.starts_with('>') && !rest.starts_with('|') {
            let (word, after) = if let Some(quoted) = rest.strip_prefix('\'') {
                quoted.split_once('\'').expect("a closing quote")
            } else if rest.starts_with("$(") {
                let end = rest.find(')').expect("a closing parenthesis");
                words.push(address.to_string());
                rest = rest[end + 1..].trim_start();
                continue;
            } else {
                rest.split_once(' ').unwrap_or((rest, ""))
            };
            words.push(word.to_string());
            rest = after.trim_start();
        }
        words
    }

    /// Every command's --help ends on an example, and every example parses.
    #[test]
    fn every_command_shows_an_example_that_parses() {
        fn walk(command: &clap::Command, path: &str, examples: &mut Vec<String>) {
            for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
                let path = format!("{path} {}", sub.get_name());
                let help = sub
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                assert!(
                    help.starts_with("Example"),
                    "`{path} --help` has no example"
                );
                examples.extend(
                    help.lines()
                        .filter_map(|l| l.strip_prefix("  "))
                        .map(str::to_string),
                );
                walk(sub, &path, examples);
            }
        }
        let mut examples = Vec::new();
        walk(&Cli::command(), "gpunet", &mut examples);
        assert!(examples.len() > 40);
        for example in examples {
            let words = words(&example);
            assert_eq!(words[0], "gpunet", "{example}");
            if let Err(e) = Cli::try_parse_from(&words) {
                panic!("`{example}` does not parse: {e}");
            }
        }
    }
}
