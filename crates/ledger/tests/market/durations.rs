//! Duration checks: a run billed far longer than an agreeing one is capped and slashed.

use crate::net::*;
use gpunet_ledger::TxError;
use gpunet_primitives::{Stop, UNIT};
use gpunet_types::AuditVerdict;

#[test]
fn a_provider_billing_far_longer_than_its_auditor_is_billed_the_bound_and_slashed() {
    let mut net = Net::new(3);
    let client = net.client.address();
    let funds = net.ledger.account(&client).balance;
    let job = net.submit(hour_long(true, 10_000));
    let padder = net.provider_of(job);
    let stake = net.bonded(&padder);
    // Ran ten minutes, then reported fifty.
    net.report_after(job, b"out", 50 * MINUTE);
    let run = net.end_dispute_window(job).unwrap();
    let auditor = net.provider_of(run);
    net.report_after(run, b"out", 10 * MINUTE);
    assert_eq!(
        net.verdict(job),
        Some(AuditVerdict::ProviderPadded),
        "the output is right, its time padded"
    );
    let bound = 2 * 10 * MINUTE + MINUTE;
    assert_eq!(billed_ms(&net, job), bound);
    let report = net.ledger.order(job).unwrap().report().cloned().unwrap();
    assert_eq!(report.padded, Some(params().slash_audit));
    assert_eq!(padded_events(&net), vec![(job, 50 * MINUTE, bound)]);
    assert_eq!(net.bonded(&padder), stake - params().slash_audit);
    assert_eq!(net.bonded(&auditor), 500 * UNIT, "the auditor is not");
    net.block(params().dispute_window_ms, &[]);
    let job_paid = net
        .ledger
        .order(job)
        .unwrap()
        .settlement()
        .cloned()
        .unwrap();
    let run_paid = net
        .ledger
        .order(run)
        .unwrap()
        .settlement()
        .cloned()
        .unwrap();
    let at_bound = gpunet_types::max_payment(PRICE, bound / 1_000).unwrap();
    assert_eq!(job_paid.paid_to_provider + job_paid.burned, at_bound);
    assert_eq!(job_paid.slashed, params().slash_audit);
    assert_eq!(
        net.ledger.account(&client).balance,
        funds - params().min_fee - at_bound,
        "the client paid the bound; the padder repaid the audit run"
    );
    assert!(run_paid.paid_to_provider > 0, "the auditor is paid");
}

#[test]
fn a_slower_run_within_the_tolerance_is_paid_in_full_and_a_padding_auditor_is_caught() {
    let mut net = Net::new(3);
    let job = net.submit(hour_long(true, 10_000));
    net.report_after(job, b"out", 18 * MINUTE);
    let run = net.end_dispute_window(job).unwrap();
    net.report_after(run, b"out", 10 * MINUTE);
    assert_eq!(net.verdict(job), Some(AuditVerdict::Agreed));
    assert_eq!(
        billed_ms(&net, job),
        18 * MINUTE,
        "within twice plus a minute"
    );
    assert!(padded_events(&net).is_empty());

    let stakes = net.stakes();
    let job = net.submit(hour_long(true, 10_000));
    net.report_after(job, b"out", 10 * MINUTE);
    let run = net.end_dispute_window(job).unwrap();
    let auditor = net.provider_of(run);
    net.report_after(run, b"out", 40 * MINUTE);
    assert_eq!(billed_ms(&net, job), 10 * MINUTE);
    assert_eq!(
        billed_ms(&net, run),
        21 * MINUTE,
        "the auditor's time is checked too"
    );
    let slashed: Vec<u128> = net
        .providers
        .iter()
        .zip(&stakes)
        .map(|(p, before)| before - net.bonded(p))
        .collect();
    let who = net
        .providers
        .iter()
        .position(|p| p.address() == auditor.address())
        .unwrap();
    for (i, s) in slashed.iter().enumerate() {
        let expected = if i == who { params().slash_audit } else { 0 };
        assert_eq!(*s, expected, "provider {i}");
    }
}

#[test]
fn a_duration_dispute_lets_a_referee_run_check_the_time_of_any_job() {
    let mut net = Net::new(3);
    let client = net.client.address();
    // Not deterministic, never audited: only its client can check its time.
    let job = net.submit(hour_long(false, 0));
    let padder = net.provider_of(job);
    let stake = net.bonded(&padder);
    net.report_after(job, b"out", 50 * MINUTE);
    let funds = net.ledger.account(&client).balance;
    net.dispute(job, b"out")
        .expect("naming the reported root disputes the time");
    let run = net.referee(job);
    net.report_after(run, b"out", 10 * MINUTE);
    assert_eq!(
        net.verdict(job),
        Some(AuditVerdict::ProviderPadded),
        "the output stands, the time does not"
    );
    assert_eq!(billed_ms(&net, job), 21 * MINUTE);
    assert_eq!(net.bonded(&padder), stake - params().slash_audit);
    net.block(params().dispute_window_ms, &[]);
    let job_paid = net
        .ledger
        .order(job)
        .unwrap()
        .settlement()
        .cloned()
        .unwrap();
    assert_eq!(
        net.ledger.account(&client).balance,
        funds - params().min_fee + job_paid.refunded,
        "the referee repaid out of the padder's stake"
    );

    // An honest provider's time stands; the client paid for the referee.
    let job = net.submit(hour_long(false, 0));
    let stakes = net.stakes();
    net.report_after(job, b"out", 15 * MINUTE);
    net.dispute(job, b"out").unwrap();
    let run = net.referee(job);
    net.report_after(run, b"out", 10 * MINUTE);
    assert_eq!(net.verdict(job), Some(AuditVerdict::DisputeRejected));
    assert_eq!(billed_ms(&net, job), 15 * MINUTE);
    assert_eq!(net.stakes(), stakes, "nobody slashed");

    // A run stopped at its limit billed the limit: no time to dispute.
    let job = net.submit(hour_long(false, 0));
    net.block(MINUTE, &[]);
    net.report_run(job, b"partial", Some(Stop::Memory));
    assert!(matches!(
        net.dispute(job, b"partial"),
        Err(TxError::StoppedAtLimit {
            limit: Stop::Memory,
            ..
        })
    ));
    assert!(
        net.dispute(job, b"finished").is_ok(),
        "its stop can be disputed"
    );
}
