//! A client's orders: listed page by page, a running job stopped, and job
//! arrays.

use crate::net::*;
use gpunet_ledger::{SpecError, TxError, Wanted};
use gpunet_primitives::{JobSpec, TxBody};
use gpunet_types::{
    ArrayPlace, Event, OrderStatus, ARRAY_INDEX_VAR, ARRAY_SIZE_VAR, MAX_ARRAY_SIZE,
};

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

#[test]
fn a_job_array_places_consecutive_orders_each_with_its_index_spread_over_machines() {
    let mut net = Net::new(3);
    let client = net.client.clone();
    let funds = net.ledger.account(&client.address()).balance;
    let job = spec(true, 0);
    let deposit_each = 3 * gpunet_types::max_payment(PRICE, job.timeout_secs).unwrap();
    let array = |spec: JobSpec, size| TxBody::SubmitArray {
        spec,
        max_price_per_hour: PRICE,
        deposit_each,
        size,
    };
    let first = net.ledger.state().globals().next_order_id;
    net.send(&client, array(job.clone(), 3)).unwrap();
    let mut machines = Vec::new();
    for index in 0..3u32 {
        let order = net.ledger.order(first + u64::from(index)).unwrap().clone();
        assert_eq!(
            order.array(),
            Some(ArrayPlace {
                first,
                index,
                size: 3
            })
        );
        let env: Vec<(&str, &str)> = order
            .spec
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert!(
            env.contains(&(ARRAY_INDEX_VAR, &index.to_string())),
            "{env:?}"
        );
        assert!(env.contains(&(ARRAY_SIZE_VAR, "3")), "{env:?}");
        assert!(env.is_sorted(), "{env:?}");
        assert_eq!(order.deposit, deposit_each);
        assert_eq!(order.status(), OrderStatus::Running);
        machines.push(net.machine_of(order.id));
    }
    machines.sort();
    machines.dedup();
    assert_eq!(machines.len(), 3, "spread: one member per machine");
    assert_eq!(
        net.ledger.account(&client.address()).balance,
        funds - params().min_fee - 3 * deposit_each
    );

    // Refused whole: a size out of bounds, a spec setting the index itself,
    // a deposit one member could not run on, more than the client holds.
    let next = net.ledger.state().globals().next_order_id;
    for size in [0, MAX_ARRAY_SIZE + 1] {
        assert!(matches!(
            net.send(&client, array(job.clone(), size)),
            Err(TxError::ImpossibleSpec(SpecError::ArraySize { got })) if got == size
        ));
    }
    let mut sets_index = job.clone();
    sets_index
        .env
        .push((ARRAY_INDEX_VAR.to_string(), "7".to_string()));
    assert!(matches!(
        net.send(&client, array(sets_index, 2)),
        Err(TxError::ImpossibleSpec(SpecError::ReservedVariable(
            ARRAY_INDEX_VAR
        )))
    ));
    let short = TxBody::SubmitArray {
        spec: job.clone(),
        max_price_per_hour: PRICE,
        deposit_each: deposit_each / 4,
        size: 2,
    };
    assert!(matches!(
        net.send(&client, short),
        Err(TxError::DepositTooSmall { .. })
    ));
    let beyond_funds = TxBody::SubmitArray {
        spec: job,
        max_price_per_hour: PRICE,
        deposit_each: funds / 10,
        size: 10,
    };
    assert!(matches!(
        net.send(&client, beyond_funds),
        Err(TxError::InsufficientFunds { .. })
    ));
    assert_eq!(
        net.ledger.state().globals().next_order_id,
        next,
        "no order placed"
    );
}
