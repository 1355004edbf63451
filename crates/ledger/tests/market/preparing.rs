//! Leases that prepare first: a job or rental whose image was pushed waits,
//! unbilled and with its timeout not counting, until its provider fetched
//! and loaded the image and says it starts (`StartLease`); one not started
//! by its deadline goes back to matching without a slash.

use crate::net::{params, spec, Net, PRICE};
use gpunet_ledger::TxError;
use gpunet_primitives::{Hash, ImageBlob, JobSpec, TxBody};
use gpunet_types::{Event, OrderStatus};

/// 6 GiB at 10 MB/s: 644.2 s.
const ARCHIVE: u64 = 6 << 30;
const PREPARATION_MS: u64 = ARCHIVE.div_ceil(10_000);

/// A job of an hour in an image pushed as a 6 GiB archive.
fn pushed() -> JobSpec {
    let mut spec = spec(false, 0);
    spec.timeout_secs = 3_600;
    spec.image = format!("sha256:{}", "ab".repeat(32));
    spec.image_blob = Some(ImageBlob {
        hash: Hash::digest(b"archive"),
        size: ARCHIVE,
        holder_proof: Hash::digest(b"proof"),
    });
    spec
}

fn start(net: &mut Net, order: u64) -> Result<(), TxError> {
    let provider = net.provider_of(order);
    net.send(&provider, TxBody::StartLease { order })
}

#[test]
fn a_pushed_images_lease_prepares_first_and_its_timeout_counts_from_its_start() {
    let mut net = Net::new(2);
    assert_eq!(pushed().preparation_ms(), PREPARATION_MS);
    let job = net.submit(pushed());
    assert_eq!(net.status(job), OrderStatus::Preparing);
    let leased = net.ledger.order(job).unwrap().lease().unwrap().clone();
    assert_eq!((leased.leased_ms, leased.start_ms), (net.time, net.time));
    assert_eq!(
        leased.deadline_ms - leased.start_ms,
        PREPARATION_MS + params().decline_window_ms,
        "its archive's time at 10 MB/s and the decline window to start in"
    );
    // Nobody but its provider starts it; a job with no pushed image never
    // prepares, so it cannot be started either.
    let stranger = net
        .providers
        .iter()
        .find(|p| p.address() != leased.provider)
        .unwrap()
        .clone();
    assert!(matches!(
        net.send(&stranger, TxBody::StartLease { order: job }),
        Err(TxError::NotYourLease(_))
    ));
    let client = net.client.clone();
    assert!(net
        .send(&client, TxBody::StartLease { order: job })
        .is_err());
    let plain = net.submit(spec(false, 0));
    assert_eq!(net.status(plain), OrderStatus::Running);
    assert!(matches!(
        start(&mut net, plain),
        Err(TxError::WrongStatus { .. })
    ));
    // A result cannot be reported before the run started.
    let provider = net.provider_of(job);
    assert!(net
        .send(
            &provider,
            TxBody::ReportResult {
                order: job,
                outcome: gpunet_primitives::JobOutcome::Failed {
                    reason: "early".into()
                },
            },
        )
        .is_err());

    // Fetched in ten minutes, well within the hour's timeout.
    net.block(600_000, &[]);
    start(&mut net, job).unwrap();
    let started = net.time;
    assert_eq!(net.status(job), OrderStatus::Running);
    let lease = net.ledger.order(job).unwrap().lease().unwrap().clone();
    assert_eq!(
        (lease.leased_ms, lease.start_ms),
        (leased.leased_ms, started)
    );
    assert_eq!(
        lease.deadline_ms,
        started + 3_600_000 + params().report_grace_ms,
        "the whole hour counts from the start"
    );
    let prepared = net.events.iter().find_map(|e| match e {
        Event::LeaseStarted {
            order, prepared_ms, ..
        } if *order == job => Some(*prepared_ms),
        _ => None,
    });
    assert_eq!(prepared, Some(started - leased.start_ms));
    assert!(matches!(
        start(&mut net, job),
        Err(TxError::WrongStatus { .. })
    ));
    // Past what its lease's first deadline was: it runs on, and it is
    // paid for what it ran, not for the fetch.
    net.block(PREPARATION_MS + params().decline_window_ms, &[]);
    assert_eq!(net.status(job), OrderStatus::Running);
    net.report_timed(job, b"out", None, 60_000);
    let report = net.ledger.order(job).unwrap().report().unwrap().clone();
    assert_eq!(report.billable_ms, 60_000);
}

#[test]
fn a_preparing_lease_is_declined_freely_until_its_deadline_then_handed_back() {
    let mut net = Net::new(2);
    let stakes = net.stakes();
    // Past the usual decline window, within the image's time: declined.
    let declined = net.submit(pushed());
    let first = net.machine_of(declined);
    net.block(params().decline_window_ms + PREPARATION_MS / 2, &[]);
    net.decline(declined, "cannot fetch the image archive")
        .unwrap();
    let order = net.ledger.order(declined).unwrap().clone();
    assert_eq!(order.declines[0].machine, first);
    // Back to matching without that machine (where it outlived these
    // tests' five-second time to live in the queue).
    assert_eq!(order.status(), OrderStatus::Expired);
    assert_eq!(net.ledger.machine(first).unwrap().declined, 1);

    // Never started, never declined: handed back at its deadline.
    let silent = net.submit(pushed());
    let machine = net.machine_of(silent);
    let deadline = net
        .ledger
        .order(silent)
        .unwrap()
        .lease()
        .unwrap()
        .deadline_ms;
    let before = deadline - net.time - 1;
    net.block(before, &[]);
    assert_eq!(net.status(silent), OrderStatus::Preparing);
    net.block(1, &[]);
    let order = net.ledger.order(silent).unwrap().clone();
    assert_eq!(order.declines.len(), 1);
    assert_eq!(order.declines[0].machine, machine);
    assert!(
        order.declines[0].reason.contains("preparation deadline"),
        "{:?}",
        order.declines
    );
    assert_ne!(order.lease().map(|l| l.machine), Some(machine));
    assert_eq!(
        net.ledger.machine(machine).unwrap().declined,
        1 + u64::from(machine == first)
    );
    assert_eq!(net.stakes(), stakes, "nobody slashed");

    // Once started, only the usual window is left to decline in.
    let job = net.submit(pushed());
    start(&mut net, job).unwrap();
    net.block(params().decline_window_ms + 1, &[]);
    assert!(matches!(
        net.decline(job, "too late"),
        Err(TxError::DeclineTooLate { .. })
    ));
}

#[test]
fn a_preparing_rental_is_not_billed_and_a_preparing_order_ends_for_nothing() {
    let mut net = Net::new(2);
    let client = net.client.clone();
    let rent_pushed = |net: &mut Net| {
        let mut spec = pushed();
        spec.timeout_secs = 1_800;
        let deposit = gpunet_types::max_payment(PRICE, 1_800).unwrap();
        net.send(
            &client,
            TxBody::Rent {
                spec,
                max_price_per_hour: PRICE,
                deposit,
            },
        )
        .unwrap();
        (net.ledger.state().globals().next_order_id - 1, deposit)
    };
    let (rental, deposit) = rent_pushed(&mut net);
    assert_eq!(net.status(rental), OrderStatus::Preparing);
    net.block(4 * params().rental_billing_ms, &[]);
    let order = net.ledger.order(rental).unwrap().clone();
    assert_eq!(order.escrow, deposit, "nothing billed while preparing");
    assert!(order.rental().is_none());
    start(&mut net, rental).unwrap();
    let order = net.ledger.order(rental).unwrap().clone();
    let meter = order.rental().unwrap();
    assert_eq!(
        meter.ends_ms,
        net.time + 1_800_000,
        "all its time, from now"
    );
    assert_eq!(meter.paid_until_ms, net.time);

    // Ended while preparing: the whole deposit back, nothing paid.
    let (early, deposit) = rent_pushed(&mut net);
    let balance = net.ledger.account(&client.address()).balance;
    net.send(
        &client,
        TxBody::EndRental {
            order: early,
            save: false,
        },
    )
    .unwrap();
    let order = net.ledger.order(early).unwrap().clone();
    assert_eq!(order.status(), OrderStatus::Settled);
    let settlement = order.settlement().unwrap();
    assert_eq!(
        (
            settlement.paid_to_provider,
            settlement.burned,
            settlement.refunded
        ),
        (0, 0, deposit)
    );
    let fee = gpunet_types::Params::default().min_fee;
    assert_eq!(
        net.ledger.account(&client.address()).balance,
        balance + deposit - fee
    );

    // A job stopped while preparing: nothing ran, nothing paid.
    let job = net.submit(pushed());
    net.block(60_000, &[]);
    net.send(&client, TxBody::StopJob { order: job }).unwrap();
    let order = net.ledger.order(job).unwrap().clone();
    assert_eq!(order.status(), OrderStatus::Stopped);
    assert_eq!(order.settlement().unwrap().paid_to_provider, 0);
}
