//! Rentals: streamed billing, renewals, ending early, probes and ports.

use crate::net::*;
use gpunet_ledger::{Covers, TxError};
use gpunet_primitives::{ContainerStop, JobOutcome, JobSpec, TxBody, UNIT};
use gpunet_types::{Event, OrderStatus};

#[test]
fn a_rental_streams_escrow_and_closes_cleanly_when_its_time_runs_out() {
    let mut net = Net::new(1);
    let provider = net.providers[0].address();
    let hour_cost = PRICE; // 36 GPN for an hour at the machine's price
    let id = rent(&mut net, 3_600, hour_cost + UNIT).unwrap();
    assert_eq!(net.status(id), OrderStatus::Running);
    let start = net
        .ledger
        .order(id)
        .unwrap()
        .lease()
        .cloned()
        .unwrap()
        .start_ms;
    let balance = |net: &Net| net.ledger.account(&provider).balance;
    let before = balance(&net);

    // Half an hour later, half the price has streamed (90 % to the provider).
    let wait = 1_800_000 - (net.time - start);
    net.block(wait, &[]);
    let streamed = balance(&net) - before;
    assert_eq!(streamed, hour_cost / 2 * 9 / 10);
    assert_eq!(net.status(id), OrderStatus::Running);

    // At the end it closes by itself: the rest streamed, the surplus refunded.
    net.block(1_800_000 + params().rental_billing_ms, &[]);
    let order = net.ledger.order(id).unwrap().clone();
    assert_eq!(order.status(), OrderStatus::Settled);
    let s = order.settlement().unwrap();
    assert_eq!(
        s.paid_to_provider + s.burned,
        hour_cost,
        "exactly the rented hour"
    );
    assert_eq!(s.refunded, UNIT);
    assert_eq!(balance(&net) - before, s.paid_to_provider);
    let machine = net.ledger.machines().next().unwrap();
    assert_eq!(
        (machine.active_leases, machine.allocated.cpu_cores),
        (0, 0),
        "freed"
    );
    assert!(net
        .events
        .iter()
        .any(|e| matches!(e, Event::RentalEnded { order, .. } if *order == id)));
}

#[test]
fn renewals_extend_a_rental_and_ending_early_refunds_the_unused_part() {
    let mut net = Net::new(1);
    let ten_minutes = gpunet_types::max_payment(PRICE, 600).unwrap();
    let id = rent(&mut net, 600, ten_minutes).unwrap();
    let client = net.client.clone();
    // Renewal without enough deposit is refused; with it, the end moves.
    assert!(matches!(
        net.send(
            &client,
            TxBody::RenewRental {
                order: id,
                extra_secs: 600,
                deposit: ten_minutes - 1
            }
        ),
        Err(TxError::DepositTooSmall {
            covers: Covers::Renewal { secs: 600 },
            ..
        })
    ));
    let ends = net
        .ledger
        .order(id)
        .unwrap()
        .rental()
        .cloned()
        .unwrap()
        .ends_ms;
    net.send(
        &client,
        TxBody::RenewRental {
            order: id,
            extra_secs: 600,
            deposit: ten_minutes,
        },
    )
    .unwrap();
    let rental = net.ledger.order(id).unwrap().rental().cloned().unwrap();
    assert_eq!(rental.ends_ms, ends + 600_000);
    // Past the original end it still runs.
    net.block(700_000, &[]);
    assert_eq!(net.status(id), OrderStatus::Running);
    let start = net
        .ledger
        .order(id)
        .unwrap()
        .lease()
        .cloned()
        .unwrap()
        .start_ms;
    net.send(
        &client,
        TxBody::EndRental {
            order: id,
            save: false,
        },
    )
    .unwrap();
    let order = net.ledger.order(id).unwrap().clone();
    assert_eq!(order.status(), OrderStatus::Settled);
    let s = order.settlement().unwrap();
    let used_ms = s.settled_ms - start;
    assert_eq!(
        s.paid_to_provider + s.burned,
        PRICE * u128::from(used_ms) / 3_600_000
    );
    assert_eq!(s.paid_to_provider + s.burned + s.refunded, 2 * ten_minutes);
    assert!(matches!(
        net.send(
            &client,
            TxBody::EndRental {
                order: id,
                save: false
            }
        ),
        Err(TxError::WrongStatus {
            status: OrderStatus::Settled,
            ..
        })
    ));
}

#[test]
fn a_rental_whose_container_stops_ends_billed_to_then_and_a_pending_one_can_be_ended() {
    let mut net = Net::new(1);
    let hour = gpunet_types::max_payment(PRICE, 3_600).unwrap();
    let id = rent(&mut net, 3_600, hour).unwrap();
    let provider = net.provider_of(id);
    net.block(60_000, &[]);
    let client = net.client.clone();
    // Only its provider says the container stopped.
    assert!(matches!(
        net.send(
            &client,
            TxBody::RentalStopped {
                order: id,
                how: ContainerStop::Exited { exit_code: 3 }
            }
        ),
        Err(TxError::NotYourLease(_))
    ));
    net.send(
        &provider,
        TxBody::RentalStopped {
            order: id,
            how: ContainerStop::Exited { exit_code: 3 },
        },
    )
    .unwrap();
    let order = net.ledger.order(id).unwrap().clone();
    assert_eq!(order.status(), OrderStatus::Settled);
    let rental = order.rental().unwrap();
    assert_eq!(rental.stopped, Some(ContainerStop::Exited { exit_code: 3 }));
    let s = order.settlement().unwrap();
    let used = gpunet_types::max_payment(PRICE, 60).unwrap();
    assert!(s.paid_to_provider + s.burned <= used + used / 10, "{s:?}");
    assert_eq!(s.refunded + s.paid_to_provider + s.burned, hour);
    // Billing stopped with it: time passing bills nothing more.
    net.block(rental_billing_ms() * 3, &[]);
    assert_eq!(net.ledger.order(id).unwrap().settlement().unwrap(), s);

    // A rental no machine can take is ended (cancelled) whole.
    let mut huge = spec(false, 0);
    huge.resources.cpu_cores = 64;
    huge.timeout_secs = 3_600;
    let funds = net.ledger.account(&client.address()).balance;
    net.send(
        &client,
        TxBody::Rent {
            spec: huge,
            max_price_per_hour: PRICE,
            deposit: hour,
        },
    )
    .unwrap();
    let pending = net.ledger.state().globals().next_order_id - 1;
    assert_eq!(net.status(pending), OrderStatus::Pending);
    net.send(
        &client,
        TxBody::EndRental {
            order: pending,
            save: false,
        },
    )
    .unwrap();
    assert_eq!(net.status(pending), OrderStatus::Cancelled);
    assert_eq!(
        net.ledger.account(&client.address()).balance,
        funds - 2 * params().min_fee,
        "the whole deposit came back"
    );
}

#[test]
fn bad_rental_requests_are_refused() {
    let mut net = Net::new(2);
    let hour = gpunet_types::max_payment(PRICE, 3_600).unwrap();
    assert!(matches!(
        rent(&mut net, 3_600, hour - 1),
        Err(TxError::DepositTooSmall { .. })
    ));
    let id = rent(&mut net, 3_600, hour).unwrap();
    let provider = net.provider_of(id);
    // A rental has no result to report, and only its renter renews or ends it.
    assert!(matches!(
        net.send(
            &provider,
            TxBody::ReportResult {
                order: id,
                outcome: JobOutcome::Failed { reason: "x".into() }
            }
        ),
        Err(TxError::RentalHasNoResult(_))
    ));
    assert!(matches!(
        net.send(
            &provider,
            TxBody::EndRental {
                order: id,
                save: false
            }
        ),
        Err(TxError::NotYourOrder(_))
    ));
    let job = net.submit(spec(false, 0));
    let client = net.client.clone();
    assert!(matches!(
        net.send(
            &client,
            TxBody::EndRental {
                order: job,
                save: false
            }
        ),
        Err(TxError::NotARental(_))
    ));
    let mut audited = spec(true, 100);
    audited.timeout_secs = 60;
    assert!(matches!(
        net.send(
            &client,
            TxBody::Rent {
                spec: audited,
                max_price_per_hour: PRICE,
                deposit: hour,
            }
        ),
        Err(TxError::ImpossibleSpec(_))
    ));
}

#[test]
fn a_rental_ended_under_an_open_probe_is_billed_to_its_end() {
    let mut net = Net::new(1);
    let client = net.client.clone();
    let hour = gpunet_types::max_payment(PRICE, 3_600).unwrap();
    let id = rent(&mut net, 3_600, hour).unwrap();
    net.block(600_000, &[]);
    net.send(&client, TxBody::ReportOffline { order: id })
        .unwrap();
    net.block(params().probe_answer_ms / 2, &[]);
    net.send(
        &client,
        TxBody::EndRental {
            order: id,
            save: false,
        },
    )
    .unwrap();
    let order = net.ledger.order(id).unwrap().clone();
    let start = order.lease().unwrap().start_ms;
    let s = order.settlement().unwrap();
    assert_eq!(
        s.paid_to_provider + s.burned,
        PRICE * u128::from(s.settled_ms - start) / 3_600_000,
        "the report did not take the last minutes off the bill"
    );
    assert!(net.ledger.state().probe_deadlines.is_empty());
}

#[test]
fn an_offline_rented_machine_is_held_down_unbilled_and_slashed_by_the_hour() {
    let mut net = Net::new(1);
    let provider = net.providers[0].clone();
    let client = net.client.clone();
    let hours = |h: u64| h * 3_600_000;
    let deposit = gpunet_types::max_payment(PRICE, 5 * 3_600).unwrap();
    let id = rent(&mut net, 5 * 3_600, deposit).unwrap();
    let probe = params().probe_answer_ms;

    // A false alarm: the provider answers in time; nothing happens to it.
    let stake = net.bonded(&provider);
    net.send(&client, TxBody::ReportOffline { order: id })
        .unwrap();
    assert!(matches!(
        net.send(&client, TxBody::ReportOffline { order: id }),
        Err(TxError::AlreadyProbed(_))
    ));
    net.send(&provider, TxBody::AnswerProbe { order: id })
        .unwrap();
    net.block(probe + 1, &[]);
    assert_eq!(net.bonded(&provider), stake);
    assert!(net.ledger.machines().next().unwrap().online);

    // Really down: unanswered, the machine is held down and delisted, down
    // since the report, and billed no further than that.
    net.send(&client, TxBody::ReportOffline { order: id })
        .unwrap();
    let rental = net.ledger.order(id).unwrap().rental().cloned().unwrap();
    let reported_ms = rental.probe.unwrap().reported_ms;
    net.block(probe + 1, &[]);
    let machine = net.ledger.machines().next().unwrap().clone();
    assert!(!machine.online, "delisted while down");
    let rental = net.ledger.order(id).unwrap().rental().cloned().unwrap();
    assert_eq!(rental.down_since_ms, Some(reported_ms), "held down");
    assert!(rental.paid_until_ms <= reported_ms, "{rental:?}");
    let paid_while_up = rental.paid + rental.burned;
    // Two and a half hours later nothing more was billed.
    net.block(hours(2) + hours(1) / 2, &[]);
    let rental = net.ledger.order(id).unwrap().rental().cloned().unwrap();
    assert_eq!(
        rental.paid + rental.burned,
        paid_while_up,
        "downtime is not billed"
    );
    // It answers again: slashed for three started hours, listed again.
    net.send(&provider, TxBody::AnswerProbe { order: id })
        .unwrap();
    let per_hour = params().slash_down_per_hour;
    assert_eq!(net.bonded(&provider), stake - 3 * per_hour);
    assert!(net.ledger.machines().next().unwrap().online);
    let rental = net.ledger.order(id).unwrap().rental().cloned().unwrap();
    let down_ms = rental.down_ms;
    assert!(down_ms >= hours(2) + hours(1) / 2 + probe && rental.down_since_ms.is_none());
    assert!(net.events.iter().any(|e| matches!(
        e,
        Event::MachineBackUp { slashed, .. } if *slashed == 3 * per_hour
    )));

    // At the end the renter paid only for the time the machine was up.
    net.block(hours(5), &[]);
    let order = net.ledger.order(id).unwrap().clone();
    assert_eq!(order.status(), OrderStatus::Settled);
    let s = order.settlement().unwrap();
    assert_eq!(
        s.paid_to_provider + s.burned,
        PRICE * u128::from(hours(5) - down_ms) / 3_600_000
    );
    assert_eq!(s.slashed, 3 * per_hour);
    assert_eq!(s.paid_to_provider + s.burned + s.refunded, deposit);
}

#[test]
fn a_rental_exposes_ports_its_provider_announces_and_jobs_cannot_expose_any() {
    let mut net = Net::new(2);
    let client = net.client.clone();
    let ten_minutes = gpunet_types::max_payment(PRICE, 600).unwrap();
    let mut exposed = spec(false, 0);
    exposed.timeout_secs = 600;
    exposed.ports = vec![8888, 22];
    let rent_with = |net: &mut Net, spec: JobSpec| {
        net.send(
            &client,
            TxBody::Rent {
                spec,
                max_price_per_hour: PRICE,
                deposit: ten_minutes,
            },
        )
    };
    let impossible = |r: Result<(), TxError>| matches!(r, Err(TxError::ImpossibleSpec(_)));
    assert!(
        impossible(rent_with(&mut net, exposed.clone())),
        "no network"
    );
    exposed.network = true;
    for ports in [vec![8888, 8888], vec![0], (1..=17).collect()] {
        let bad = JobSpec {
            ports,
            ..exposed.clone()
        };
        assert!(impossible(rent_with(&mut net, bad)));
    }
    let job = TxBody::SubmitOrder {
        spec: exposed.clone(),
        max_price_per_hour: PRICE,
        deposit: ten_minutes,
    };
    assert!(impossible(net.send(&client, job)), "jobs expose no ports");

    rent_with(&mut net, exposed).unwrap();
    let id = net.ledger.state().globals().next_order_id - 1;
    let provider = net.provider_of(id);
    let announce = |endpoints: &[&str]| TxBody::AnnounceEndpoints {
        order: id,
        endpoints: endpoints.iter().map(|e| e.to_string()).collect(),
    };
    assert!(
        matches!(
            net.send(&provider, announce(&["h:1"])),
            Err(TxError::EndpointCount {
                ports: 2,
                endpoints: 1,
                ..
            })
        ),
        "one endpoint per port"
    );
    assert!(matches!(
        net.send(&client, announce(&["h:1", "h:2"])),
        Err(TxError::NotYourLease(_))
    ));
    let long = "h".repeat(300);
    assert!(matches!(
        net.send(&provider, announce(&["h:1", &long])),
        Err(TxError::BadEndpoint { .. })
    ));
    net.send(
        &provider,
        announce(&["203.0.113.5:32768", "203.0.113.5:32769"]),
    )
    .unwrap();
    let rental = net.ledger.order(id).unwrap().rental().cloned().unwrap();
    assert_eq!(rental.endpoints, ["203.0.113.5:32768", "203.0.113.5:32769"]);
    assert!(net
        .events
        .iter()
        .any(|e| matches!(e, Event::EndpointsAnnounced { order, .. } if *order == id)));
    // Handed to another machine, the old endpoints are gone.
    net.decline(id, "image missing").unwrap();
    let rental = net.ledger.order(id).unwrap().rental().cloned().unwrap();
    assert!(rental.endpoints.is_empty());
}
