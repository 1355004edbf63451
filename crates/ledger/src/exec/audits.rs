//! Job verification tiers: a reported job whose spec asks for audits
//! (`audit_bps`) may be re-run by a random staked auditor before it is paid.
//!
//! - The draw happens when the dispute window ends, from that block's parent
//!   hash: the provider could not know it when it reported.
//! - An audit run is an order of its own (`OrderKind::AuditRun`), paid from the audited
//!   order's escrow and leased to a machine of another provider, uniformly at
//!   random among the feasible ones.
//! - Runs are compared by their answers (`exec::answers`): the output root, or for a run
//!   stopped at a limit (timeout, memory, disk) that limit, since its
//!   partial outputs depend on when it was stopped.
//! - Same answer: everyone is paid. Different, for a deterministic job
//!   (image pinned by digest, no network): a tie-break run; the party the two
//!   others agree against is slashed `slash_audit` and not paid (a provider
//!   found wrong also repays the client the runs that caught it, out of the
//!   slashed stake; only the rest is burned). Different for
//!   a non-deterministic job: nobody is slashed, everyone is paid.
//! - Every run paid is billed no more than the runs that agree with it allow
//!   (`exec::durations`): a run that padded its time is slashed.

use super::answers::dispute_verdict;
use super::answers::{answer, Answer};
use super::durations::{self, run_speed, RunTime};
use super::emit;
use super::orders::run_pay;
use super::orders::{close_with_refund, queue_order};
use super::records::order;
use super::settle_queue::queue_settlement;
use super::staking::{slash, slash_paying};
use super::{draw, Exec};
use crate::error::TxError;
use crate::order::{JobPhase, Order, OrderKind};
use gpunet_primitives::{hash_of, Address, Amount, OrderId};
use gpunet_types::pricing::MAX_AUDIT_RUNS;
use gpunet_types::{run_cost, AuditVerdict, Event, OrderStatus};

/// Whether `order`, at the end of its dispute window, is drawn for an audit.
pub(crate) fn draws_audit(ex: &Exec<'_>, order: &Order) -> bool {
    let unaudited_job = order.checks().is_some_and(|c| c.audit_runs.is_empty());
    if order.spec.audit_bps == 0 || !unaudited_job {
        return false;
    }
    let draw = draw(hash_of(&(b"gpunet-audit", ex.parent, order.id)));
    draw % 10_000 < u64::from(order.spec.audit_bps)
}

/// Starts one more audit run of `order`, funded from its escrow, and holds
/// the order (status `Auditing`). The caller stores `order`.
pub(crate) fn start_audit_run(ex: &mut Exec<'_>, order: &mut Order) -> Result<(), TxError> {
    let amount = run_cost(order.max_price_per_hour, &order.spec)?;
    // Submission required a deposit covering every possible run.
    order.escrow = order.escrow.checked_sub(amount).ok_or(TxError::Overflow)?;
    order.hold(true)?;
    let id = queue_order(
        ex,
        order.client,
        order.spec.clone(),
        order.max_price_per_hour,
        amount,
        OrderKind::AuditRun {
            of: order.id,
            phase: JobPhase::Pending,
        },
    );
    order.checks_mut()?.audit_runs.push(id);
    emit(
        ex,
        Event::AuditStarted {
            order: order.id,
            run: id,
            client: order.client,
            provider: order.lease().map_or(order.client, |l| l.provider),
        },
    );
    Ok(())
}

/// Providers an audit run of `order` must not go to: the audited provider,
/// those of its earlier runs, and its client (who may dispute the result).
pub(crate) fn audit_exclusions(ex: &Exec<'_>, run: &Order) -> Vec<Address> {
    let Some(parent) = run.audit_of().and_then(|p| ex.state.orders.get(&p)) else {
        return Vec::new();
    };
    std::iter::once(parent)
        .chain(
            parent
                .audit_runs()
                .iter()
                .filter_map(|r| ex.state.orders.get(r)),
        )
        .filter_map(|o| o.lease().map(|l| l.provider))
        .chain([parent.client])
        .collect()
}

/// Decides the audited order once none of its runs is still pending or
/// running; starts a tie-break run when a deterministic job's audit disagrees.
pub(crate) fn advance_audit(ex: &mut Exec<'_>, parent_id: OrderId) -> Result<(), TxError> {
    let mut parent = order(ex, parent_id)?;
    let runs: Vec<Order> = parent
        .audit_runs()
        .iter()
        .map(|id| order(ex, *id))
        .collect::<Result<_, _>>()?;
    if runs
        .iter()
        .any(|r| matches!(r.status(), OrderStatus::Pending | OrderStatus::Running))
    {
        return Ok(());
    }
    let Some(provider_answer) = answer(&parent) else {
        return Ok(());
    };
    let answered: Vec<(&Order, Answer)> = runs
        .iter()
        .filter_map(|r| answer(r).map(|a| (r, a)))
        .collect();
    if let Some(expected) = parent.checks().and_then(|c| c.disputed_root) {
        let referee = answered.first().map(|(_, a)| *a);
        let verdict = dispute_verdict(provider_answer, expected, referee);
        return conclude_audit(
            ex,
            parent,
            answered.iter().map(|(r, _)| r.id).collect(),
            verdict,
        );
    }
    let answers: Vec<Answer> = std::iter::once(provider_answer)
        .chain(answered.iter().map(|(_, a)| *a))
        .collect();
    let majority = answers
        .iter()
        .find(|a| answers.iter().filter(|x| x == a).count() * 2 > answers.len());
    let verdict = if answered.is_empty() {
        AuditVerdict::Inconclusive
    } else if answers.iter().all(|a| *a == provider_answer) {
        AuditVerdict::Agreed
    } else if !parent.spec.is_deterministic() {
        AuditVerdict::NonDeterministicMismatch
    } else if answers.len() == 2 && (parent.audit_runs().len() as u128) < MAX_AUDIT_RUNS {
        start_audit_run(ex, &mut parent)?;
        ex.state.orders.insert(parent.id, Box::new(parent));
        return Ok(());
    } else {
        match majority {
            Some(m) if *m != provider_answer => AuditVerdict::ProviderWrong,
            Some(m) => {
                // Not all agree, and the provider is with the majority:
                // an answered run is not.
                let loser = answered.iter().find(|(_, a)| a != m);
                match loser.and_then(|(run, _)| run.lease()) {
                    Some(lease) => AuditVerdict::AuditorWrong {
                        auditor: lease.provider,
                    },
                    None => AuditVerdict::Inconclusive,
                }
            }
            None => AuditVerdict::Inconclusive,
        }
    };
    conclude_audit(
        ex,
        parent,
        answered.iter().map(|(r, _)| r.id).collect(),
        verdict,
    )
}

/// Bills each run `verdict` pays (the audited order's and its audit
/// runs') no more than the runs agreeing with it allow, marking and
/// announcing the padded ones.
fn cap_padded(ex: &mut Exec<'_>, parent: &mut Order, runs: &mut [Order], verdict: &AuditVerdict) {
    let provider_paid = *verdict != AuditVerdict::ProviderWrong;
    let paid = provider_paid
        .then_some(parent)
        .into_iter()
        .chain(runs.iter_mut().filter(|run| {
            !matches!(verdict, AuditVerdict::AuditorWrong { auditor }
                if run.lease().is_some_and(|l| l.provider == *auditor))
        }));
    let (orders, times): (Vec<&mut Order>, Vec<RunTime>) = paid
        .filter_map(|order| {
            let time = run_time(ex, order)?;
            Some((order, time))
        })
        .unzip();
    let bounds = durations::padded(&ex.state.params, &times);
    for (order, bound) in orders.into_iter().zip(bounds) {
        let (Some(bound), Some(provider)) = (bound, order.lease().map(|l| l.provider)) else {
            continue;
        };
        let Some(report) = order.report_mut() else {
            continue;
        };
        let claimed_ms = report.billable_ms;
        report.billable_ms = bound;
        report.padded = Some(0);
        emit(
            ex,
            Event::RunPadded {
                order: order.id,
                client: order.client,
                provider,
                claimed_ms,
                bound_ms: bound,
            },
        );
    }
}

/// Slashes `order`'s provider if its run was found padded, first paying
/// `compensation` out of the slash, and records what was taken.
fn slash_padded(
    ex: &mut Exec<'_>,
    order: &mut Order,
    compensation: Option<(Address, Amount)>,
) -> Result<(), TxError> {
    let (Some(provider), id) = (order.lease().map(|l| l.provider), order.id) else {
        return Ok(());
    };
    let Some(report) = order.report_mut().filter(|r| r.padded.is_some()) else {
        return Ok(());
    };
    let why = format!("padded the time billed for order {id} (far over an agreeing run's)");
    let slash = ex.state.params.slash_audit;
    report.padded = Some(slash_paying(ex, provider, slash, &why, compensation)?);
    Ok(())
}

/// What a duration check compares of `order`'s run.
fn run_time(ex: &Exec<'_>, order: &Order) -> Option<RunTime> {
    let lease = order.lease()?;
    let gpu_job = order.spec.resources.gpu.count > 0;
    let speed = ex
        .state
        .machines
        .get(&lease.machine)
        .map_or(0, |m| run_speed(m, gpu_job));
    Some(RunTime {
        billed_ms: order.report()?.billable_ms,
        speed,
        answer: answer(order)?,
    })
}

/// A lease counted as completed at its report turned out wrong: its
/// machine's reliability says so.
fn count_as_failed(ex: &mut Exec<'_>, order: &Order) {
    let Some(lease) = order.lease() else { return };
    if let Some(mut machine) = ex.state.machines.get(&lease.machine).cloned() {
        machine.completed = machine.completed.saturating_sub(1);
        machine.failed += 1;
        ex.state.put_machine(machine);
    }
}

/// Applies a verdict: the party it contradicts is slashed and refunded
/// nothing of its pay; everyone else is queued for settlement, billed no
/// more than the runs agreeing with it allow (a padded run's provider is
/// slashed too, see `exec::durations`).
fn conclude_audit(
    ex: &mut Exec<'_>,
    mut parent: Order,
    answered: Vec<OrderId>,
    verdict: AuditVerdict,
) -> Result<(), TxError> {
    let penalty = ex.state.params.slash_audit;
    let Some(provider) = parent.lease().map(|l| l.provider) else {
        return Err(TxError::WrongPhase {
            order: parent.id,
            status: parent.status(),
            change: "audited without a lease",
        });
    };
    let mut runs: Vec<Order> = answered
        .iter()
        .map(|id| order(ex, *id))
        .collect::<Result<_, _>>()?;
    cap_padded(ex, &mut parent, &mut runs, &verdict);
    // An output that stands is not the whole story when its time was
    // padded: the verdict names what happened to the provider.
    let padded = parent.report().is_some_and(|r| r.padded.is_some());
    let verdict = match verdict {
        AuditVerdict::Agreed | AuditVerdict::DisputeRejected if padded => {
            AuditVerdict::ProviderPadded
        }
        verdict => verdict,
    };
    // What the client pays for the runs that checked the job.
    let mut runs_cost: Amount = 0;
    // Answered runs are audited ones, so each has a lease and a report.
    for run in &runs {
        let (Some(lease), Some(report)) = (run.lease(), run.report()) else {
            continue;
        };
        let cost = run_pay(
            &ex.state.params,
            run,
            lease.price_per_hour,
            report.billable_ms,
        )?;
        runs_cost = runs_cost.saturating_add(cost);
    }
    for mut run in runs {
        let Some(auditor) = run.lease().map(|l| l.provider) else {
            continue;
        };
        if verdict == (AuditVerdict::AuditorWrong { auditor }) {
            count_as_failed(ex, &run);
            let slashed = slash(ex, auditor, penalty, "audit run contradicted by two others")?;
            close_with_refund(ex, run, OrderStatus::Failed, slashed)?;
        } else {
            slash_padded(ex, &mut run, None)?;
            queue_settlement(ex, run)?;
        }
    }
    let checks = parent.checks_mut()?;
    checks.verdict = Some(verdict.clone());
    let disputed = checks.disputed_root.is_some();
    let (order, client) = (parent.id, parent.client);
    if verdict == AuditVerdict::ProviderWrong {
        count_as_failed(ex, &parent);
        let why = if disputed {
            "job output contradicted by its client's dispute and a referee run"
        } else {
            "job output contradicted by two audits"
        };
        // The cheat pays for the runs that caught it, out of its stake.
        let compensation = Some((client, runs_cost));
        let slashed = slash_paying(ex, provider, penalty, why, compensation)?;
        close_with_refund(ex, parent, OrderStatus::Failed, slashed)?;
    } else {
        slash_padded(ex, &mut parent, Some((client, runs_cost)))?;
        queue_settlement(ex, parent)?;
    }
    emit(
        ex,
        Event::AuditConcluded {
            order,
            client,
            provider,
            verdict,
        },
    );
    Ok(())
}
