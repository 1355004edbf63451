//! Declines: a lease its machine cannot start goes to another machine.

use crate::net::*;
use gpunet_ledger::TxError;
use gpunet_primitives::TxBody;
use gpunet_types::{AuditVerdict, Event, OrderStatus};

#[test]
fn a_declined_job_moves_to_another_machine_and_closes_refunded_after_max_declines() {
    let mut net = Net::new(3);
    let client = net.client.address();
    let funds_before = net.ledger.account(&client).balance;
    let stakes = net.stakes();
    let job = net.submit(spec(false, 0));
    let deposit = net.ledger.order(job).unwrap().deposit;
    let mut declined = Vec::new();
    for round in 1..=params().max_declines {
        let machine = net.machine_of(job);
        assert!(
            !declined.contains(&machine),
            "a machine that declined is skipped"
        );
        net.decline(job, "image gpunet/missing:1 is not available")
            .unwrap();
        declined.push(machine);
        let m = net.ledger.machine(machine).unwrap();
        assert_eq!((m.declined, m.failed, m.active_leases), (1, 0, 0));
        assert_eq!(m.reliability_bps(), 10_000, "a decline is not a failure");
        let order = net.ledger.order(job).unwrap().clone();
        assert_eq!(order.declines.len(), round as usize);
        assert_eq!(order.declines.last().unwrap().machine, machine);
        if round < params().max_declines {
            // Matched again at the end of the same block.
            assert_eq!(order.status(), OrderStatus::Running);
        }
    }
    let order = net.ledger.order(job).unwrap().clone();
    assert_eq!(order.status(), OrderStatus::Declined);
    assert_eq!(order.settlement().unwrap().refunded, deposit);
    assert_eq!(
        net.ledger.account(&client).balance,
        funds_before - params().min_fee,
        "refunded all but the fee of its one transaction"
    );
    assert_eq!(net.stakes(), stakes, "nobody slashed");
    assert!(net.events.iter().any(|e| matches!(
        e,
        Event::OrderDeclined { order, requeued: false, refunded, .. }
            if *order == job && *refunded == deposit
    )));
}

#[test]
fn a_lease_can_be_declined_only_by_its_provider_early_and_with_a_short_reason() {
    let mut net = Net::new(2);
    let mut long = spec(false, 0);
    long.timeout_secs = 3_600; // still running when the decline window closes
    let job = net.submit(long);
    let lessee = net.provider_of(job);
    let other = net
        .providers
        .iter()
        .find(|p| p.address() != lessee.address())
        .unwrap()
        .clone();
    let before = net.ledger.order(job).unwrap().clone();
    let decline = |reason: String| TxBody::DeclineLease { order: job, reason };
    assert!(matches!(
        net.send(&other, decline("no".into())),
        Err(TxError::NotYourLease(_))
    ));
    assert!(matches!(
        net.send(&lessee, decline("x".repeat(1025))),
        Err(TxError::TooLong { .. })
    ));
    assert!(matches!(
        net.send(
            &lessee,
            TxBody::DeclineLease {
                order: 999,
                reason: String::new()
            }
        ),
        Err(TxError::UnknownOrder(999))
    ));
    assert_eq!(
        net.ledger.order(job).unwrap(),
        &before,
        "refusals change nothing"
    );
    net.block(params().decline_window_ms, &[]);
    assert!(matches!(
        net.send(&lessee, decline("too late".into())),
        Err(TxError::DeclineTooLate { .. })
    ));
    assert_eq!(net.ledger.order(job).unwrap(), &before);

    // A reported job cannot be declined either.
    let job = net.submit(spec(false, 0));
    net.report(job, b"out");
    assert!(matches!(
        net.decline(job, "late"),
        Err(TxError::WrongStatus {
            status: OrderStatus::Reported,
            ..
        })
    ));
}

#[test]
fn a_declined_rental_keeps_its_time_bought_and_a_billed_one_cannot_be_declined() {
    let mut net = Net::new(2);
    let ten_minutes = gpunet_types::max_payment(PRICE, 600).unwrap();
    let id = rent(&mut net, 600, 2 * ten_minutes).unwrap();
    let client = net.client.clone();
    net.send(
        &client,
        TxBody::RenewRental {
            order: id,
            extra_secs: 300,
            deposit: ten_minutes,
        },
    )
    .unwrap();
    let first = net.machine_of(id);
    net.decline(id, "image missing").unwrap();
    let order = net.ledger.order(id).unwrap().clone();
    assert_eq!(order.status(), OrderStatus::Running);
    let lease = order.lease().cloned().unwrap();
    assert_ne!(lease.machine, first);
    let rental = order.rental().unwrap();
    assert_eq!(rental.ends_ms - lease.start_ms, 900_000, "renewal kept");
    assert_eq!((rental.paid, rental.burned), (0, 0));
    assert_eq!(order.escrow, 3 * ten_minutes, "nothing billed");

    net.block(params().rental_billing_ms, &[]);
    assert!(
        net.ledger
            .order(id)
            .unwrap()
            .rental()
            .cloned()
            .unwrap()
            .paid
            > 0
    );
    assert!(matches!(
        net.decline(id, "changed my mind"),
        Err(TxError::RentalBilled(_))
    ));
}

#[test]
fn an_audit_run_every_machine_declines_leaves_the_job_unaudited_and_paid() {
    let mut net = Net::new(4);
    let job = net.submit(spec(true, 10_000));
    net.report(job, b"out");
    let run = net.end_dispute_window(job).unwrap();
    for _ in 0..params().max_declines {
        net.decline(run, "image missing").unwrap();
    }
    assert_eq!(net.status(run), OrderStatus::Declined);
    assert_eq!(net.verdict(job), Some(AuditVerdict::Inconclusive));
    net.block(10, &[]);
    assert_eq!(net.status(job), OrderStatus::Settled);
}
