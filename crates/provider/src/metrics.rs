//! A provider agent's Prometheus metrics (`gpunet provider --metrics-listen
//! ADDR` serves them at `/metrics`): what this machine runs, how its runs
//! and hardware challenges end, what its executor fails at, what it earned
//! and what its account was slashed. Counters start at zero when the agent
//! starts, as Prometheus counters do; they never feed back into the ledger.

use gpunet_primitives::{Amount, MachineId, UNIT};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// The content type of [`AgentMetrics::render`]'s text.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LeaseLabels {
    machine: MachineId,
    kind: &'static str,
}

/// What a lease is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum LeaseKind {
    /// A job: run, report, settle.
    Job,
    /// A rental: a container its renter uses until the time runs out.
    Rental,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    machine: MachineId,
    outcome: &'static str,
}

/// How a run ended on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum RunOutcome {
    /// Ran and reported a result.
    Completed,
    /// Reported failed (it broke on this machine's side).
    Failed,
    /// Handed back unstarted (the image, program or an input was not to be had).
    Declined,
    /// Ended by the ledger while running (its client stopped it, or its time ran out).
    Stopped,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChallengeLabels {
    machine: MachineId,
    outcome: &'static str,
}

/// How a hardware challenge ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ChallengeOutcome {
    /// The ledger checked the proof.
    Passed,
    /// Wrong, late or missing: slashed and delisted.
    Failed,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    machine: MachineId,
    stage: &'static str,
}

/// Where the executor failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ExecutorStage {
    /// Before the run started (image, program, inputs).
    Start,
    /// While it ran.
    Run,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MachineLabel {
    machine: MachineId,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabel {
    account: String,
}

type FloatCounter = Counter<f64, AtomicU64>;

/// The agent's metrics.
pub struct AgentMetrics {
    registry: Registry,
    leases: Family<LeaseLabels, Gauge>,
    runs: Family<OutcomeLabels, Counter>,
    challenges: Family<ChallengeLabels, Counter>,
    executor_errors: Family<ErrorLabels, Counter>,
    earned: Family<MachineLabel, FloatCounter>,
    slashed: Family<AccountLabel, FloatCounter>,
}

impl Default for AgentMetrics {
    fn default() -> Self {
        AgentMetrics::new()
    }
}

impl AgentMetrics {
    /// Registers every metric under the `gpunet_agent_` prefix.
    pub fn new() -> AgentMetrics {
        let mut registry = Registry::with_prefix("gpunet_agent");
        let metrics = AgentMetrics {
            registry: Registry::default(),
            leases: Family::default(),
            runs: Family::default(),
            challenges: Family::default(),
            executor_errors: Family::default(),
            earned: Family::default(),
            slashed: Family::default(),
        };
        registry.register(
            "leases",
            "Leases running on this machine, by kind",
            metrics.leases.clone(),
        );
        registry.register(
            "runs",
            "Runs that ended on this machine, by outcome",
            metrics.runs.clone(),
        );
        registry.register(
            "challenges",
            "Hardware challenges of this machine, by outcome",
            metrics.challenges.clone(),
        );
        registry.register(
            "executor_errors",
            "Runs the executor could not start or that broke while running",
            metrics.executor_errors.clone(),
        );
        registry.register(
            "earned_gpn",
            "Paid to the provider for leases this machine ran, in GPN, net of the burn (a rental counts when it ends)",
            metrics.earned.clone(),
        );
        registry.register(
            "slashed_gpn",
            "Stake slashed from the provider account, in GPN (every agent of the account counts it)",
            metrics.slashed.clone(),
        );
        AgentMetrics {
            registry,
            ..metrics
        }
    }

    /// A lease started running on `machine`; the returned guard counts it
    /// as ended when dropped, however the run ends.
    pub fn lease_running(&self, machine: MachineId, kind: LeaseKind) -> RunningLease<'_> {
        let labels = LeaseLabels {
            machine,
            kind: kind.into(),
        };
        self.leases.get_or_create(&labels).inc();
        RunningLease {
            metrics: self,
            labels,
        }
    }

    /// A run ended.
    pub fn run_ended(&self, machine: MachineId, outcome: RunOutcome) {
        self.runs
            .get_or_create(&OutcomeLabels {
                machine,
                outcome: outcome.into(),
            })
            .inc();
    }

    /// A hardware challenge ended.
    pub fn challenge_ended(&self, machine: MachineId, outcome: ChallengeOutcome) {
        self.challenges
            .get_or_create(&ChallengeLabels {
                machine,
                outcome: outcome.into(),
            })
            .inc();
    }

    /// The executor failed.
    pub fn executor_error(&self, machine: MachineId, stage: ExecutorStage) {
        self.executor_errors
            .get_or_create(&ErrorLabels {
                machine,
                stage: stage.into(),
            })
            .inc();
    }

    /// The provider was paid `amount` for a lease of `machine`.
    pub fn earned(&self, machine: MachineId, amount: Amount) {
        self.earned
            .get_or_create(&MachineLabel { machine })
            .inc_by(gpn(amount));
    }

    /// The provider `account` was slashed `amount`.
    pub fn slashed(&self, account: &gpunet_primitives::Address, amount: Amount) {
        self.slashed
            .get_or_create(&AccountLabel {
                account: account.to_string(),
            })
            .inc_by(gpn(amount));
    }

    /// The metrics in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// A running lease, counted in `gpunet_agent_leases` until dropped.
pub struct RunningLease<'a> {
    metrics: &'a AgentMetrics,
    labels: LeaseLabels,
}

impl Drop for RunningLease<'_> {
    fn drop(&mut self) {
        self.metrics.leases.get_or_create(&self.labels).dec();
    }
}

fn gpn(amount: Amount) -> f64 {
    amount as f64 / UNIT as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_counts_while_it_runs_and_outcomes_add_up() {
        let metrics = AgentMetrics::new();
        {
            let _running = metrics.lease_running(3, LeaseKind::Job);
            assert!(metrics
                .render()
                .contains("gpunet_agent_leases{machine=\"3\",kind=\"job\"} 1\n"));
            metrics.run_ended(3, RunOutcome::Completed);
            metrics.earned(3, 1_500_000);
        }
        let text = metrics.render();
        assert!(
            text.contains("gpunet_agent_leases{machine=\"3\",kind=\"job\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("gpunet_agent_runs_total{machine=\"3\",outcome=\"completed\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("gpunet_agent_earned_gpn_total{machine=\"3\"} 1.5\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
