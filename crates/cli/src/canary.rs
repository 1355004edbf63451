//! `gpunet canary`: submit a job as a canary, learn its answer and time by
//! running it here, and dispute the provider's result if it differs, or its
//! time if padded.

use crate::ctx::Ctx;
use crate::job::describe;
use anyhow::{bail, Context};
use clap::Args;
use gpunet_client::jobfile::JobFile;
use gpunet_client::jobs::{is_final, submit_job, wait_for_order};
use gpunet_provider::canary::{check, known_answer, CanaryVerdict};
use gpunet_provider::executor::ExecutorKind;
use gpunet_types::OrderStatus;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub(crate) struct CanaryArgs {
    /// The job (TOML job file). Its outputs must depend only on its spec and
    /// inputs, so this machine's run gives the answer an honest provider gives.
    file: PathBuf,
    /// How this machine runs the job to learn its answer: "docker" or "process".
    #[arg(long, default_value = "docker")]
    executor: ExecutorKind,
    /// Where the local run keeps its files while it runs.
    #[arg(long, default_value = ".gpunet/canary")]
    work_dir: PathBuf,
    /// Give up waiting after this long, e.g. 90s, 30m, 1h (a bare number is seconds).
    #[arg(long = "wait-for", alias = "wait-secs", default_value = "1h", value_parser = crate::rent::parse_duration)]
    wait_secs: u64,
}

pub(crate) async fn run(ctx: &Ctx, args: CanaryArgs) -> anyhow::Result<()> {
    let job = JobFile::load(&args.file)?;
    let wallet = ctx.wallet()?;
    let executor = args
        .executor
        .connect()
        .await
        .context("the canary runs the job here to know its answer")?;
    std::fs::create_dir_all(&args.work_dir)
        .with_context(|| format!("cannot create {}", args.work_dir.display()))?;
    let id = submit_job(&wallet, &job).await?;
    let order = wallet.node().order(id).await?;
    // The provider works meanwhile; the answer must be known before its
    // result's dispute window closes.
    let expected = known_answer(&wallet, executor.as_ref(), &order, &args.work_dir)
        .await
        .map_err(anyhow::Error::msg)?;
    let wait = Duration::from_secs(args.wait_secs);
    let reported =
        |o: &gpunet_types::OrderView| o.status != OrderStatus::Pending && !o.status.is_leased();
    wait_for_order(wallet.node(), id, wait, reported, |_| {}).await?;
    let verdict = check(&wallet, id, expected).await?;
    let order = match verdict {
        CanaryVerdict::Disputed { .. } | CanaryVerdict::DisputedTime { .. } => {
            wait_for_order(wallet.node(), id, wait, |o| is_final(o.status), |_| {}).await?
        }
        _ => wallet.node().order(id).await?,
    };
    let out = serde_json::json!({
        "order": id,
        "expected_root": expected.root,
        "expected_duration_ms": expected.duration_ms,
        "verdict": verdict,
        "status": order.status,
        "audit_verdict": order.audit_verdict,
    });
    ctx.output.print(&out, || {
        let found = match &verdict {
            CanaryVerdict::Honest => "the provider reported the known answer".to_string(),
            CanaryVerdict::Disputed { reported } => {
                format!(
                    "the provider reported {reported}, not {}: disputed",
                    expected.root
                )
            }
            CanaryVerdict::DisputedTime {
                billed_ms,
                allowed_ms,
            } => format!(
                "the provider reported the known answer but billed {billed_ms} ms, over the \
                 {allowed_ms} ms a run taking {} ms here allows: its time is disputed",
                expected.duration_ms
            ),
            CanaryVerdict::NoResult { status } => format!("no result to check ({status:?})"),
        };
        format!("canary order {id}: {found}\n{}", describe(&order))
    });
    if let CanaryVerdict::NoResult { status } = verdict {
        bail!("canary order {id} ended {status:?} without a result");
    }
    Ok(())
}
