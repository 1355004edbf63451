//! Duration checks. Jobs are billed by the time their provider reports, so a
//! provider could run a job honestly and then bill up to its timeout. Runs of
//! one job that reach the same answer did the same work, though: when an
//! audit or a dispute concludes, every run it pays is checked against the
//! runs that agree with it.
//!
//! - A run's bound is the longest agreeing run's billed time, scaled up by
//!   how much faster that run's machine proved to be (compute scores, where
//!   they measure what the job runs on; a run is never assumed faster than
//!   the one it is checked against), times `duration_tolerance_bps`, plus
//!   `duration_slack_ms`.
//! - A run billing more than its bound is padded: it is billed its bound, and
//!   its provider is slashed `slash_audit` (an audited provider's slash first
//!   repays its client the runs that checked the job).
//!
//! Padding within the tolerance goes unseen, and so does padding of jobs that
//! are never re-run. Clients close the latter with duration disputes: a
//! dispute naming the reported root itself asks a referee to re-run the job
//! only to check its time (`exec::disputes`), which is how canary issuers,
//! who know how long their job takes, catch padding of any job.

use super::audits::Answer;
use crate::genesis::Params;

/// What a duration check knows of one run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RunTime {
    pub billed_ms: u64,
    /// Its machine's compute score where it measures what the job runs on
    /// (GPUs for a GPU job, CPUs for a CPU job on a machine without GPUs);
    /// 0 otherwise or when unproven.
    pub gops: u64,
    pub answer: Answer,
}

/// For each of `runs` (of one job), the time it may bill if it billed more:
/// `Some(bound)` marks a padded run.
pub(crate) fn padded(params: &Params, runs: &[RunTime]) -> Vec<Option<u64>> {
    runs.iter()
        .enumerate()
        .map(|(i, run)| {
            let bound = runs
                .iter()
                .enumerate()
                .filter(|(j, other)| *j != i && other.answer == run.answer)
                .map(|(_, other)| bound(params, run, other))
                .max()?;
            (run.billed_ms > bound).then_some(bound)
        })
        .collect()
}

/// The most `run` may bill given `other`, an agreeing run.
fn bound(params: &Params, run: &RunTime, other: &RunTime) -> u64 {
    let mut scaled = u128::from(other.billed_ms);
    if run.gops > 0 && other.gops > run.gops {
        scaled = scaled * u128::from(other.gops) / u128::from(run.gops);
    }
    params.duration_bound(u64::try_from(scaled).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpunet_primitives::Hash;

    fn run(billed_min: u64, gops: u64, answer: u8) -> RunTime {
        RunTime {
            billed_ms: billed_min * 60_000,
            gops,
            answer: Answer::Output(Hash([answer; 32])),
        }
    }

    #[test]
    fn a_run_far_longer_than_an_agreeing_one_is_padded_to_its_bound() {
        let p = Params::default();
        // 2x the other run plus a minute.
        let bound = 2 * 10 * 60_000 + 60_000;
        assert_eq!(
            padded(&p, &[run(30, 100, 1), run(10, 100, 1)]),
            vec![Some(bound), None]
        );
        assert_eq!(
            padded(&p, &[run(21, 100, 1), run(10, 100, 1)]),
            vec![None, None],
            "within the tolerance"
        );
    }

    #[test]
    fn only_agreeing_runs_bound_a_run_and_the_most_generous_one_counts() {
        let p = Params::default();
        assert_eq!(
            padded(&p, &[run(30, 100, 1), run(1, 100, 2)]),
            vec![None, None],
            "a different answer says nothing about the time"
        );
        assert_eq!(
            padded(&p, &[run(30, 100, 1), run(1, 100, 1)]),
            vec![Some(3 * 60_000), None]
        );
        assert_eq!(
            padded(&p, &[run(30, 100, 1), run(1, 100, 1), run(15, 100, 1)]),
            vec![None, None, None],
            "one agreeing run as slow clears a run"
        );
    }

    #[test]
    fn times_scale_by_how_much_faster_the_other_machine_proved() {
        let p = Params::default();
        // The other machine is 4x faster: 10 minutes there are 40 here.
        assert_eq!(
            padded(&p, &[run(60, 100, 1), run(10, 400, 1)]),
            vec![None, None]
        );
        assert_eq!(
            padded(&p, &[run(60, 0, 1), run(10, 400, 1)]),
            vec![Some(21 * 60_000), None],
            "without a score for what the job runs on, times count as they are"
        );
        assert_eq!(
            padded(&p, &[run(90, 100, 1), run(10, 400, 1)]),
            vec![Some(81 * 60_000), None]
        );
        // Never assumed faster than the other: a slower auditor's time counts as is.
        assert_eq!(
            padded(&p, &[run(10, 400, 1), run(30, 100, 1)]),
            vec![None, None]
        );
    }
}
