//! Canary jobs from their issuer's side. A canary is an ordinary job whose
//! answer its client knows: here the client learns it by running the same job
//! on a machine it trusts, laid out exactly as a provider lays it out
//! ([`crate::run`]), while the provider works. If the provider reports another
//! output root, the client disputes it (`DisputeResult`) and a referee run on
//! a third machine decides; a provider that skips or fakes work it cannot
//! tell from canaries is slashed. The client also knows how long the job
//! takes: a right output billed far longer than that (more than the ledger's
//! duration bound allows over the client's own run) is disputed for its time.

use crate::executor::{ExecError, Executor};
use crate::run::{CollectError, LayoutError};
use gpunet_client::jobs::{dispute_duration, dispute_result};
use gpunet_client::{ClientError, Wallet};
use gpunet_primitives::{Hash, JobOutcome};
use gpunet_types::{OrderStatus, OrderView, Report};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

/// What a canary check found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CanaryVerdict {
    /// The provider reported the known answer.
    Honest,
    /// It reported another root: disputed.
    Disputed {
        /// The root it reported.
        reported: Hash,
    },
    /// It reported the known answer, billed far longer than the job took
    /// here: its time is disputed.
    DisputedTime {
        /// The time it billed.
        billed_ms: u64,
        /// The most a dispute lets it bill, from the time here.
        allowed_ms: u64,
    },
    /// No result to compare (the order ended otherwise).
    NoResult {
        /// How the order ended.
        status: OrderStatus,
    },
}

/// What an honest run of a canary gives: its output root, and how long it
/// took on the client's machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct KnownAnswer {
    /// The root of its outputs.
    pub root: Hash,
    /// How long it ran here.
    pub duration_ms: u64,
}

/// Why a canary's answer could not be known here.
#[derive(Debug, thiserror::Error)]
pub enum CanaryError {
    /// Its run could not be laid out (an input, a directory).
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// Stopped at a limit: its outputs are partial, so there is no answer.
    #[error(
        "the canary was stopped at its {limit} limit here, so it has no known answer: \
         give it a longer timeout or more resources"
    )]
    Stopped {
        /// Which limit: timeout, memory or disk.
        limit: &'static str,
    },
    /// Its outputs could not be collected.
    #[error(transparent)]
    Collect(CollectError),
    /// The executor could not run it.
    #[error("the canary could not run here: {0}")]
    Run(ExecError),
}

/// Runs `order` here with `executor` under `work_dir` and returns the answer
/// an honest provider reports for it. The run's files are removed after.
/// A run stopped at a limit has no known answer (its outputs are partial,
/// and a referee compares stopped runs by their limit): that is an error.
pub async fn known_answer(
    wallet: &Wallet,
    executor: &dyn Executor,
    order: &OrderView,
    work_dir: &Path,
) -> Result<KnownAnswer, CanaryError> {
    let dir = work_dir.join(format!("canary-{}", order.id));
    let name = crate::run::run_name("canary", work_dir, order.id);
    let timeout = Duration::from_secs(order.spec.timeout_secs);
    let run = crate::run::lay_out(wallet, order, None, name, &dir, timeout).await?;
    let root = match executor.run(&run, Box::new(|_| {})).await {
        Ok(result) => match result.stopped {
            Some(stop) => Err(CanaryError::Stopped { limit: stop.name() }),
            None => crate::run::collect(&run, &result)
                .map(|(manifest, _)| KnownAnswer {
                    root: manifest.root(),
                    duration_ms: result.duration_ms,
                })
                .map_err(CanaryError::Collect),
        },
        Err(e) => Err(CanaryError::Run(e)),
    };
    let _ = std::fs::remove_dir_all(&dir);
    root
}

/// Compares the result reported for order `id` with the `known` answer:
/// disputes another root, or the time of the right one billed past what the
/// ledger allows next to the known run's time.
pub async fn check(
    wallet: &Wallet,
    id: gpunet_primitives::OrderId,
    known: KnownAnswer,
) -> Result<CanaryVerdict, ClientError> {
    let order = wallet.node().order(id).await?;
    let (reported, billed_ms) = match order.report.as_ref() {
        Some(Report {
            outcome: JobOutcome::Completed { output_root, .. },
            billable_ms,
            ..
        }) => (*output_root, *billable_ms),
        _ => {
            return Ok(CanaryVerdict::NoResult {
                status: order.status,
            })
        }
    };
    if reported != known.root {
        dispute_result(wallet, id, known.root).await?;
        return Ok(CanaryVerdict::Disputed { reported });
    }
    let params = wallet.node().status().await?.params;
    let allowed_ms = params.duration_bound(known.duration_ms);
    if billed_ms <= allowed_ms {
        return Ok(CanaryVerdict::Honest);
    }
    dispute_duration(wallet, id).await?;
    Ok(CanaryVerdict::DisputedTime {
        billed_ms,
        allowed_ms,
    })
}
