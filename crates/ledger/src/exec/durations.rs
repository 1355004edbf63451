//! Duration checks. Jobs are billed by the time their provider reports, so a
//! provider could run a job honestly and then bill up to its timeout. Runs of
//! one job that reach the same answer did the same work, though: when an
//! audit or a dispute concludes, every run it pays is checked against the
//! runs that agree with it.
//!
//! - A run's bound is the longest agreeing run's billed time, scaled up by
//!   how much faster that run's machine proved to be at what the job runs on
//!   (GPU compute scores for GPU jobs, CPU throughput per core for CPU jobs;
//!   a run is never assumed faster than the one it is checked against), times
//!   `duration_tolerance_bps`, plus `duration_slack_ms`.
//! - A run billing more than its bound is padded: it is billed its bound, and
//!   its provider is slashed `slash_audit` (an audited provider's slash first
//!   repays its client the runs that checked the job).
//!
//! Padding within the tolerance goes unseen, and so does padding of jobs that
//! are never re-run. Clients close the latter with duration disputes: a
//! dispute naming the reported root itself asks a referee to re-run the job
//! only to check its time (`exec::disputes`), which is how canary issuers,
//! who know how long their job takes, catch padding of any job.

use super::answers::Answer;
use gpunet_types::{Machine, Params};

/// What a duration check knows of one run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RunTime {
    pub billed_ms: u64,
    /// How fast its machine proved at what the job runs on: its GPU compute
    /// score for a GPU job, its CPU throughput per core for a CPU job; 0 when
    /// unproven. Only ratios of speeds of one job's runs are used.
    pub speed: u64,
    pub answer: Answer,
}

/// How fast `machine` proved at what a job runs on: a GPU job as fast as its
/// GPUs (its compute score; 0 without GPUs), a CPU job as fast as each of
/// the cores it was given (its CPU throughput per core).
pub(crate) fn run_speed(machine: &Machine, gpu_job: bool) -> u64 {
    match (gpu_job, &machine.spec.gpu) {
        (false, _) => machine.cpu_kops_per_core(),
        (true, Some(_)) => machine.compute_gops,
        (true, None) => 0,
    }
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
    if run.speed > 0 && other.speed > run.speed {
        scaled = scaled * u128::from(other.speed) / u128::from(run.speed);
    }
    params.duration_bound(u64::try_from(scaled).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpunet_primitives::Hash;

    fn run(billed_min: u64, speed: u64, answer: u8) -> RunTime {
        RunTime {
            billed_ms: billed_min * 60_000,
            speed,
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
    fn gpu_jobs_run_at_gpu_speed_and_cpu_jobs_at_cpu_speed_per_core() {
        let machine = |gpus: u32, cores: u32| Machine {
            id: 0,
            owner: gpunet_primitives::Address([0; 32]),
            spec: gpunet_primitives::MachineSpec {
                cpu_cores: cores,
                memory_mb: 1_000,
                disk_mb: 1_000,
                gpu: (gpus > 0).then(|| gpunet_primitives::GpuSpec {
                    vendor: "nvidia".into(),
                    model: "H100".into(),
                    count: gpus,
                    vram_mb: 80_000,
                }),
                region: "eu".into(),
                executor: "docker".into(),
            },
            price_per_hour: 1,
            resource_prices: Default::default(),
            online: true,
            registered_ms: 0,
            allocated: Default::default(),
            active_leases: 0,
            last_leased_ms: None,
            completed: 0,
            failed: 0,
            declined: 0,
            gpu_model_id: 0,
            hardware: gpunet_types::HardwareStatus::Verified,
            challenge: None,
            compute_gops: 400_000,
            cpu_mops: 64_000,
            challenges_passed: 2,
        };
        let (gpu_box, big_cpu_box) = (machine(8, 64), machine(0, 128));
        assert_eq!(run_speed(&gpu_box, true), 400_000);
        // 64 GOPS over 64 cores: 1 GOPS a core, in kilo-ops.
        assert_eq!(run_speed(&gpu_box, false), 1_000_000);
        // Twice the cores for the same throughput: each core half as fast.
        assert_eq!(run_speed(&big_cpu_box, false), 500_000);
        assert_eq!(run_speed(&big_cpu_box, true), 0, "no GPUs to measure");
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
