//! What runs of a job are compared by, for audits (`exec::audits`),
//! disputes (`exec::disputes`) and duration checks (`exec::durations`); on
//! its own so that none of them imports another to get it.

use crate::order::{JobPhase, Order};
use gpunet_primitives::{Hash, JobOutcome, Stop};
use gpunet_types::AuditVerdict;

/// What runs of a job are compared by: the output root of a run that ended
/// by itself, the limit of one stopped at a limit. A stopped run's outputs
/// are partial and depend on when it was stopped (a slower machine times out
/// earlier in the job), so two honest runs stopped at the same limit agree
/// whatever they wrote, and one stopped at a limit disagrees with one that
/// finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    Output(Hash),
    Stopped(Stop),
}

/// `order`'s answer, once it reported a completed run and awaits the audit.
pub(crate) fn answer(order: &Order) -> Option<Answer> {
    let Some(JobPhase::Auditing { report, .. }) = order.job_phase() else {
        return None;
    };
    match &report.outcome {
        JobOutcome::Completed {
            output_root,
            stopped,
            ..
        } => Some(match stopped {
            Some(stop) => Answer::Stopped(*stop),
            None => Answer::Output(*output_root),
        }),
        JobOutcome::Failed { .. } => None,
    }
}

/// The verdict on a dispute from the answers of the provider and the
/// referee (if one answered) and the root the client expects.
pub(crate) fn dispute_verdict(
    provider: Answer,
    client: Hash,
    referee: Option<Answer>,
) -> AuditVerdict {
    // The provider's answer first: a duration dispute names it as the client's.
    match referee {
        Some(r) if r == provider => AuditVerdict::DisputeRejected,
        Some(r) if r == Answer::Output(client) => AuditVerdict::ProviderWrong,
        _ => AuditVerdict::Inconclusive,
    }
}
