//! Retries: a job's run that its provider fails or lets time out is
//! matched again to another machine, up to the spec's `max_attempts`,
//! before its client is refunded; each failed run still slashes.

use crate::net::*;
use gpunet_primitives::{JobOutcome, TxBody, UNIT};
use gpunet_types::{AttemptFailure, Event, OrderStatus};

fn retried(attempts: u32) -> gpunet_primitives::JobSpec {
    let mut s = spec(false, 0);
    s.max_attempts = attempts;
    s
}

fn retry_events(net: &Net, job: u64) -> Vec<(u64, u32)> {
    net.events
        .iter()
        .filter_map(|e| match e {
            Event::OrderRetried {
                order,
                machine,
                attempts,
                ..
            } if *order == job => Some((*machine, *attempts)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_failed_then_timed_out_job_runs_on_a_third_machine_and_pays_only_that_run() {
    let mut net = Net::new(3);
    let staked = 500 * UNIT;
    assert_eq!(net.stakes(), [staked; 3]);
    let job = net.submit(retried(3));
    let deposit = net.ledger.order(job).unwrap().deposit;
    let first = net.machine_of(job);
    let first_provider = net.provider_of(job);
    net.fail(job);
    // Matched again in the block that carried the failure, elsewhere.
    assert_eq!(net.status(job), OrderStatus::Running);
    let second = net.machine_of(job);
    assert_ne!(second, first);
    let second_provider = net.provider_of(job);
    let order = net.ledger.order(job).unwrap().clone();
    assert_eq!(order.escrow, deposit, "a failed run is not paid");
    let slash_failed = params().slash_failed;
    assert_eq!(
        net.bonded(&first_provider),
        staked - slash_failed,
        "the failed run's provider is slashed all the same"
    );
    let attempt = &order.attempts()[0];
    assert_eq!(
        (attempt.machine, &attempt.failure, attempt.slashed),
        (
            first,
            &AttemptFailure::Failed {
                reason: "disk full".into()
            },
            slash_failed
        )
    );
    // The second provider reports nothing by its deadline.
    net.block(60_000 + params().report_grace_ms, &[]);
    net.block(10, &[]);
    assert_eq!(net.status(job), OrderStatus::Running);
    let third = net.machine_of(job);
    assert!(
        third != first && third != second,
        "{first} {second} {third}"
    );
    assert_eq!(
        net.bonded(&second_provider),
        staked - params().slash_timeout
    );
    assert_eq!(
        net.ledger.order(job).unwrap().attempts()[1].failure,
        AttemptFailure::TimedOut
    );
    assert_eq!(retry_events(&net, job), [(first, 1), (second, 2)]);
    net.report(job, b"out");
    net.end_dispute_window(job);
    let order = net.ledger.order(job).unwrap().clone();
    assert_eq!(order.status(), OrderStatus::Settled);
    let s = order.settlement().unwrap();
    assert_eq!(
        s.paid_to_provider + s.burned + s.refunded,
        deposit,
        "one run paid out of one deposit"
    );
    assert_eq!(order.lease().unwrap().machine, third);
    let records: Vec<(u64, u64)> = [first, second, third]
        .iter()
        .map(|m| {
            let m = net.ledger.machine(*m).unwrap();
            (m.failed, m.completed)
        })
        .collect();
    assert_eq!(records, [(1, 0), (1, 0), (0, 1)]);
}

#[test]
fn a_job_out_of_attempts_fails_and_its_client_is_refunded() {
    let mut net = Net::new(2);
    let client = net.client.address();
    let job = net.submit(retried(2));
    let funds = net.ledger.account(&client).balance;
    net.fail(job);
    assert_eq!(net.status(job), OrderStatus::Running);
    net.fail(job);
    let order = net.ledger.order(job).unwrap().clone();
    assert_eq!(
        order.status(),
        OrderStatus::Failed,
        "two runs were all it asked for"
    );
    assert_eq!(
        order.attempts().len(),
        1,
        "the last run is the order's own lease"
    );
    assert_eq!(order.settlement().unwrap().refunded, order.deposit);
    assert_eq!(
        net.ledger.account(&client).balance,
        funds + order.deposit,
        "the whole deposit back"
    );
    assert_eq!(
        net.stakes(),
        [500 * UNIT - params().slash_failed; 2],
        "both providers slashed"
    );
}

#[test]
fn a_retried_job_waits_its_time_to_live_again_for_a_machine_it_has_not_failed_on() {
    let mut net = Net::new(1);
    let mut s = retried(2);
    s.timeout_secs = 3_600;
    let job = net.submit(s);
    // It runs past the order's time to live, then its run fails.
    net.block(2 * params().order_ttl_ms, &[]);
    net.fail(job);
    let order = net.ledger.order(job).unwrap().clone();
    assert_eq!(
        order.status(),
        OrderStatus::Pending,
        "the only machine failed it"
    );
    assert_eq!(order.queued_ms, net.time);
    let unmatched = net.ledger.unmatched(job, 1).unwrap();
    assert_eq!(
        unmatched.missed,
        [(gpunet_types::Misfit::FailedBefore, 1)],
        "it says why nothing takes it"
    );
    net.block(params().order_ttl_ms - 1, &[]);
    assert_eq!(net.status(job), OrderStatus::Pending);
    net.block(1, &[]);
    assert_eq!(net.status(job), OrderStatus::Expired);
    let order = net.ledger.order(job).unwrap().clone();
    assert_eq!(order.settlement().unwrap().refunded, order.deposit);
}

#[test]
fn audit_runs_and_rentals_are_not_retried() {
    let mut net = Net::new(3);
    let client = net.client.clone();
    let mut audited = spec(true, 10_000);
    audited.max_attempts = 3;
    let job = net.submit(audited);
    net.report(job, b"out");
    let run = net.end_dispute_window(job).unwrap();
    assert_eq!(net.status(run), OrderStatus::Running);
    let auditor = net.provider_of(run);
    net.send(
        &auditor,
        TxBody::ReportResult {
            order: run,
            outcome: JobOutcome::Failed {
                reason: "broke".into(),
            },
        },
    )
    .unwrap();
    assert_eq!(net.status(run), OrderStatus::Failed);
    let hour = gpunet_types::max_payment(PRICE, 3_600).unwrap();
    let mut rental = spec(false, 0);
    rental.timeout_secs = 3_600;
    rental.max_attempts = 2;
    let refused = net.send(
        &client,
        TxBody::Rent {
            spec: rental,
            max_price_per_hour: PRICE,
            deposit: hour,
        },
    );
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("max_attempts")),
        "{refused:?}"
    );
}
