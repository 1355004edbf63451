//! Audits: random other providers re-run an audited job; for a deterministic job
//! the party two runs contradict is slashed, for a non-deterministic one nobody is.

use crate::net::*;
use gpunet_ledger::{Covers, TxError};
use gpunet_primitives::{Stop, TxBody};
use gpunet_types::{AuditVerdict, OrderStatus};

#[test]
fn an_agreeing_audit_pays_everyone_and_runs_on_another_provider() {
    let mut net = Net::new(3);
    let job = net.submit(spec(true, 10_000));
    net.report(job, b"out");
    let run = net
        .end_dispute_window(job)
        .expect("always audited at 10000 bps");
    assert_eq!(net.status(job), OrderStatus::Auditing);
    assert_ne!(
        lessee(&net, run),
        lessee(&net, job),
        "audited by another provider"
    );
    net.report(run, b"out");
    assert_eq!(net.verdict(job), Some(AuditVerdict::Agreed));
    net.block(params().dispute_window_ms, &[]);
    assert_eq!(net.status(job), OrderStatus::Settled);
    assert_eq!(net.status(run), OrderStatus::Settled);
    assert!(
        net.ledger
            .order(run)
            .unwrap()
            .settlement()
            .unwrap()
            .paid_to_provider
            > 0
    );
}

#[test]
fn an_audit_of_a_tiny_job_pays_the_auditor_more_than_reporting_costs() {
    let mut net = Net::new(3);
    let job = net.submit(spec(true, 10_000));
    // A job of a few milliseconds: its time pays under the fee of a report.
    net.report_timed(job, b"out", None, 10);
    let run = net.end_dispute_window(job).unwrap();
    net.report_timed(run, b"out", None, 10);
    assert_eq!(net.verdict(job), Some(AuditVerdict::Agreed));
    net.block(params().dispute_window_ms, &[]);
    let paid = |id: u64| {
        let s = net.ledger.order(id).unwrap().settlement().cloned().unwrap();
        s.paid_to_provider + s.burned
    };
    assert!(
        PRICE * 10 / 3_600_000 < params().min_fee,
        "the job's time pays less"
    );
    assert_eq!(
        paid(job),
        PRICE * 10 / 3_600_000,
        "the job is paid its time"
    );
    assert_eq!(
        paid(run),
        params().audit_pay_floor,
        "the auditor is paid the floor"
    );
    assert!(paid(run) > params().min_fee);
}

#[test]
fn a_provider_two_runs_contradict_is_slashed_and_unpaid() {
    let mut net = Net::new(3);
    let funds = net.ledger.account(&net.client.address()).balance;
    let job = net.submit(spec(true, 10_000));
    let cheat = net.provider_of(job);
    let before = net.bonded(&cheat);
    net.report(job, b"made up");
    let audit = net.end_dispute_window(job).unwrap();
    net.report(audit, b"true output");
    // Disagreement on a deterministic job: a tie-break run on a third provider.
    net.block(10, &[]);
    let runs = net.ledger.order(job).unwrap().audit_runs().to_vec();
    assert_eq!(runs.len(), 2);
    let tie = runs[1];
    let three = [lessee(&net, job), lessee(&net, audit), lessee(&net, tie)];
    assert!(three[0] != three[1] && three[1] != three[2] && three[0] != three[2]);
    net.report(tie, b"true output");
    assert_eq!(net.verdict(job), Some(AuditVerdict::ProviderWrong));
    assert_eq!(net.status(job), OrderStatus::Failed);
    let machine = net
        .ledger
        .machines()
        .find(|m| m.owner == cheat.address())
        .unwrap();
    assert_eq!(
        (machine.completed, machine.failed),
        (0, 1),
        "counted as a failure"
    );
    assert_eq!(net.bonded(&cheat), before - params().slash_audit);
    assert_eq!(
        net.ledger
            .order(job)
            .unwrap()
            .settlement()
            .unwrap()
            .paid_to_provider,
        0
    );
    net.block(params().dispute_window_ms, &[]);
    assert_eq!(net.status(audit), OrderStatus::Settled);
    assert_eq!(net.status(tie), OrderStatus::Settled);
    assert_eq!(
        net.ledger.account(&net.client.address()).balance,
        funds - params().min_fee,
        "the cheat's stake paid for both runs that caught it"
    );
}

#[test]
fn an_auditor_two_runs_contradict_is_slashed_and_the_provider_paid() {
    let mut net = Net::new(3);
    let job = net.submit(spec(true, 10_000));
    net.report(job, b"true output");
    let audit = net.end_dispute_window(job).unwrap();
    let lazy = net.provider_of(audit);
    let before = net.bonded(&lazy);
    net.report(audit, b"lazy auditor");
    net.block(10, &[]);
    let tie = net.ledger.order(job).unwrap().audit_runs()[1];
    net.report(tie, b"true output");
    assert_eq!(
        net.verdict(job),
        Some(AuditVerdict::AuditorWrong {
            auditor: lazy.address()
        })
    );
    assert_eq!(net.bonded(&lazy), before - params().slash_audit);
    assert_eq!(net.status(audit), OrderStatus::Failed);
    net.block(params().dispute_window_ms, &[]);
    assert_eq!(net.status(job), OrderStatus::Settled);
    assert_eq!(net.status(tie), OrderStatus::Settled);
}

#[test]
fn runs_stopped_at_the_same_limit_agree_whatever_they_wrote() {
    let mut net = Net::new(3);
    let stakes = net.stakes();
    let job = net.submit(spec(true, 10_000));
    net.report_run(job, b"partial, cut at 60 s", Some(Stop::Timeout));
    let audit = net.end_dispute_window(job).unwrap();
    net.report_run(audit, b"less, on a slower machine", Some(Stop::Timeout));
    assert_eq!(net.verdict(job), Some(AuditVerdict::Agreed));
    assert_eq!(
        net.ledger.order(job).unwrap().audit_runs().len(),
        1,
        "no tie-break"
    );
    net.block(params().dispute_window_ms, &[]);
    assert_eq!(net.status(job), OrderStatus::Settled);
    assert_eq!(net.status(audit), OrderStatus::Settled);
    assert_eq!(net.stakes(), stakes, "nobody slashed");
}

#[test]
fn a_provider_claiming_a_limit_for_a_job_two_others_finish_is_slashed() {
    let mut net = Net::new(3);
    let job = net.submit(spec(true, 10_000));
    let cheat = net.provider_of(job);
    let before = net.bonded(&cheat);
    // The claimed timeout hides skipped work, whatever it uploaded.
    net.report_run(job, b"true output", Some(Stop::Timeout));
    let audit = net.end_dispute_window(job).unwrap();
    net.report(audit, b"true output");
    net.block(10, &[]);
    let runs = net.ledger.order(job).unwrap().audit_runs().to_vec();
    assert_eq!(runs.len(), 2, "a stopped run and a finished one disagree");
    net.report(runs[1], b"true output");
    assert_eq!(net.verdict(job), Some(AuditVerdict::ProviderWrong));
    assert_eq!(net.bonded(&cheat), before - params().slash_audit);
    assert_eq!(net.status(job), OrderStatus::Failed);
}

#[test]
fn a_referee_stopped_at_the_providers_limit_rejects_the_dispute() {
    let mut net = Net::new(3);
    let stakes = net.stakes();
    let job = net.submit(spec(false, 0));
    net.report_run(job, b"partial", Some(Stop::Memory));
    net.dispute(job, b"what the client hoped for").unwrap();
    let run = net.referee(job);
    net.report_run(run, b"other partial", Some(Stop::Memory));
    assert_eq!(net.verdict(job), Some(AuditVerdict::DisputeRejected));
    net.block(params().dispute_window_ms, &[]);
    assert_eq!(net.status(job), OrderStatus::Settled);
    assert_eq!(net.stakes(), stakes, "nobody slashed");

    // A referee that finishes with the client's root convicts a provider
    // that claimed a limit.
    let job = net.submit(spec(false, 0));
    let cheat = net.provider_of(job);
    let before = net.bonded(&cheat);
    net.report_run(job, b"partial", Some(Stop::Timeout));
    net.dispute(job, b"known answer").unwrap();
    let run = net.referee(job);
    net.report(run, b"known answer");
    assert_eq!(net.verdict(job), Some(AuditVerdict::ProviderWrong));
    assert_eq!(net.bonded(&cheat), before - params().slash_audit);
}

#[test]
fn a_non_deterministic_mismatch_slashes_nobody() {
    let mut net = Net::new(3);
    let job = net.submit(spec(false, 10_000));
    let stakes = net.stakes();
    net.report(job, b"sample 1");
    let audit = net.end_dispute_window(job).unwrap();
    net.report(audit, b"sample 2");
    assert_eq!(
        net.verdict(job),
        Some(AuditVerdict::NonDeterministicMismatch)
    );
    assert_eq!(
        net.ledger.order(job).unwrap().audit_runs().len(),
        1,
        "no tie-break"
    );
    net.block(params().dispute_window_ms, &[]);
    assert_eq!(net.status(job), OrderStatus::Settled);
    assert_eq!(net.status(audit), OrderStatus::Settled);
    assert_eq!(net.stakes(), stakes);
}

#[test]
fn with_no_other_provider_the_audit_expires_and_the_provider_is_paid() {
    let mut net = Net::new(1);
    let job = net.submit(spec(true, 10_000));
    net.report(job, b"out");
    let run = net.end_dispute_window(job).unwrap();
    assert_eq!(net.status(run), OrderStatus::Pending, "no other provider");
    net.block(params().order_ttl_ms, &[]);
    assert_eq!(net.status(run), OrderStatus::Expired);
    assert_eq!(net.verdict(job), Some(AuditVerdict::Inconclusive));
    net.block(10, &[]);
    assert_eq!(net.status(job), OrderStatus::Settled);
}

#[test]
fn the_audit_rate_follows_the_spec_and_bad_audit_requests_are_refused() {
    let mut net = Net::new(2);
    // Never audited at 0 bps; about half at 5000 bps (the draw is a block hash).
    let mut audited = 0;
    for bps in [0u32, 5_000] {
        let mut jobs = Vec::new();
        for _ in 0..30 {
            let j = net.submit(spec(true, bps));
            if net.status(j) == OrderStatus::Running {
                net.report(j, b"out");
                jobs.push(j);
            }
        }
        net.block(params().dispute_window_ms, &[]);
        let n = jobs
            .iter()
            .filter(|j| !net.ledger.order(**j).unwrap().audit_runs().is_empty())
            .count();
        assert!(jobs.len() >= 20, "only {} jobs ran", jobs.len());
        if bps == 0 {
            assert_eq!(n, 0);
        } else {
            audited = n * 100 / jobs.len();
        }
    }
    assert!((20..=80).contains(&audited), "{audited} % audited at 50 %");

    let client = net.client.clone();
    let one_run = gpunet_types::max_payment(PRICE, 60).unwrap();
    assert!(matches!(
        net.send(
            &client,
            TxBody::SubmitOrder {
                spec: spec(true, 100),
                max_price_per_hour: PRICE,
                deposit: 2 * one_run,
            },
        ),
        Err(TxError::DepositTooSmall {
            covers: Covers::WholeTimeout { runs: 3 },
            ..
        })
    ));
    assert!(matches!(
        net.send(
            &client,
            TxBody::SubmitOrder {
                spec: spec(true, 10_001),
                max_price_per_hour: PRICE,
                deposit: 3 * one_run,
            },
        ),
        Err(TxError::ImpossibleSpec(_))
    ));
}
