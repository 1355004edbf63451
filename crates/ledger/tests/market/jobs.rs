//! A client's orders: listed page by page, and a running job stopped.

use crate::net::*;
use gpunet_ledger::{TxError, Wanted};
use gpunet_primitives::TxBody;
use gpunet_types::{Event, OrderStatus};

#[test]
fn a_clients_orders_are_listed_newest_first_page_by_page() {
    let mut net = Net::new(3);
    let audited = net.submit(spec(true, 10_000));
    let other = net.submit(spec(false, 0));
    net.report(audited, b"out");
    let run = net.end_dispute_window(audited).unwrap();
    let client = net.client.address();
    let ids = |before, limit| -> Vec<u64> {
        let orders = net.ledger.client_orders(&client, before, limit);
        orders.iter().map(|o| o.id).collect()
    };
    assert_eq!(ids(None, 10), [run, other, audited], "audit runs included");
    assert_eq!(ids(None, 2), [run, other]);
    assert_eq!(ids(Some(other), 10), [audited]);
    let provider = net.providers[0].address();
    assert!(net.ledger.client_orders(&provider, None, 10).is_empty());
}

#[test]
fn a_stopped_job_pays_the_time_it_ran_refunds_the_rest_and_slashes_nobody() {
    let mut net = Net::new(1);
    let client = net.client.clone();
    let funds = net.ledger.account(&client.address()).balance;
    let stakes = net.stakes();
    let mut long = spec(false, 0);
    long.timeout_secs = 3_600;
    let job = net.submit(long);
    assert_eq!(net.status(job), OrderStatus::Running);
    let machine = net.machine_of(job);
    // Only its client stops it, and only while it runs.
    let provider = net.provider_of(job);
    assert!(matches!(
        net.send(&provider, TxBody::StopJob { order: job }),
        Err(TxError::NotYourOrder(_))
    ));
    net.block(6 * 60_000, &[]);
    net.send(&client, TxBody::StopJob { order: job }).unwrap();
    let order = net.ledger.order(job).unwrap().clone();
    assert_eq!(order.status(), OrderStatus::Stopped);
    let s = order.settlement().cloned().unwrap();
    // It ran six minutes and the blocks that carried the transactions.
    let ran_ms = net.time - order.lease().unwrap().start_ms;
    let owed = PRICE * u128::from(ran_ms) / 3_600_000;
    assert_eq!(s.paid_to_provider + s.burned, owed);
    assert_eq!(s.refunded, order.deposit - owed);
    assert_eq!(s.slashed, 0);
    assert_eq!(net.stakes(), stakes, "nobody slashed");
    assert_eq!(
        net.ledger.account(&client.address()).balance,
        funds - 2 * params().min_fee - owed,
        "the client paid the time it ran"
    );
    let m = net.ledger.machine(machine).unwrap();
    assert_eq!((m.active_leases, m.allocated.cpu_cores), (0, 0), "freed");
    assert_eq!((m.completed, m.failed), (0, 0), "counted neither way");
    assert!(net
        .events
        .iter()
        .any(|e| matches!(e, Event::JobStopped { order, .. } if *order == job)));
    assert!(matches!(
        net.send(&client, TxBody::StopJob { order: job }),
        Err(TxError::WrongStatus {
            wanted: Wanted::RunningJob,
            ..
        })
    ));
    let hour = gpunet_types::max_payment(PRICE, 3_600).unwrap();
    let rental = rent(&mut net, 3_600, hour).unwrap();
    assert!(matches!(
        net.send(&client, TxBody::StopJob { order: rental }),
        Err(TxError::RentalNotStopped(_))
    ));
}
