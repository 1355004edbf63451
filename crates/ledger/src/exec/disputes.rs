//! Client disputes: within a result's dispute window its client may name the
//! output root it holds right and pay for a referee run. This is what makes
//! canary jobs (jobs whose answer the client knows) bite: a provider that
//! skips or fakes work on a job it cannot tell from others is caught whether
//! or not the job is deterministic, because the client named the answer
//! before the referee ran.
//!
//! The referee is an audit run (`exec::audits`): another provider's machine,
//! drawn at random, paid from the client's dispute deposit. Its root decides
//! (`dispute_verdict`, by the answers of `exec::audits`: a run stopped at a
//! limit answers by that limit): the client's root → `ProviderWrong` (slashed
//! `slash_audit`, unpaid, client refunded and repaid the referee out of the
//! slash); the provider's →
//! `DisputeRejected` (provider paid; the dispute cost the client the
//! referee's pay, which is what stops disputes from griefing honest
//! providers); neither, or no referee finished → `Inconclusive`, provider paid.
//!
//! A dispute naming the reported root itself disputes only the time billed:
//! the referee re-runs the job so that the duration check
//! (`exec::durations`) has an agreeing run to hold the provider's time
//! against. A padded provider is slashed and billed the bound, and repays the
//! referee (`ProviderPadded`); otherwise the verdict is `DisputeRejected` and
//! the client paid for the referee, as for any dispute.

use super::audits::start_audit_run;
use super::bank::debit;
use super::records::clients_order;
use super::settle_queue::settle_key;
use super::Exec;
use crate::error::{Covers, TxError, Wanted};
use gpunet_primitives::{Address, Amount, Hash, JobOutcome, OrderId};
use gpunet_types::pricing::CheckedAmount;
use gpunet_types::{run_cost, OrderStatus};

pub(crate) fn dispute_result(
    ex: &mut Exec<'_>,
    client: Address,
    id: OrderId,
    expected_root: Hash,
    deposit: Amount,
) -> Result<(), TxError> {
    let mut order = clients_order(ex, client, id)?;
    if order.audit_of().is_some() {
        return Err(TxError::AuditRun {
            order: id,
            refused: "dispute the order it re-runs",
        });
    }
    if !order.audit_runs().is_empty() {
        return Err(TxError::AlreadyAudited(id));
    }
    if order.status() != OrderStatus::Reported {
        return Err(TxError::WrongStatus {
            order: id,
            status: order.status(),
            wanted: Wanted::Disputable,
        });
    }
    let Some(JobOutcome::Completed {
        output_root,
        stopped,
        ..
    }) = order.report().map(|r| &r.outcome)
    else {
        return Err(TxError::NoOutput(id));
    };
    if let (true, Some(stop)) = (*output_root == expected_root, stopped) {
        return Err(TxError::StoppedAtLimit {
            order: id,
            limit: *stop,
        });
    }
    let need = run_cost(order.max_price_per_hour, &order.spec)?;
    if deposit < need {
        return Err(TxError::DepositTooSmall {
            deposit,
            need,
            covers: Covers::Referee,
        });
    }
    debit(ex, client, deposit)?;
    order.escrow = order.escrow.add_or(deposit)?;
    ex.state.settle_queue.remove(&settle_key(ex, &order));
    order.checks_mut()?.disputed_root = Some(expected_root);
    start_audit_run(ex, &mut order)?;
    ex.state.orders.insert(id, Box::new(order));
    Ok(())
}
