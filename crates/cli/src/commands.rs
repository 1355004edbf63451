//! Every subcommand except `demo` and `bench`.

use crate::output::{gpn, time_until, Output};
use crate::owner;
use anyhow::{bail, Context};
use clap::Subcommand;
use gpunet_api::{BlobReplication, NodeAddress};
use gpunet_bft::{BftConfig, BftError, Multiaddr};
use gpunet_client::jobfile::JobFile;
use gpunet_client::jobs::{
    dispute_duration, dispute_result, fetch_outputs, is_final, read_output, submit_job,
    wait_for_order,
};
use gpunet_client::logs::{current_logs, follow_logs, LogPiece};
use gpunet_client::{Keystore, MachineSearch, NodeClient, OrdersPage, Wallet};
use gpunet_ledger::{Genesis, GenesisAccount, Order, OrderStatus, Params};
use gpunet_node::{
    BlobRetention, Node, NodeBase, NodeConfig, SoloProducerConfig, DEFAULT_MIN_FREE_BYTES,
    LEDGER_FILE,
};
use gpunet_primitives::manifest::Manifest;
use gpunet_primitives::{
    parse_amount, Address, Hash, Keypair, LogStream, MachineId, OrderId, TxBody,
};
use gpunet_provider::executor::ExecutorKind;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub struct Ctx {
    pub node: Option<String>,
    pub keystore: PathBuf,
    pub output: Output,
}

/// Where `gpunet devnet` keeps its data by default.
pub const DEVNET_DIR: &str = ".gpunet/devnet";

impl Ctx {
    /// The node addresses given, or else the local devnet's.
    fn node_addresses(&self) -> anyhow::Result<String> {
        if let Some(node) = &self.node {
            return Ok(node.clone());
        }
        let path = Path::new(DEVNET_DIR).join(NodeAddress::FILE);
        let address = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "no --node given and no local devnet address in {}: pass --node \
                 https://HOST:PORT#KEY (or set GPUNET_NODE), or start `gpunet devnet` here",
                path.display()
            )
        })?;
        Ok(address.trim().to_string())
    }

    fn client(&self) -> anyhow::Result<NodeClient> {
        Ok(NodeClient::new(&self.node_addresses()?)?)
    }

    pub fn wallet(&self) -> anyhow::Result<Wallet> {
        Ok(Wallet::new(Keystore::load(&self.keystore)?, self.client()?))
    }
}

#[derive(Subcommand)]
pub enum WalletCmd {
    /// Create a new key in the keystore file (mode 0600).
    New,
    /// Show your address.
    Show,
    /// Show balance, stake and nonce (yours, or ADDRESS's).
    Balance { address: Option<String> },
    /// Send GPN to another account.
    Transfer { to: String, amount: String },
    /// Bond provider stake (the agent bonds what its machines require by itself).
    Stake { amount: String },
    /// Start unbonding provider stake: without AMOUNT, all that your machines
    /// do not require. It returns to your balance after the unbonding delay.
    Unstake { amount: Option<String> },
}

#[derive(Subcommand)]
pub enum MachinesCmd {
    /// List registered machines, filtered and sorted like an offer search:
    /// `gpunet machines list 'gpu_model=H100 vram>=80 price<=2.5' -o price`
    /// (quote the query: `>` and `<` redirect in a shell). When nothing
    /// matches, it says which machines come closest and what they miss.
    ///
    /// Fields: id, gpu_model (substring), gpu_vendor, num_gpus, vram (GB per
    /// GPU), cpu, ram (GB), disk (GB), region, price (base GPN/hour), gpu_price
    /// (GPN per GPU-hour), online,
    /// verified, gops, reliability, leases, owner. Operators: = != >= <= > <.
    /// The node runs the search and sends only what it returns.
    List {
        /// Filters, e.g. `num_gpus>=2 verified=true`.
        query: Vec<String>,
        /// Sort keys, comma-separated; `-` for descending, e.g. `-gops,price`.
        #[arg(short = 'o', long = "order", allow_hyphen_values = true)]
        order: Option<String>,
        /// Show at most this many machines (the first in the order).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Only your machines (owned by the wallet's address).
        #[arg(long)]
        mine: bool,
    },
    /// Take your machine off the market: no new work; what runs goes on.
    Pause { id: MachineId },
    /// List your paused (or delisted) machine again: it proves its hardware
    /// again first, so keep its agent running.
    Resume { id: MachineId },
    /// Remove your machine for good: it goes offline, its leases run out and
    /// its open hardware challenge is answered (keep the agent running), then
    /// it is deregistered and the stake it freed starts unbonding.
    Remove {
        id: MachineId,
        /// How long to wait for its leases and challenge to end.
        #[arg(long, default_value_t = 3600)]
        wait_secs: u64,
        /// Keep the freed stake bonded (for another machine).
        #[arg(long)]
        keep_stake: bool,
    },
}

#[derive(Subcommand)]
pub enum JobCmd {
    /// Submit the job described in FILE (TOML).
    Run {
        file: PathBuf,
        /// Wait until the job is settled and print its output.
        #[arg(long)]
        wait: bool,
        /// Print the job's stdout and stderr as it writes them, until it
        /// reports (as `job logs --follow`); with --wait, then wait on.
        #[arg(long)]
        follow: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 3600)]
        wait_secs: u64,
    },
    /// List your orders (jobs, rentals, audit runs of your jobs), newest first.
    List {
        /// Show at most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Start below this order id (the next page: the last id shown).
        #[arg(long)]
        before: Option<OrderId>,
    },
    /// Show an order: status, lease, result and settlement.
    Describe { id: OrderId },
    /// Print a job's stdout and stderr: the result's (verified) once it
    /// reported, else what nodes keep of the running job's live logs
    Logs {
        id: OrderId,
        /// Keep printing what the job writes, as it writes it, until it reports
        #[arg(short, long)]
        follow: bool,
    },
    /// Download a job's outputs and logs into DIR, verified against the output root.
    Get {
        id: OrderId,
        #[arg(short = 'o', long = "out", default_value = ".")]
        dir: PathBuf,
    },
    /// Cancel a job that is still waiting for a machine.
    Cancel { id: OrderId },
    /// Stop a running job: its provider stops the run and is paid the time
    /// it ran; the rest of the deposit comes back; nobody is slashed; there
    /// is no result. Example: `gpunet job stop 7`.
    Stop { id: OrderId },
    /// Let another account read a job's result (outputs and logs, not its
    /// inputs) with `gpunet job get`, or stop letting it (--revoke).
    Share {
        id: OrderId,
        reader: Address,
        #[arg(long)]
        revoke: bool,
    },
    /// Print the output root of a result in DIR (as `job get` writes it):
    /// keep a canary job's known answer with it.
    Root { dir: PathBuf },
    /// Dispute a job's reported result within its dispute window, naming the
    /// output root you hold right (a canary's known answer), or only the time
    /// it billed (--duration). A referee run on another provider decides; you
    /// pay for it unless the provider was wrong or padded its time.
    Dispute {
        id: OrderId,
        #[arg(long, required_unless_present = "duration")]
        expected_root: Option<String>,
        /// The output is right but the time billed is far over what the job
        /// takes: the referee's run is what the provider's time is held to.
        #[arg(long, conflicts_with = "expected_root")]
        duration: bool,
    },
}

pub async fn wallet(ctx: &Ctx, cmd: WalletCmd) -> anyhow::Result<()> {
    match cmd {
        WalletCmd::New => {
            let key = Keypair::generate();
            Keystore::create(&ctx.keystore, &key)?;
            let out = serde_json::json!({ "address": key.address(), "keystore": ctx.keystore });
            ctx.output.print(&out, || {
                format!(
                    "new wallet {}\nkeystore  {} (mode 0600)",
                    key.address(),
                    ctx.keystore.display()
                )
            });
        }
        WalletCmd::Show => {
            let key = Keystore::load(&ctx.keystore)?;
            ctx.output
                .print(&serde_json::json!({ "address": key.address() }), || {
                    key.address().to_string()
                });
        }
        WalletCmd::Balance { address } => {
            let address: Address = match address {
                Some(a) => a.parse().context("invalid address")?,
                None => Keystore::load(&ctx.keystore)?.address(),
            };
            let client = ctx.client()?;
            let view = client.account(&address).await?;
            let now_ms = client.status().await?.time_ms;
            let a = &view.account;
            ctx.output.print(&view, || {
                let mut text = format!(
                    "address   {address}\nbalance   {}\nbonded    {} (provider), {} (validator)\nunbonding {}",
                    gpn(a.balance),
                    gpn(a.bonded),
                    gpn(a.validator_bonded),
                    gpn(a.unbonding_total()),
                );
                for u in &a.unbonding {
                    text += &format!(
                        "\n          {} back in {}",
                        gpn(u.amount),
                        time_until(now_ms, u.release_ms)
                    );
                }
                text + &format!("\nnonce     {}", a.nonce)
            });
        }
        WalletCmd::Transfer { to, amount } => {
            let to: Address = to.parse().context("invalid recipient address")?;
            let amount = parse_amount(&amount)?;
            let included = ctx.wallet()?.send(TxBody::Transfer { to, amount }).await?;
            ctx.output.print(&included, || {
                format!("sent {} to {to} in block {}", gpn(amount), included.height)
            });
        }
        WalletCmd::Stake { amount } => owner::stake(ctx, &amount).await?,
        WalletCmd::Unstake { amount } => owner::unstake(ctx, amount.as_deref()).await?,
    }
    Ok(())
}

/// Says on stderr that `search` found nothing, and which machines come
/// closest and what they miss.
async fn explain_no_match(client: &NodeClient, search: &MachineSearch) -> anyhow::Result<()> {
    let query = search.q.as_deref().unwrap_or_default();
    let closest = client
        .closest_machines(&MachineSearch {
            limit: Some(3),
            ..search.clone()
        })
        .await?;
    if closest.is_empty() {
        eprintln!("no machine matches `{query}`: no machine is registered");
        return Ok(());
    }
    eprintln!("no machine matches `{query}`; the closest offers:");
    for near in closest {
        eprintln!(
            "  machine {} ({}): misses {}",
            near.machine.id,
            gpunet_client::jobs::machine_summary(&near.machine),
            near.unmet.join(" ")
        );
    }
    Ok(())
}

pub async fn machines(ctx: &Ctx, cmd: MachinesCmd) -> anyhow::Result<()> {
    let (query, order, limit) = match cmd {
        MachinesCmd::List {
            mut query,
            order,
            limit,
            mine,
        } => {
            if mine {
                query.push(format!(
                    "owner={}",
                    Keystore::load(&ctx.keystore)?.address()
                ));
            }
            (query, order, limit)
        }
        MachinesCmd::Pause { id } => return owner::set_online(ctx, id, false).await,
        MachinesCmd::Resume { id } => return owner::set_online(ctx, id, true).await,
        MachinesCmd::Remove {
            id,
            wait_secs,
            keep_stake,
        } => return owner::remove(ctx, id, wait_secs, keep_stake).await,
    };
    // Checked here first, to say what is wrong without asking the node.
    gpunet_client::offers::Query::parse(&query, order.as_deref())?;
    let search = MachineSearch {
        q: Some(query.join(" ")),
        order,
        limit: Some(limit),
    };
    let client = ctx.client()?;
    let (machines, matched) = client.find_machines(&search).await?;
    if matched == 0 && !query.is_empty() {
        explain_no_match(&client, &search).await?;
    }
    if matched > machines.len() {
        eprintln!(
            "showing {} of {matched} matching machines (--limit to see more)",
            machines.len()
        );
    }
    ctx.output.print(&machines, || {
        let mut s = format!(
            "{:>4}  {:<10} {:>5} {:>9} {:<28} {:>6}  {:<8} {:>14}  {:<6} {:<10} {:>8} {:>6}\n",
            "id",
            "owner",
            "cpu",
            "mem MiB",
            "gpu",
            "leases",
            "region",
            "price/hour",
            "online",
            "hardware",
            "GOPS",
            "reliab"
        );
        for m in &machines {
            let gpu = m.spec.gpu.as_ref().map_or("-".to_string(), |g| {
                format!("{}x {} {}G", g.count, g.model, g.vram_mb / 1024)
            });
            s += &format!(
                "{:>4}  {:<10} {:>5} {:>9} {:<28} {:>6}  {:<8} {:>14}  {:<6} {:<10} {:>8} {:>5.0}%\n",
                m.id,
                &m.owner.to_string()[..8],
                m.spec.cpu_cores,
                m.spec.memory_mb,
                gpu,
                m.active_leases,
                m.spec.region,
                gpn(m.price_per_hour),
                m.online,
                format!("{:?}", m.hardware).to_lowercase(),
                m.compute_gops,
                gpunet_client::offers::reliability(m) * 100.0
            );
        }
        s.trim_end().to_string()
    });
    Ok(())
}

/// One line per order: what it is, where it stands, what it cost its client
/// (the provider's pay and the burn).
fn list_orders(orders: &[Order]) -> String {
    let mut s = format!(
        "{:>6}  {:<20} {:<9} {:<10} {:>8}  {:>14}  {:>14}\n",
        "id", "name", "kind", "status", "machine", "price/hour", "cost"
    );
    for o in orders {
        let kind = match (&o.rental, o.audit_of) {
            (Some(_), _) => "rental".to_string(),
            (None, Some(parent)) => format!("audit {parent}"),
            (None, None) => "job".to_string(),
        };
        let lease = o.lease.as_ref();
        s += &format!(
            "{:>6}  {:<20} {:<9} {:<10} {:>8}  {:>14}  {:>14}\n",
            o.id,
            o.spec.name.chars().take(20).collect::<String>(),
            kind,
            format!("{:?}", o.status).to_lowercase(),
            lease.map_or("-".into(), |l| l.machine.to_string()),
            lease.map_or("-".into(), |l| gpn(l.price_per_hour)),
            o.settlement
                .as_ref()
                .map_or("-".into(), |st| gpn(st.paid_to_provider + st.burned)),
        );
    }
    s.trim_end().to_string()
}

pub fn describe(order: &Order) -> String {
    let mut s = format!(
        "order     {}\nname      {}\nstatus    {:?}\nclient    {}\ndeposit   {}\n",
        order.id,
        order.spec.name,
        order.status,
        order.client,
        gpn(order.deposit)
    );
    if let Some(l) = &order.lease {
        s += &format!(
            "machine   {} (provider {})\nprice     {}/hour\n",
            l.machine,
            l.provider,
            gpn(l.price_per_hour)
        );
    }
    for d in &order.declines {
        s += &format!("declined  by machine {}: {}\n", d.machine, d.reason);
    }
    for reader in &order.result_readers {
        s += &format!("shared    with {reader}\n");
    }
    if let Some(r) = &order.report {
        match &r.outcome {
            gpunet_primitives::JobOutcome::Completed {
                exit_code,
                output_root,
                output_bytes,
                duration_ms,
                stopped,
            } => {
                s += &format!("exit code {exit_code}\nran       {duration_ms} ms (billed {} ms)\noutputs   {output_bytes} bytes, root {output_root}\n", r.billable_ms);
                if let Some(stop) = stopped {
                    s += &format!(
                        "stopped   at its {} limit (outputs are partial)\n",
                        stop.name()
                    );
                }
                if r.padded.is_some() {
                    s += "padded    billed far longer than an agreeing run took: billed what that \
                          run allows, provider slashed\n";
                }
            }
            gpunet_primitives::JobOutcome::Failed { reason } => {
                s += &format!("failed    {reason}\n")
            }
        }
    }
    if let Some(st) = &order.settlement {
        s += &format!(
            "paid      {} to the provider\nburned    {}\nrefunded  {}\nslashed   {} from the provider\n",
            gpn(st.paid_to_provider),
            gpn(st.burned),
            gpn(st.refunded),
            gpn(st.slashed)
        );
    }
    if let Some(r) = &order.rental {
        s += &format!(
            "rental    ends at {} ms; billed up to {} ms: {} streamed to the provider, {} burned\n",
            r.ends_ms,
            r.paid_until_ms,
            gpn(r.paid),
            gpn(r.burned)
        );
        for (port, endpoint) in order.spec.ports.iter().zip(&r.endpoints) {
            s += &format!("port      {port} at {endpoint}\n");
        }
    }
    if let Some(root) = order.disputed_root {
        s += &format!("disputed  the client holds output root {root} right\n");
    }
    if let Some(of) = order.audit_of {
        s += &format!("audit     run of order {of}\n");
    }
    if !order.audit_runs.is_empty() || order.spec.audit_bps > 0 {
        s += &format!(
            "audit     {} % chance, {}; runs {:?}, verdict {}\n",
            order.spec.audit_bps as f64 / 100.0,
            if order.spec.is_deterministic() {
                "deterministic (mismatches are slashed)"
            } else {
                "not deterministic (never slashed)"
            },
            order.audit_runs,
            order
                .audit_verdict
                .as_ref()
                .map_or("pending".to_string(), |v| format!("{v:?}"))
        );
    }
    s.trim_end().to_string()
}

/// Says on stderr why order `id` waits, if no machine can take it now (it
/// waits all the same: a machine may come or free up).
pub async fn warn_if_unmatched(node: &NodeClient, id: OrderId) {
    let Ok(order) = node.order(id).await else {
        return;
    };
    if order.status != OrderStatus::Pending {
        return;
    }
    if let Ok(unmatched) = node.unmatched(id).await {
        if let Some(why) = gpunet_client::jobs::explain_unmatched(&order, &unmatched) {
            let end = gpunet_client::jobs::end_command(&order);
            eprintln!(
                "{why}\nthe order waits until a machine can take it or it expires; \
                 `{end}` takes the deposit back"
            );
        }
    }
}

/// Runs `work` (following order `id`) unless Ctrl-C comes first: then says
/// that the order goes on without the command, and how to follow or stop
/// it, and ends the process as an interrupted one does (exit code 130).
async fn until_interrupted<T>(
    id: OrderId,
    work: impl std::future::Future<Output = T>,
) -> anyhow::Result<T> {
    tokio::select! {
        done = work => Ok(done),
        interrupted = tokio::signal::ctrl_c() => {
            interrupted?;
            eprintln!(
                "\ninterrupted: order {id} goes on without this command; follow it with \
                 `gpunet job logs {id} --follow` or `gpunet job describe {id}`, stop it with \
                 `gpunet job stop {id}` (it is paid for the time it ran)"
            );
            std::process::exit(130);
        }
    }
}

pub async fn job(ctx: &Ctx, cmd: JobCmd) -> anyhow::Result<()> {
    match cmd {
        JobCmd::Run {
            file,
            wait,
            follow,
            wait_secs,
        } => {
            let job = JobFile::load(&file)?;
            let wallet = ctx.wallet()?;
            let id = submit_job(&wallet, &job).await?;
            if follow {
                eprintln!("[gpunet: submitted order {id}]");
            }
            warn_if_unmatched(wallet.node(), id).await;
            if follow {
                until_interrupted(id, follow_job_logs(&wallet, id)).await??;
                if !wait {
                    return Ok(());
                }
            }
            if !wait {
                ctx.output.print(&serde_json::json!({ "order": id }), || {
                    format!("submitted order {id}; follow it with `gpunet job describe {id}`")
                });
                return Ok(());
            }
            let text = ctx.output == Output::Text;
            let waited = wait_for_order(
                wallet.node(),
                id,
                Duration::from_secs(wait_secs),
                |o| is_final(o.status),
                |o| {
                    if let Some(d) = o
                        .declines
                        .last()
                        .filter(|_| o.status == OrderStatus::Pending)
                    {
                        eprintln!(
                            "order {id}: machine {} declined it: {}",
                            d.machine, d.reason
                        );
                    }
                    if text {
                        eprintln!("order {id}: {:?}", o.status);
                    }
                },
            );
            let order = until_interrupted(id, waited).await??;
            ctx.output.print(&order, || describe(&order));
            // Followed, its output has been printed already.
            if order.status == OrderStatus::Settled && text && !follow {
                let stdout = read_output(&wallet, &order, "logs/stdout.log").await?;
                println!(
                    "--- stdout ---\n{}",
                    String::from_utf8_lossy(&stdout).trim_end()
                );
            }
        }
        JobCmd::List { limit, before } => {
            let me = ctx.wallet()?.address();
            let page = OrdersPage {
                before,
                limit: Some(limit),
            };
            let orders = ctx.client()?.orders_of(&me, &page).await?;
            ctx.output.print(&orders, || list_orders(&orders));
        }
        JobCmd::Describe { id } => {
            let client = ctx.client()?;
            let order = client.order(id).await?;
            ctx.output.print(&order, || describe(&order));
            if ctx.output == Output::Text {
                warn_if_unmatched(&client, id).await;
            }
        }
        JobCmd::Logs { id, follow: true } => follow_job_logs(&ctx.wallet()?, id).await?,
        JobCmd::Logs { id, follow: false } => {
            let order = ctx.client()?.order(id).await?;
            let logs = current_logs(&ctx.wallet()?, &order).await?;
            let (stdout, stderr) = (
                String::from_utf8_lossy(&logs.stdout),
                String::from_utf8_lossy(&logs.stderr),
            );
            let out = serde_json::json!({ "live": logs.live, "stdout": stdout, "stderr": stderr });
            ctx.output.print(&out, || {
                let live = if logs.live {
                    " (live, unverified: the job is running)"
                } else {
                    ""
                };
                format!(
                    "--- stdout{live} ---\n{}\n--- stderr{live} ---\n{}",
                    stdout.trim_end(),
                    stderr.trim_end()
                )
            });
        }
        JobCmd::Get { id, dir } => {
            let order = ctx.client()?.order(id).await?;
            let manifest = fetch_outputs(&ctx.wallet()?, &order, &dir).await?;
            ctx.output.print(&manifest, || {
                let mut s = String::new();
                for f in &manifest.files {
                    s += &format!(
                        "{:>10}  {}  {}\n",
                        f.size,
                        f.hash,
                        dir.join(&f.path).display()
                    );
                }
                s + &format!(
                    "verified {} files against output root {}",
                    manifest.files.len(),
                    manifest.root()
                )
            });
        }
        JobCmd::Cancel { id } => {
            let included = ctx
                .wallet()?
                .send(TxBody::CancelOrder { order: id })
                .await?;
            ctx.output.print(&included, || {
                format!("cancelled order {id}; deposit refunded")
            });
        }
        JobCmd::Stop { id } => {
            let included = ctx.wallet()?.send(TxBody::StopJob { order: id }).await?;
            let stopped = included.events.iter().find_map(|e| match e {
                gpunet_ledger::Event::JobStopped {
                    paid,
                    burned,
                    refunded,
                    ..
                } => Some((*paid + *burned, *refunded)),
                _ => None,
            });
            ctx.output.print(&included, || match stopped {
                Some((paid, refunded)) => format!(
                    "stopped order {id}: {} GPN paid for the time it ran, {} GPN refunded",
                    gpn(paid),
                    gpn(refunded)
                ),
                None => format!("stopped order {id}"),
            });
        }
        JobCmd::Share { id, reader, revoke } => {
            let included = ctx
                .wallet()?
                .send(TxBody::ShareResult {
                    order: id,
                    reader,
                    shared: !revoke,
                })
                .await?;
            ctx.output.print(&included, || match revoke {
                false => {
                    format!("{reader} may now read order {id}'s result (`gpunet job get {id}`)")
                }
                true => format!("{reader} may no longer read order {id}'s result"),
            });
        }
        JobCmd::Root { dir } => {
            let root = Manifest::of_result_dir(&dir)
                .with_context(|| format!("cannot read the result in {}", dir.display()))?
                .root();
            ctx.output
                .print(&serde_json::json!({ "output_root": root }), || {
                    root.to_string()
                });
        }
        JobCmd::Dispute {
            id, expected_root, ..
        } => {
            let wallet = ctx.wallet()?;
            // clap lets exactly one of the two through.
            match expected_root {
                Some(root) => {
                    let expected: Hash = root
                        .parse()
                        .context("--expected-root is not a hash (64 hex digits)")?;
                    dispute_result(&wallet, id, expected).await?
                }
                None => dispute_duration(&wallet, id).await?,
            }
            ctx.output.print(&serde_json::json!({ "order": id, "disputed": true }), || {
                format!(
                    "disputed order {id}: a referee run decides; follow it with `gpunet job describe {id}`"
                )
            });
        }
    }
    Ok(())
}

pub async fn devnet(
    data_dir: PathBuf,
    listen: SocketAddr,
    providers: usize,
    executor: ExecutorKind,
) -> anyhow::Result<()> {
    let default_dir = data_dir == Path::new(DEVNET_DIR);
    let mut config = gpunet_devnet::DevnetConfig::new(data_dir);
    config.api_addr = listen;
    config.providers = providers;
    config.executor = executor;
    let devnet = gpunet_devnet::Devnet::start(config).await?;
    println!("gpunet devnet serving {}", devnet.address);
    println!(
        "client wallet keystore: {} (funded)",
        devnet.client_keystore.display()
    );
    // From this directory the CLI finds the default devnet on its own.
    let node = if default_dir {
        String::new()
    } else {
        format!("--node {} ", devnet.address)
    };
    println!(
        "try: gpunet {node}--keystore {} job run examples/hello.toml --wait",
        devnet.client_keystore.display()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}

#[derive(clap::Args)]
pub struct NodeArgs {
    #[arg(long)]
    genesis: PathBuf,
    #[arg(long, default_value = ".gpunet/node")]
    data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8645")]
    listen: SocketAddr,
    /// Keystore of this validator's key (signs blocks and votes, receives fees).
    #[arg(long)]
    validator_keystore: PathBuf,
    /// Block interval of the single-validator producer (without --bft).
    #[arg(long, default_value_t = 200)]
    block_ms: u64,
    /// Decide blocks with the genesis validators through BFT consensus
    /// (Malachite) instead of producing them alone.
    #[arg(long)]
    bft: bool,
    /// Where consensus traffic is accepted (with --bft).
    #[arg(long, default_value = "/ip4/0.0.0.0/tcp/26656")]
    p2p_listen: Multiaddr,
    /// Where transaction gossip is accepted (with --bft).
    #[arg(long, default_value = "/ip4/0.0.0.0/tcp/26657")]
    gossip_listen: Multiaddr,
    /// A consensus peer to reach first (repeatable); the rest are discovered.
    #[arg(long = "peer")]
    peers: Vec<Multiaddr>,
    /// A gossip peer to bootstrap from (repeatable); the rest are discovered.
    #[arg(long = "gossip-peer")]
    gossip_peers: Vec<Multiaddr>,
    /// This node's API URL (https://HOST:PORT) as other nodes, clients and
    /// providers reach it, announced to peers with its key (with --bft).
    #[arg(long)]
    advertise_api: Option<String>,
    /// Keystore of the key the API's TLS certificate carries, which clients
    /// pin (made on first start; default: api-key.json in --data-dir).
    #[arg(long)]
    api_keystore: Option<PathBuf>,
    /// How long a closed order's inputs and results stay in this node's blob
    /// store for its client to fetch (hours; open orders' always stay).
    #[arg(long, default_value_t = 7 * 24)]
    blob_retention_hours: u64,
    /// Disk space (MiB) the blob store leaves free for the ledger: uploads
    /// that would eat into it are refused.
    #[arg(long, default_value_t = DEFAULT_MIN_FREE_BYTES >> 20)]
    min_free_disk_mb: u64,
    /// How many validators keep a copy of each job input and result ahead
    /// of any read, besides the node it was uploaded to (with --bft; 0: copy
    /// only when read).
    #[arg(long, default_value_t = BlobReplication::default().replicas)]
    blob_replicas: usize,
    /// Rebuild this node's ledger and consensus stores from its peers (with
    /// --bft): the ones it has are moved aside under --data-dir, its keys
    /// and its record of signed votes stay. The way out when its stores
    /// disagree, as after restoring only part of a backup.
    #[arg(long, requires = "bft")]
    resync: bool,
}

pub async fn node(args: NodeArgs) -> anyhow::Result<()> {
    let retention = BlobRetention {
        after_close: Duration::from_secs(args.blob_retention_hours.saturating_mul(3600)),
        ..BlobRetention::default()
    };
    let genesis = Genesis::from_file(&args.genesis)?;
    let key = Keystore::load(&args.validator_keystore)?;
    let replication_key = key.clone();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let api_key = Keystore::load_or_create(
        &args
            .api_keystore
            .unwrap_or_else(|| args.data_dir.join("api-key.json")),
    )?;
    let advertised = args.advertise_api.is_some();
    let url = args
        .advertise_api
        .unwrap_or_else(|| format!("https://{}", args.listen));
    if !url.starts_with("https://") {
        bail!("--advertise-api takes https://HOST:PORT, got {url:?}");
    }
    let address = NodeAddress::new(&url, api_key.address());
    address
        .save(&args.data_dir)
        .with_context(|| format!("writing the API address to {}", args.data_dir.display()))?;
    let mut node = if args.bft {
        let consensus_home = args.data_dir.join("consensus");
        if args.resync {
            set_aside_stores(&args.data_dir, &consensus_home)?;
        }
        let base = NodeBase::open(&args.data_dir, &genesis, MAX_BLOB_BYTES)?;
        let mut config = BftConfig::new(consensus_home, args.p2p_listen, args.gossip_listen);
        config.consensus_peers = args.peers;
        config.gossip.bootstrap = args.gossip_peers;
        config.gossip.api_url = advertised.then(|| address.to_string());
        let consensus = gpunet_bft::start(base.ledger.clone(), key, config, base.events.clone())
            .await
            .map_err(|e| match e {
                BftError::StoresDisagree { .. } => anyhow::anyhow!(
                    "{e}.\nStart it once with --resync to rebuild them from its peers: \
                     they are moved aside, its keys and its record of signed votes stay."
                ),
                e => e.into(),
            })?;
        base.with_consensus(Arc::new(consensus))
    } else {
        Node::start(NodeConfig {
            data_dir: args.data_dir,
            genesis,
            validator_key: key,
            producer: SoloProducerConfig {
                block_interval: Duration::from_millis(args.block_ms),
                ..SoloProducerConfig::default()
            },
            max_blob_bytes: MAX_BLOB_BYTES,
        })?
    };
    node.blobs = node
        .blobs
        .clone()
        .with_min_free(args.min_free_disk_mb.saturating_mul(1 << 20));
    node.spawn_blob_collection(retention);
    if args.bft && args.blob_replicas > 0 {
        let replication = BlobReplication {
            replicas: args.blob_replicas,
            ..BlobReplication::default()
        };
        gpunet_api::spawn_blob_replication(node.clone(), replication_key, replication, retention);
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    eprintln!("gpunet node serving {address} (clients: --node {address})");
    gpunet_api::serve(listener, node, &api_key).await?;
    Ok(())
}

/// Moves a node's ledger and the consensus stores its peers can rebuild into
/// `resync-<unix seconds>/` under its data directory, and says so.
fn set_aside_stores(data_dir: &Path, consensus_home: &Path) -> anyhow::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let aside = data_dir.join(format!("resync-{now}"));
    gpunet_bft::set_aside_rebuilt_stores(consensus_home, &aside.join("consensus"))
        .and_then(
            |()| match std::fs::rename(data_dir.join(LEDGER_FILE), aside.join(LEDGER_FILE)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        )
        .with_context(|| format!("moving this node's stores to {}", aside.display()))?;
    eprintln!(
        "resync: the ledger and consensus stores were moved to {}; rebuilding them from peers",
        aside.display()
    );
    Ok(())
}

/// Largest job input or output a node stores.
const MAX_BLOB_BYTES: u64 = 4 << 30;

pub fn genesis(
    chain_id: String,
    validators: Vec<String>,
    fund: Vec<String>,
    challenge_work_ms: Option<u64>,
    out: PathBuf,
) -> anyhow::Result<()> {
    let validators = validators
        .iter()
        .map(|v| v.parse().with_context(|| format!("invalid validator {v}")))
        .collect::<anyhow::Result<Vec<Address>>>()?;
    let mut accounts = Vec::new();
    for f in fund {
        let Some((addr, amount)) = f.split_once('=') else {
            bail!("--fund takes ADDRESS=GPN, got {f:?}")
        };
        accounts.push(GenesisAccount {
            address: addr
                .parse()
                .with_context(|| format!("invalid address {addr}"))?,
            balance: parse_amount(amount)?,
        });
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    let genesis = Genesis {
        chain_id,
        genesis_time_ms: now,
        accounts,
        validators,
        params: Params {
            challenge_work_ms: challenge_work_ms.unwrap_or(Params::default().challenge_work_ms),
            ..Params::default()
        },
    };
    genesis.validate()?;
    std::fs::write(&out, genesis.to_json())
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

pub async fn status(ctx: &Ctx) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let status = client.status().await?;
    ctx.output.print(&status, || {
        let supply = &status.supply;
        let mut text = format!(
            "node        {}\nchain       {}\nheight      {} (block {})\nblock time  {} ms since the epoch\n\
             state root  {}\nsupply      {} at genesis, {} minted, {} burned, {} slashed\nvalidators\n",
            client.address(),
            status.chain_id,
            status.height,
            status.block_hash,
            status.time_ms,
            status.state_root,
            gpn(supply.genesis),
            gpn(supply.minted),
            gpn(supply.burned),
            gpn(supply.slashed),
        );
        for v in &status.validators {
            text.push_str(&format!("  {v}\n"));
        }
        text
    });
    Ok(())
}

pub fn hardware(ctx: &Ctx, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let hw = gpunet_provider::hardware::detect(data_dir);
    let offered = hw.gpus.first().map(|g| g.name.as_str());
    let class = gpunet_poc::ComputeClass::of_model(offered);
    #[derive(serde::Serialize)]
    struct View<'a> {
        hardware: &'a gpunet_provider::hardware::Hardware,
        compute_class: &'static str,
        class_peak_int8_gops: u64,
    }
    let view = View {
        hardware: &hw,
        compute_class: class.name,
        class_peak_int8_gops: class.peak_int8_gops,
    };
    ctx.output.print(&view, || {
        let or_unknown = |v: Option<String>| v.unwrap_or_else(|| "unknown".into());
        let mut text = format!(
            "CPU      {} ({} cores)\nmemory   {} MiB\ndisk     {} MiB free in {}\nnetwork  {}\n",
            or_unknown(hw.cpu_model.clone()),
            hw.cpu_cores,
            hw.memory_mb,
            hw.disk_mb,
            data_dir.display(),
            hw.network_link_mbps
                .map_or("link speed unknown".into(), |m| format!("{m} Mbit/s link")),
        );
        for (i, g) in hw.gpus.iter().enumerate() {
            text += &format!(
                "GPU {i}    {} ({} MiB, compute {}, {}% busy) {}\n",
                g.name,
                g.vram_mb,
                or_unknown(g.compute_capability.clone()),
                g.utilization_pct.map_or("?".into(), |u| u.to_string()),
                g.uuid
            );
        }
        if let Some(note) = &hw.gpu_note {
            text += &format!("GPU      none: {note}\n");
        } else {
            text += &format!(
                "driver   {} (CUDA {})\n",
                or_unknown(hw.driver_version.clone()),
                or_unknown(hw.cuda_version.clone())
            );
        }
        text += &format!(
            "class    {} (challenged at {} GOPS int8 peak per device); these are claims until proven",
            class.name, class.peak_int8_gops
        );
        text
    });
    Ok(())
}

#[derive(clap::Args)]
pub struct ProviderArgs {
    #[arg(long, default_value = ".gpunet/provider")]
    data_dir: PathBuf,
    /// Base price per hour in GPN that every job on this machine pays.
    #[arg(long, default_value = "3.6")]
    price: String,
    /// Added per GPU a job asks for, in GPN per hour.
    #[arg(long, default_value = "0")]
    price_per_gpu: String,
    /// Added per CPU core a job asks for, in GPN per hour.
    #[arg(long, default_value = "0")]
    price_per_cpu: String,
    /// Added per GiB of memory a job asks for, in GPN per hour.
    #[arg(long, default_value = "0")]
    price_per_gb_ram: String,
    #[arg(long, default_value = "local")]
    region: String,
    /// How jobs run: "docker" (sandboxed containers) or "process" (no sandbox).
    #[arg(long, default_value = "docker")]
    executor: ExecutorKind,
    /// The address renters reach this machine at: a rental's exposed ports
    /// are announced as HOST:PORT.
    #[arg(long, default_value = "127.0.0.1")]
    public_host: String,
}

pub async fn provider(ctx: &Ctx, args: ProviderArgs) -> anyhow::Result<()> {
    let key = Keystore::load(&ctx.keystore)?;
    let price =
        |what: &str, value: &str| parse_amount(value).with_context(|| format!("{what} {value:?}"));
    let config = gpunet_provider::AgentConfig {
        node: ctx.node_addresses()?,
        data_dir: args.data_dir,
        region: args.region,
        price_per_hour: price("--price", &args.price)?,
        resource_prices: gpunet_primitives::ResourcePrices {
            per_gpu_hour: price("--price-per-gpu", &args.price_per_gpu)?,
            per_cpu_hour: price("--price-per-cpu", &args.price_per_cpu)?,
            per_gb_ram_hour: price("--price-per-gb-ram", &args.price_per_gb_ram)?,
        },
        public_host: args.public_host,
        unproven_gpus: gpunet_provider::UnprovenGpus::Refuse,
    };
    let executor =
        args.executor.connect().await.context(
            "preparing the executor (use --executor process on a machine without Docker)",
        )?;
    let agent = gpunet_provider::Agent::register(key, config, executor).await?;
    let hw = agent.hardware();
    eprintln!(
        "provider serving machine {} ({} cores, {} MiB, {} GPU(s){})",
        agent.machine_id(),
        hw.cpu_cores,
        hw.memory_mb,
        hw.gpus.len(),
        hw.gpu_note
            .as_deref()
            .map(|n| format!("; {n}"))
            .unwrap_or_default()
    );
    // Ctrl-C drains (the machine is paused, running work finishes); a
    // second one stops at once.
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let second_stop = async {
        let _ = tokio::signal::ctrl_c().await;
        let _ = tokio::signal::ctrl_c().await;
    };
    tokio::select! {
        ran = agent.run_until(stop) => ran?,
        () = second_stop => bail!("stopped before running work finished: it is reported failed when the agent restarts"),
    }
    Ok(())
}

/// Copies what job `id` writes to its logs onto this process's stdout and
/// stderr as it comes, like `docker logs --follow`, until the job reports.
async fn follow_job_logs(wallet: &Wallet, id: OrderId) -> anyhow::Result<()> {
    use std::io::Write;
    let order = follow_logs(wallet, id, Duration::from_millis(500), |piece| {
        // A closed pipe (`| head`) is no reason to stop following.
        let _ = match piece {
            LogPiece::Bytes(LogStream::Stdout, bytes) => {
                let mut out = std::io::stdout().lock();
                out.write_all(&bytes).and_then(|()| out.flush())
            }
            LogPiece::Bytes(LogStream::Stderr, bytes) => std::io::stderr().write_all(&bytes),
            LogPiece::Skipped(stream, n) => {
                writeln!(
                    std::io::stderr(),
                    "[gpunet: {n} bytes of {} not kept]",
                    stream.name()
                )
            }
        };
    })
    .await?;
    eprintln!("[gpunet: order {id} is {:?}]", order.status);
    Ok(())
}
