//! `gpunet job`: submit, follow, fetch, stop and dispute jobs; how an order reads.

use crate::ctx::Ctx;
use crate::output::{gpn, table, Output, WaitLine};
use crate::secrets::{delivering, sealed_line, SecretFlags};
use anyhow::{bail, Context};
use clap::Subcommand;
use gpunet_client::jobfile::JobFile;
use gpunet_client::jobs::{
    array_members, dispute_duration, dispute_result, fetch_outputs, is_final, read_output,
    submit_array, submit_job, wait_for_order,
};
use gpunet_client::logs::{current_logs, follow_logs, LogPiece};
use gpunet_client::secrets::{deliver_secrets, DeliverUntil, SecretValues};
use gpunet_client::{NodeClient, Wallet};
use gpunet_primitives::manifest::Manifest;
use gpunet_primitives::{
    format_amount, Address, Hash, JobOutcome, LogStream, OnExit, OrderId, OutputHolder, TxBody,
};
use gpunet_types::api::{DryRun, OrdersPage};
use gpunet_types::{OrderStatus, OrderView, WorkspaceState};
use std::path::PathBuf;
use std::time::Duration;

/// A job told with flags, as `docker run` takes one.
#[derive(clap::Args)]
#[command(next_help_heading = "A job from flags (instead of FILE)")]
pub(crate) struct JobFlags {
    /// The container image (the process executor ignores it); with FILE,
    /// instead of the file's: by its id (`sha256:...`) it makes the job
    /// deterministic, so audits can compare runs.
    #[arg(long)]
    image: Option<String>,
    /// Most GPN per hour you pay (required with --image).
    #[arg(long)]
    max_price: Option<String>,
    /// How long it may run, e.g. 90s, 30m, 2h.
    #[arg(long, default_value = "10m", value_parser = crate::rent::parse_duration)]
    timeout: u64,
    #[arg(long, default_value_t = 1)]
    cpu: u32,
    #[arg(long, default_value_t = 256)]
    memory_mb: u64,
    /// What it may write.
    #[arg(long, default_value_t = 1024)]
    disk_mb: u64,
    #[arg(long, default_value_t = 0)]
    gpus: u32,
    /// A substring the GPU model must contain, e.g. H100.
    #[arg(long)]
    gpu_model: Option<String>,
    /// Least memory per GPU, in MiB.
    #[arg(long, default_value_t = 0)]
    min_vram_mb: u64,
    /// A local file or directory the job reads under $GPUNET_INPUT_DIR (repeatable).
    #[arg(long = "input")]
    inputs: Vec<PathBuf>,
    /// NAME=VALUE in its environment (repeatable; public, on chain).
    #[arg(long = "env", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// Give the container a network.
    #[arg(long)]
    network: bool,
    /// The job's name (default: the program's).
    #[arg(long)]
    name: Option<String>,
    /// Most runs it gets: a run whose provider fails it or lets it time out
    /// is matched again to another machine until this many ran.
    #[arg(long, default_value_t = 1)]
    max_attempts: u32,
}

impl JobFlags {
    /// The flags' ids a FILE tells instead (`--image` may replace a file's).
    const IDS: [&'static str; 13] = [
        "max_price",
        "timeout",
        "cpu",
        "memory_mb",
        "disk_mb",
        "gpus",
        "gpu_model",
        "min_vram_mb",
        "inputs",
        "env",
        "network",
        "name",
        "max_attempts",
    ];
}

pub(crate) fn parse_env(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{text:?} is not NAME=VALUE"))
}

impl JobFlags {
    /// The job these flags and `command` tell, inputs relative to the working directory.
    fn job(self, command: Vec<String>) -> anyhow::Result<JobFile> {
        let image = self.image.context("a job needs FILE or --image")?;
        if command.is_empty() {
            bail!(
                "what should the job run? Give the command after `--`, e.g. `-- sh -c 'echo hi'`"
            );
        }
        let max_price = self
            .max_price
            .context("--max-price (GPN per hour) is required with --image")?;
        let mut job = JobFile::from_command(image, command, self.timeout, max_price, ".".into());
        if let Some(name) = self.name {
            job.name = name;
        }
        job.env = self.env.into_iter().collect();
        job.network = self.network;
        job.max_attempts = self.max_attempts;
        job.resources.cpu = self.cpu;
        job.resources.memory_mb = self.memory_mb;
        job.resources.disk_mb = self.disk_mb;
        job.resources.gpu.count = self.gpus;
        job.resources.gpu.model = self.gpu_model;
        job.resources.gpu.min_vram_mb = self.min_vram_mb;
        for input in &self.inputs {
            job.add_local_input(input)?;
        }
        Ok(job)
    }
}

// Parsed once per process: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub(crate) enum JobCmd {
    /// Submit the job described in FILE (TOML), or on the command line:
    /// --image, resources and inputs as flags, the command after `--`.
    #[command(
        after_help = "Examples:\n  gpunet job run examples/hello.toml --wait\n  gpunet job run examples/gpu.toml --follow\n  gpunet job run examples/inference/inference.toml --inputs-from 7 --wait\n  gpunet job run examples/secret.toml --secret-file .env --wait\n  gpunet job run --image gpunet/busybox --cpu 2 --input examples/data/ --max-price 50 --wait -- sh -c 'wc -w $GPUNET_INPUT_DIR/words.txt'"
    )]
    Run {
        #[arg(required_unless_present = "image", conflicts_with_all = JobFlags::IDS)]
        file: Option<PathBuf>,
        /// The command and its arguments (with --image), after `--`.
        #[arg(last = true)]
        command: Vec<String>,
        /// Wait until the job is settled and print its output.
        #[arg(long)]
        wait: bool,
        /// Print the job's stdout and stderr as it writes them, until it
        /// reports (as `job logs --follow`); with --wait, then wait on.
        #[arg(long)]
        follow: bool,
        /// Give up waiting after this long, e.g. 90s, 30m, 1h (a bare number is seconds).
        #[arg(long = "wait-for", alias = "wait-secs", default_value = "1h", value_parser = crate::rent::parse_duration)]
        wait_secs: u64,
        /// Submit nothing: show the machines that could take the job now,
        /// cheapest first, what it would cost on each and the deposit it
        /// needs (or why no machine could take it).
        #[arg(long, conflicts_with_all = ["wait", "follow"])]
        dry_run: bool,
        /// The earlier order whose result FILE's inputs read where they name
        /// a file of it (`from_output`) but not the order: chains this job
        /// to that one's outputs, which stay on the nodes.
        #[arg(long, value_name = "ORDER", requires = "file")]
        inputs_from: Option<OrderId>,
        /// A workspace one of your rentals saved (`gpunet rent end ID
        /// --save` printed its root): the job starts in /workspace with its
        /// files (its changes there are not kept: write outputs to keep).
        #[arg(long, value_name = "ROOT")]
        workspace: Option<gpunet_primitives::Hash>,
        /// Serve the local inputs from this machine (`gpunet serve` must
        /// run, until the job ran) to the job's provider, peer to peer,
        /// rather than upload them to the nodes (as `serve_inputs = true`
        /// in a job file).
        #[arg(long)]
        serve_inputs: bool,
        /// Submit N copies as a job array: each sees its index (0..N) in
        /// $GPUNET_ARRAY_INDEX and N in $GPUNET_ARRAY_SIZE, is matched on its
        /// own (spread over machines) and escrows what one job would; follow
        /// and fetch them as one with `describe`, `logs` and `get --array`.
        #[arg(long, value_name = "N", conflicts_with_all = ["follow", "dry_run"],
              value_parser = clap::value_parser!(u32).range(1..=i64::from(gpunet_types::MAX_ARRAY_SIZE)))]
        array: Option<u32>,
        #[command(flatten)]
        flags: JobFlags,
        #[command(flatten)]
        secrets: SecretFlags,
    },
    /// Seal secrets to the lease of an order of yours that waits for them
    /// (its provider declines a lease whose secrets do not come within 40
    /// s): for a run matched again, or an audit run, after the command that
    /// submitted it has gone. Returns once the current lease has them.
    #[command(
        after_help = "Examples:\n  gpunet job seal 7 --secret HF_TOKEN\n  gpunet job seal 7 --secret-file .env"
    )]
    Seal {
        id: OrderId,
        #[command(flatten)]
        secrets: SecretFlags,
    },
    /// List your orders (jobs, rentals, audit runs of your jobs), newest first.
    #[command(after_help = "Example:\n  gpunet job list --limit 20")]
    List {
        /// Show at most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Start below this order id (the next page: the last id shown).
        #[arg(long)]
        before: Option<OrderId>,
    },
    /// Show an order: status, lease, result and settlement.
    #[command(after_help = "Examples:\n  gpunet job describe 7\n  gpunet job describe 7 --array")]
    Describe {
        id: OrderId,
        /// Every member of the job array the order belongs to, one per line.
        #[arg(long)]
        array: bool,
    },
    /// Print a job's stdout and stderr: the result's (verified) once it
    /// reported, else what nodes keep of the running job's live logs
    #[command(after_help = "Examples:\n  gpunet job logs 7 --follow\n  gpunet job logs 7 --array")]
    Logs {
        id: OrderId,
        /// Keep printing what the job writes, as it writes it, until it reports
        #[arg(short, long)]
        follow: bool,
        /// The logs of every member of the job array the order belongs to,
        /// each under a header.
        #[arg(long, conflicts_with = "follow")]
        array: bool,
    },
    /// Download a job's outputs and logs into DIR (default: job-ID in this
    /// directory), verified against the output root.
    #[command(
        after_help = "Examples:\n  gpunet job get 7\n  gpunet job get 7 --out results/\n  gpunet job get 7 --array\n  gpunet job get 7 --check 'gpunet-zk verify --key keys/verifying.key --seed gpunet'"
    )]
    Get {
        id: OrderId,
        #[arg(long = "out", value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Every member of the job array the order belongs to, each into
        /// DIR/INDEX (default DIR: job-FIRST), as one result.
        #[arg(long)]
        array: bool,
        /// Then run COMMAND (with `sh -c`, here) on the fetched result, with
        /// $GPUNET_OUTPUT_DIR naming its outputs (and $GPUNET_RESULT_DIR,
        /// $GPUNET_ORDER, $GPUNET_ARRAY_INDEX): the command fails unless it
        /// exits 0, e.g. a proof's verifier (examples/zk).
        #[arg(long, value_name = "COMMAND")]
        check: Option<String>,
    },
    /// Cancel a job that is still waiting for a machine.
    #[command(after_help = "Example:\n  gpunet job cancel 7")]
    Cancel { id: OrderId },
    /// Stop a running job: its provider stops the run and is paid the time
    /// it ran; the rest of the deposit comes back; nobody is slashed; there
    /// is no result. Example: `gpunet job stop 7`.
    #[command(after_help = "Example:\n  gpunet job stop 7")]
    Stop { id: OrderId },
    /// Let another account read a job's result (outputs and logs, not its
    /// inputs) with `gpunet job get`, or stop letting it (--revoke).
    #[command(
        after_help = "Examples:\n  gpunet job share 7 $(gpunet --keystore friend.json wallet show)\n  gpunet job share 7 $(gpunet --keystore friend.json wallet show) --revoke"
    )]
    Share {
        id: OrderId,
        reader: Address,
        #[arg(long)]
        revoke: bool,
    },
    /// Print the output root of a result in DIR (as `job get` writes it):
    /// keep a canary job's known answer with it.
    #[command(after_help = "Example:\n  gpunet job root results/")]
    Root { dir: PathBuf },
    /// Dispute a job's reported result within its dispute window, naming the
    /// output root you hold right (a canary's known answer), or only the time
    /// it billed (--duration). A referee run on another provider decides; you
    /// pay for it unless the provider was wrong or padded its time.
    #[command(
        after_help = "Examples:\n  gpunet job dispute 7 --expected-root $(gpunet job root known-answer/)\n  gpunet job dispute 7 --duration"
    )]
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

/// One line per order: what it is, where it stands, what it cost its client
/// (the provider's pay and the burn).
fn list_orders(orders: &[OrderView]) -> String {
    let rows = orders.iter().map(|o| {
        let kind = match (&o.rental, o.audit_of, o.array) {
            (Some(_), _, _) => "rental".to_string(),
            (None, Some(parent), _) => format!("audit {parent}"),
            (None, None, Some(a)) => format!("array {} #{}", a.first, a.index),
            (None, None, None) => "job".to_string(),
        };
        let lease = o.lease.as_ref();
        [
            o.id.to_string(),
            o.spec.name.chars().take(20).collect::<String>(),
            kind,
            o.status.to_string(),
            lease.map_or("-".into(), |l| l.machine.to_string()),
            lease.map_or("-".into(), |l| gpn(l.price_per_hour)),
            o.settlement
                .as_ref()
                .map_or("-".into(), |st| gpn(st.paid_to_provider + st.burned)),
        ]
    });
    table(
        [
            "id",
            "name",
            "kind",
            "status",
            "machine",
            "price/hour",
            "cost",
        ],
        [true, false, false, false, true, true, true],
        rows,
    )
}

/// Who keeps a result's files, in words.
pub(crate) fn kept_by(held_by: OutputHolder) -> &'static str {
    match held_by {
        OutputHolder::Nodes => "the validators' nodes",
        OutputHolder::Provider => "its provider",
    }
}

pub(crate) fn describe(order: &OrderView) -> String {
    let mut s = format!(
        "order     {}\nname      {}\nstatus    {}\nclient    {}\ndeposit   {}\n",
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
        if order.status == OrderStatus::Preparing {
            s += &format!(
                "preparing its pushed image {} (fetched and loaded before the run starts; not \
                 billed); started by the deadline, or handed back\n",
                order.spec.image
            );
        } else if l.start_ms > l.leased_ms {
            s += &format!(
                "prepared  {:.1} s (its pushed image fetched and loaded) before the run started\n",
                (l.start_ms - l.leased_ms) as f64 / 1000.0
            );
        }
    }
    if !order.spec.secrets.is_empty() {
        let sealed = match &order.lease {
            Some(l) if l.sealed_secrets.is_some() => "sealed to its provider",
            Some(_) => "not sealed to this lease yet (`gpunet job seal`)",
            None => "sealed once it is leased",
        };
        s += &format!("secrets   {} ({sealed})\n", order.spec.secrets.join(", "));
    }
    for d in &order.declines {
        s += &format!("declined  by machine {}: {}\n", d.machine, d.reason);
    }
    for (n, a) in order.attempts.iter().enumerate() {
        s += &format!(
            "run {}     on machine {} (provider {}) {}; {} slashed\n",
            n + 1,
            a.machine,
            a.provider,
            a.failure,
            gpn(a.slashed)
        );
    }
    if order.spec.max_attempts > 1 {
        let runs = order.attempts.len() + usize::from(order.lease.is_some());
        s += &format!("runs      {runs} of at most {}\n", order.spec.max_attempts);
    }
    for reader in &order.result_readers {
        s += &format!("shared    with {reader}\n");
    }
    if let Some(r) = &order.report {
        match &r.outcome {
            JobOutcome::Completed {
                exit_code,
                output_root,
                output_bytes,
                duration_ms,
                stopped,
                held_by,
            } => {
                let kept_by = kept_by(*held_by);
                s += &format!("exit code {exit_code}\nran       {duration_ms} ms (billed {} ms)\noutputs   {output_bytes} bytes, root {output_root}, kept by {kept_by}\n", r.billable_ms);
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
            JobOutcome::Failed { reason } => s += &format!("failed    {reason}\n"),
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
        s += match order.spec.on_exit {
            OnExit::End => "on exit   the rental ends when its program exits\n",
            OnExit::Restart => "on exit   its container is started again when its program exits\n",
        };
        if order.spec.save_on_end {
            s += "on end    its workspace is saved when its time runs out or its container stops\n";
        }
        if let Some(how) = &r.stopped {
            s += &format!("stopped   {how}: the rental ended\n");
        }
    }
    if let Some(w) = &order.spec.workspace {
        s += &format!(
            "starts    with the workspace rental {} saved ({})\n",
            w.order, w.root
        );
    }
    match &order.workspace {
        None => {}
        Some(WorkspaceState::Saving { deadline_ms }) => {
            s += &format!("workspace being saved by its provider (due at {deadline_ms} ms)\n");
        }
        Some(WorkspaceState::Saved {
            root,
            bytes,
            held_by,
        }) => {
            s += &format!(
                "workspace saved: {bytes} bytes, root {root}, kept by {}\n",
                kept_by(*held_by)
            );
        }
        Some(WorkspaceState::Failed { reason }) => {
            s += &format!("workspace not saved: {reason}\n");
        }
        Some(WorkspaceState::NotReported) => {
            s += "workspace not saved: its provider reported nothing in time\n";
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
pub(crate) async fn warn_if_unmatched(node: &NodeClient, id: OrderId) {
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

/// `gpunet job run --array N`: submits the array and, with `wait_secs`,
/// waits until every member has ended, then lists them.
async fn run_array(
    ctx: &Ctx,
    wallet: &Wallet,
    job: &JobFile,
    secrets: &SecretValues,
    size: u32,
    wait_secs: Option<u64>,
) -> anyhow::Result<()> {
    let ids = submit_array(wallet, job, size).await?;
    let (first, last) = (ids[0], ids[ids.len() - 1]);
    let Some(wait_secs) = wait_secs else {
        if !secrets.is_empty() {
            seal_first_lease(ctx, wallet, &ids, secrets).await?;
        }
        ctx.output
            .print(&serde_json::json!({ "array": first, "orders": ids }), || {
                format!(
                    "submitted job array {first}: orders {first} to {last}; follow it with \
                     `gpunet job describe {first} --array`, fetch it with `gpunet job get {first} --array`"
                )
            });
        return Ok(());
    };
    let line = WaitLine::new(format!("array {first}"));
    let deadline = std::time::Instant::now() + Duration::from_secs(wait_secs);
    let members = until_interrupted(
        first,
        delivering(
            wallet,
            &ids,
            secrets,
            DeliverUntil::Closed,
            ctx.output,
            async {
                loop {
                    let members = array_members(wallet.node(), first).await?;
                    let ended = members.iter().filter(|o| is_final(o.status)).count();
                    line.state(format!("{ended} of {size} ended"));
                    if ended == members.len() {
                        return Ok(members);
                    }
                    if std::time::Instant::now() >= deadline {
                        bail!(
                    "{ended} of the {size} members of array {first} ended in {}; the rest go on: \
                     follow them with `gpunet job describe {first} --array`",
                    humantime::format_duration(Duration::from_secs(wait_secs))
                );
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
        ),
    )
    .await??;
    drop(line);
    ctx.output.print(&members, || list_orders(&members));
    Ok(())
}

/// Waits, saying so, until the first lease of each of `orders` has
/// `secrets` sealed to it (`--no-wait`: the command may go then; a later
/// lease needs `gpunet job seal`).
async fn seal_first_lease(
    ctx: &Ctx,
    wallet: &Wallet,
    orders: &[OrderId],
    secrets: &SecretValues,
) -> anyhow::Result<()> {
    let first = orders.first().copied().unwrap_or_default();
    let line = WaitLine::new(format!("order {first}"));
    line.state("waiting for a machine to seal its secrets to");
    let text = ctx.output == Output::Text;
    let sealed = deliver_secrets(wallet, orders, secrets, DeliverUntil::FirstLease, |s| {
        if text {
            line.say(&sealed_line(s));
        }
    });
    until_interrupted(first, sealed).await??;
    drop(line);
    Ok(())
}

/// Offers shown by a dry run at most.
const DRY_RUN_OFFERS: usize = 5;

/// `gpunet job run --dry-run`: what matching would make of `job` now, and
/// what it would cost; nothing is uploaded or submitted.
async fn print_dry_run(ctx: &Ctx, wallet: &Wallet, job: &JobFile) -> anyhow::Result<()> {
    let prepared = job.prepare(wallet).await?;
    let unmatched = wallet
        .node()
        .dry_run(
            &DryRun {
                spec: prepared.spec.clone(),
                max_price_per_hour: prepared.max_price_per_hour,
                rental: false,
            },
            DRY_RUN_OFFERS,
        )
        .await?;
    let offers = gpunet_client::jobs::offers(&prepared.spec, &unmatched);
    let json = serde_json::json!({
        "submitted": false,
        "machines": unmatched.machines,
        "fitting": unmatched.fitting,
        "offers": offers.iter().map(|o| serde_json::json!({
            "machine": o.machine.id,
            "price_per_hour": format_amount(o.price_per_hour),
            "max_cost": format_amount(o.max_cost),
        })).collect::<Vec<_>>(),
        "deposit": format_amount(prepared.deposit),
        "missed": unmatched.missed,
    });
    ctx.output.print(&json, || {
        let what = format!("job {:?}", job.name);
        let mut text = "dry run, nothing submitted: ".to_string();
        if offers.is_empty() {
            text += &gpunet_client::jobs::why_none_fits(
                &what,
                &prepared.spec,
                prepared.max_price_per_hour,
                &unmatched,
            );
        } else {
            text += &format!(
                "{} of {} machines could take {what} now; the cheapest:",
                unmatched.fitting, unmatched.machines
            );
            for o in &offers {
                text += &format!(
                    "\n  machine {} ({}): {}/hour, at most {} for its {} s timeout",
                    o.machine.id,
                    gpunet_client::jobs::machine_summary(&o.machine),
                    gpn(o.price_per_hour),
                    gpn(o.max_cost),
                    prepared.spec.timeout_secs
                );
            }
        }
        text + &format!(
            "\ndeposit: {} (the whole timeout at your max price, for each run it may get; \
             the rest is refunded)",
            gpn(prepared.deposit)
        )
    });
    Ok(())
}

pub(crate) async fn job(ctx: &Ctx, cmd: JobCmd) -> anyhow::Result<()> {
    match cmd {
        JobCmd::Run {
            file,
            flags,
            command,
            wait,
            follow,
            wait_secs,
            dry_run,
            inputs_from,
            workspace,
            serve_inputs,
            array,
            secrets,
        } => {
            let mut job = match file {
                Some(_) if !command.is_empty() => {
                    bail!("a command after `--` goes with --image, not with a job file")
                }
                Some(file) => {
                    let mut job = JobFile::load(&file)?;
                    if let Some(image) = flags.image {
                        job.image = image;
                    }
                    if let Some(order) = inputs_from {
                        job.set_inputs_from(order)?;
                    }
                    job
                }
                None => flags.job(command)?,
            };
            if let Some(root) = workspace {
                job.set_workspace(root);
            }
            job.serve_inputs |= serve_inputs;
            job.check_inputs()?;
            let secrets = secrets.apply(&mut job)?;
            let wallet = ctx.wallet()?;
            if dry_run {
                return print_dry_run(ctx, &wallet, &job).await;
            }
            if let Some(size) = array {
                let wait_secs = wait.then_some(wait_secs);
                return run_array(ctx, &wallet, &job, &secrets, size, wait_secs).await;
            }
            let id = submit_job(&wallet, &job).await?;
            if follow {
                eprintln!("[gpunet: submitted order {id}]");
            }
            warn_if_unmatched(wallet.node(), id).await;
            let (ids, until) = ([id], DeliverUntil::Closed);
            if follow {
                let followed = follow_job_logs(&wallet, id);
                let followed = delivering(&wallet, &ids, &secrets, until, ctx.output, followed);
                until_interrupted(id, followed).await??;
                if !wait {
                    return Ok(());
                }
            }
            if !wait {
                if !secrets.is_empty() {
                    seal_first_lease(ctx, &wallet, &[id], &secrets).await?;
                }
                ctx.output.print(&serde_json::json!({ "order": id }), || {
                    let served = if job.serve_inputs {
                        "\nits inputs are served from here: keep `gpunet serve` running until it ran"
                    } else {
                        ""
                    };
                    format!(
                        "submitted order {id}; follow it with `gpunet job describe {id}`{served}"
                    )
                });
                return Ok(());
            }
            let text = ctx.output == Output::Text;
            let line = WaitLine::new(format!("order {id}"));
            // Declines and failed runs said so far.
            let (mut declines, mut attempts) = (0, 0);
            let waited = wait_for_order(
                wallet.node(),
                id,
                Duration::from_secs(wait_secs),
                |o| is_final(o.status),
                |o| {
                    for d in o.declines.iter().skip(declines) {
                        line.say(&format!(
                            "order {id}: machine {} declined it: {}",
                            d.machine, d.reason
                        ));
                    }
                    for (n, a) in o.attempts.iter().enumerate().skip(attempts) {
                        line.say(&format!(
                            "order {id}: run {} of {} on machine {} {}; matching it again",
                            n + 1,
                            o.spec.max_attempts,
                            a.machine,
                            a.failure
                        ));
                    }
                    (declines, attempts) = (o.declines.len(), o.attempts.len());
                    if text {
                        line.say(&format!("order {id}: {}", o.status));
                    }
                    line.state(o.status);
                },
            );
            let waited = delivering(&wallet, &ids, &secrets, until, ctx.output, waited);
            let order = until_interrupted(id, waited).await??;
            drop(line);
            ctx.output.print(&order, || describe(&order));
            // Followed, its output has been printed already.
            if order.status == OrderStatus::Settled && text && !follow {
                let stdout = read_output(&wallet, &order, "logs/stdout.log").await?;
                Output::write(&format!(
                    "--- stdout ---\n{}",
                    String::from_utf8_lossy(&stdout).trim_end()
                ));
            }
        }
        JobCmd::Seal { id, secrets } => {
            let secrets = secrets.values()?;
            if secrets.is_empty() {
                bail!("which secrets? Give them with --secret NAME[=VALUE] or --secret-file FILE");
            }
            let wallet = ctx.wallet()?;
            let order = wallet.node().order(id).await?;
            if order.spec.secrets.is_empty() {
                bail!("order {id}'s spec names no secrets: there is nothing to seal");
            }
            if is_final(order.status) {
                bail!(
                    "order {id} has closed ({}): nothing runs to seal secrets to",
                    order.status
                );
            }
            seal_first_lease(ctx, &wallet, &[id], &secrets).await?;
            let order = wallet.node().order(id).await?;
            ctx.output.print(&order, || describe(&order));
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
        JobCmd::Describe { id, array: true } => {
            let members = array_members(&ctx.client()?, id).await?;
            ctx.output.print(&members, || list_orders(&members));
        }
        JobCmd::Describe { id, array: false } => {
            let client = ctx.client()?;
            let order = client.order(id).await?;
            ctx.output.print(&order, || describe(&order));
            if ctx.output == Output::Text {
                warn_if_unmatched(&client, id).await;
            }
        }
        JobCmd::Logs {
            id, array: true, ..
        } => {
            let wallet = ctx.wallet()?;
            let mut all = Vec::new();
            for member in array_members(wallet.node(), id).await? {
                let logs = current_logs(&wallet, &member).await?;
                all.push((member, logs));
            }
            let out: Vec<_> = all
                .iter()
                .map(|(member, logs)| {
                    serde_json::json!({
                        "order": member.id,
                        "index": member.array.map(|a| a.index),
                        "live": logs.live,
                        "stdout": String::from_utf8_lossy(&logs.stdout),
                        "stderr": String::from_utf8_lossy(&logs.stderr),
                    })
                })
                .collect();
            ctx.output.print(&out, || {
                all.iter()
                    .map(|(member, logs)| {
                        let index = member.array.map_or(0, |a| a.index);
                        format!(
                            "=== member {index}: order {} ({}) ===\n--- stdout ---\n{}\n--- stderr ---\n{}",
                            member.id,
                            member.status,
                            String::from_utf8_lossy(&logs.stdout).trim_end(),
                            String::from_utf8_lossy(&logs.stderr).trim_end()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        JobCmd::Logs {
            id, follow: true, ..
        } => follow_job_logs(&ctx.wallet()?, id).await?,
        JobCmd::Logs {
            id, follow: false, ..
        } => {
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
        JobCmd::Get {
            id,
            dir,
            array: true,
            check,
        } => {
            let wallet = ctx.wallet()?;
            let members = array_members(wallet.node(), id).await?;
            let first = members.first().map_or(id, |m| m.id);
            let dir = dir.unwrap_or_else(|| PathBuf::from(format!("job-{first}")));
            let mut fetched = Vec::new();
            for member in &members {
                let index = member.array.map_or(0, |a| a.index);
                let member_dir = dir.join(index.to_string());
                let manifest = fetch_outputs(&wallet, member, &member_dir)
                    .await
                    .with_context(|| format!("member {index} (order {})", member.id))?;
                // Every member is fetched before any is checked: a failed
                // check leaves the whole array on disk to look into.
                fetched.push((member.id, index, member_dir, manifest));
            }
            let mut checked = Vec::new();
            if let Some(command) = &check {
                for (order, index, member_dir, _) in &fetched {
                    checked.push(crate::check::run(
                        command,
                        *order,
                        Some(*index),
                        member_dir,
                    )?);
                }
            }
            let report: Vec<_> = fetched
                .iter()
                .enumerate()
                .map(|(at, (order, index, _, manifest))| {
                    serde_json::json!({
                        "order": order,
                        "index": index,
                        "root": manifest.root(),
                        "files": manifest.files.len(),
                        "check": checked.get(at),
                    })
                })
                .collect();
            ctx.output.print(&report, || {
                let checked = match &check {
                    Some(command) => format!("; each passed `{command}`"),
                    None => String::new(),
                };
                format!(
                    "verified the results of {} members of array {first} into {}/INDEX{checked}",
                    members.len(),
                    dir.display()
                )
            });
        }
        JobCmd::Get {
            id,
            dir,
            array: false,
            check,
        } => {
            // Its own directory: a job's files never land among the user's.
            let dir = dir.unwrap_or_else(|| PathBuf::from(format!("job-{id}")));
            let order = ctx.client()?.order(id).await?;
            let manifest = fetch_outputs(&ctx.wallet()?, &order, &dir).await?;
            let checked = check
                .as_deref()
                .map(|command| crate::check::run(command, id, None, &dir))
                .transpose()?;
            let report = serde_json::json!({
                "root": manifest.root(),
                "files": &manifest.files,
                "check": &checked,
            });
            ctx.output.print(&report, || {
                let mut s = String::new();
                for f in &manifest.files {
                    s += &format!(
                        "{:>10}  {}  {}\n",
                        f.size,
                        f.hash,
                        dir.join(&f.path).display()
                    );
                }
                let from = match order.report.as_ref().and_then(|r| r.files_held_by()) {
                    Some(OutputHolder::Provider) => "from its provider's peer",
                    _ => "from the nodes",
                };
                s += &format!(
                    "verified {} files ({from}) against output root {}",
                    manifest.files.len(),
                    manifest.root()
                );
                if let Some(passed) = &checked {
                    s += &format!("\nthe result passed `{}`", passed.command);
                    let said = passed.output.trim_end();
                    if !said.is_empty() {
                        s += &format!(":\n{said}");
                    }
                }
                s
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
                gpunet_types::Event::JobStopped {
                    paid,
                    burned,
                    refunded,
                    ..
                } => Some((*paid + *burned, *refunded)),
                _ => None,
            });
            ctx.output.print(&included, || match stopped {
                Some((paid, refunded)) => format!(
                    "stopped order {id}: {} paid for the time it ran, {} refunded",
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
    let ended = match order.report.as_ref().map(|r| &r.outcome) {
        Some(JobOutcome::Completed { exit_code, .. }) => format!(", exit code {exit_code}"),
        Some(JobOutcome::Failed { reason }) => format!(", it failed: {reason}"),
        None => String::new(),
    };
    eprintln!("[gpunet: order {id} is {}{ended}]", order.status);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::JobFlags;
    use clap::Args as _;

    /// A job file conflicts with every job flag but `--image` (which
    /// replaces the file's), listed by hand in `IDS`.
    #[test]
    fn every_job_flag_but_the_image_conflicts_with_a_job_file() {
        let command = JobFlags::augment_args(clap::Command::new("run"));
        let mut ids: Vec<&str> = command
            .get_arguments()
            .map(|a| a.get_id().as_str())
            .filter(|id| *id != "image")
            .collect();
        let mut listed = JobFlags::IDS.to_vec();
        ids.sort();
        listed.sort();
        assert_eq!(ids, listed);
    }
}
