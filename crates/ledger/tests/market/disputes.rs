//! Client disputes: a referee run decides between the client and the provider.

use crate::net::*;
use gpunet_ledger::{Covers, TxError, Wanted};
use gpunet_primitives::{Hash, TxBody};
use gpunet_types::{AuditVerdict, OrderStatus};

#[test]
fn a_canary_dispute_catches_a_faked_result_even_on_a_non_deterministic_job() {
    let mut net = Net::new(3);
    let client = net.client.address();
    let funds = net.ledger.account(&client).balance;
    let job = net.submit(spec(false, 0));
    let cheat = net.provider_of(job);
    let stake = net.bonded(&cheat);
    net.report(job, b"skipped the work");
    net.dispute(job, b"known answer").unwrap();
    assert_eq!(net.status(job), OrderStatus::Auditing);
    let run = net.referee(job);
    assert!(
        ![cheat.address(), client].contains(&lessee(&net, run)),
        "the referee is neither party"
    );
    net.report(run, b"known answer");
    assert_eq!(net.verdict(job), Some(AuditVerdict::ProviderWrong));
    assert_eq!(net.status(job), OrderStatus::Failed);
    assert_eq!(net.bonded(&cheat), stake - params().slash_audit);
    let m = net.ledger.machine(net.machine_of(job)).unwrap();
    assert_eq!((m.completed, m.failed), (0, 1));
    net.block(params().dispute_window_ms, &[]);
    let referee = net.ledger.order(run).unwrap().clone();
    assert_eq!(referee.status(), OrderStatus::Settled);
    let s = referee.settlement().unwrap();
    assert!(s.paid_to_provider > 0, "the referee is paid");
    assert_eq!(
        net.ledger.account(&client).balance,
        funds - 2 * params().min_fee,
        "the job refunded, the referee repaid out of the cheat's stake: only fees spent"
    );
    let burned = net.ledger.state().globals().slashed;
    assert_eq!(
        burned,
        params().slash_audit - s.paid_to_provider - s.burned,
        "the rest of the slash is burned"
    );
}

#[test]
fn a_dispute_the_referee_rejects_pays_the_provider_and_costs_the_client_the_referee() {
    let mut net = Net::new(3);
    let client = net.client.address();
    let funds = net.ledger.account(&client).balance;
    let job = net.submit(spec(false, 0));
    let honest = net.provider_of(job);
    let stakes = net.stakes();
    net.report(job, b"true output");
    net.dispute(job, b"a griefer's claim").unwrap();
    let run = net.referee(job);
    net.report(run, b"true output");
    assert_eq!(net.verdict(job), Some(AuditVerdict::DisputeRejected));
    net.block(params().dispute_window_ms, &[]);
    let order = net.ledger.order(job).unwrap().clone();
    assert_eq!(order.status(), OrderStatus::Settled);
    let paid = order.settlement().unwrap();
    assert!(paid.paid_to_provider > 0);
    assert_eq!(lessee(&net, job), honest.address());
    assert_eq!(net.stakes(), stakes, "nobody slashed");
    let referee = net
        .ledger
        .order(run)
        .unwrap()
        .settlement()
        .cloned()
        .unwrap();
    assert_eq!(
        net.ledger.account(&client).balance,
        funds
            - 2 * params().min_fee
            - (paid.paid_to_provider + paid.burned)
            - (referee.paid_to_provider + referee.burned),
        "the client paid the job and the referee"
    );
}

#[test]
fn a_dispute_with_no_agreeing_referee_is_inconclusive_and_the_provider_paid() {
    let mut net = Net::new(3);
    let job = net.submit(spec(false, 0));
    net.report(job, b"one output");
    net.dispute(job, b"another").unwrap();
    let run = net.referee(job);
    net.report(run, b"a third");
    assert_eq!(net.verdict(job), Some(AuditVerdict::Inconclusive));
    net.block(params().dispute_window_ms, &[]);
    assert_eq!(net.status(job), OrderStatus::Settled);
}

#[test]
fn only_the_client_disputes_and_only_a_reported_result_in_its_window() {
    let mut net = Net::new(3);
    let job = net.submit(spec(false, 0));
    assert!(
        matches!(
            net.dispute(job, b"x"),
            Err(TxError::WrongStatus {
                wanted: Wanted::Disputable,
                ..
            })
        ),
        "running: nothing reported yet"
    );
    net.report(job, b"out");
    let provider = net.provider_of(job);
    let deposit = gpunet_types::max_payment(PRICE, 60).unwrap();
    let body = |expected: &[u8], deposit| TxBody::DisputeResult {
        order: job,
        expected_root: Hash::digest(expected),
        deposit,
    };
    assert!(matches!(
        net.send(&provider, body(b"x", deposit)),
        Err(TxError::NotYourOrder(_))
    ));
    let client = net.client.clone();
    assert!(
        matches!(
            net.send(&client, body(b"x", deposit - 1)),
            Err(TxError::DepositTooSmall {
                covers: Covers::Referee,
                ..
            })
        ),
        "too small a deposit"
    );
    assert_eq!(net.status(job), OrderStatus::Reported);
    net.block(params().dispute_window_ms, &[]);
    assert_eq!(net.status(job), OrderStatus::Settled);
    assert!(
        matches!(
            net.dispute(job, b"x"),
            Err(TxError::WrongStatus {
                status: OrderStatus::Settled,
                ..
            })
        ),
        "too late"
    );

    // An audit run is not disputed itself.
    let audited = net.submit(spec(true, 10_000));
    net.report(audited, b"out");
    let run = net.end_dispute_window(audited).unwrap();
    net.report(run, b"out");
    assert!(matches!(
        net.dispute(run, b"x"),
        Err(TxError::AuditRun { .. })
    ));
    assert!(
        matches!(net.dispute(audited, b"x"), Err(TxError::AlreadyAudited(_))),
        "audited already"
    );
}
