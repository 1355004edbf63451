//! Ledger behaviour through signed transactions and blocks, as a node sees it.

use gpunet_ledger::{Ledger, TxError};
use gpunet_primitives::{
    GpuSpec, JobOutcome, JobSpec, Keypair, MachineSpec, Resources, SignedTx, TxBody, UNIT,
};
use gpunet_types::{Event, OrderStatus, Params};

#[macro_use]
mod common;
use common::{genesis, Chain};

/// The chain, with a funded client and provider.
struct Net(Chain);

deref_chain!(Net, 0);

fn params() -> Params {
    Params {
        dispute_window_ms: 1_000,
        report_grace_ms: 1_000,
        unbonding_ms: 5_000,
        // Hardware challenges have their own tests (tests/challenges.rs).
        hardware_challenges: false,
        ..Params::default()
    }
}

fn key(label: &str) -> Keypair {
    Keypair::from_label(label)
}

impl Net {
    fn new() -> Net {
        let validator = key("validator");
        let g = genesis(&validator, &[&key("client"), &key("provider")], params());
        Net(Chain::new(&g, validator))
    }

    fn submit(&mut self, signer: &Keypair, body: TxBody) -> Result<(), TxError> {
        self.send(signer, body)
    }
}

fn machine_spec(gpus: u32) -> MachineSpec {
    MachineSpec {
        cpu_cores: 8,
        memory_mb: 32_000,
        disk_mb: 100_000,
        gpu: (gpus > 0).then(|| GpuSpec {
            vendor: "nvidia".into(),
            model: "RTX 4090".into(),
            count: gpus,
            vram_mb: 24_000,
        }),
        region: "eu".into(),
        executor: "process".into(),
    }
}

fn job(timeout_secs: u64, gpus: u32) -> JobSpec {
    JobSpec {
        name: "j".into(),
        ..JobSpec::new(
            "busybox",
            vec!["true".into()],
            Resources::new(1, 100, 10).with_gpus(gpus),
            timeout_secs,
        )
    }
}

/// A provider with one 1-GPU machine priced at 3.6 GPN/hour (1 base unit per ms).
fn with_provider(net: &mut Net) {
    let p = key("provider");
    net.submit(&p, TxBody::Stake { amount: 200 * UNIT })
        .unwrap();
    net.submit(
        &p,
        TxBody::RegisterMachine {
            spec: machine_spec(1),
            price_per_hour: 3_600_000,
            resource_prices: Default::default(),
        },
    )
    .unwrap();
}

fn submit_job(net: &mut Net, timeout: u64) -> u64 {
    let id = net.ledger.state().globals().next_order_id;
    net.submit(
        &key("client"),
        TxBody::SubmitOrder {
            spec: job(timeout, 1),
            max_price_per_hour: 4 * UNIT,
            deposit: 100 * UNIT,
        },
    )
    .unwrap();
    id
}

#[test]
fn successful_job_pays_provider_burns_share_and_refunds_rest() {
    let mut net = Net::new();
    with_provider(&mut net);
    let client_before = net.ledger.account(&key("client").address()).balance;
    let provider_before = net.ledger.account(&key("provider").address()).balance;
    let id = submit_job(&mut net, 60);
    assert_eq!(
        net.ledger.order(id).unwrap().status(),
        OrderStatus::Running,
        "matched at the end of its block"
    );
    net.block(5_000, &[]);
    let outcome = JobOutcome::Completed {
        exit_code: 0,
        output_root: gpunet_primitives::Hash::digest(b"out"),
        output_bytes: 3,
        duration_ms: 2_000,
        stopped: None,
        held_by: gpunet_primitives::OutputHolder::Nodes,
    };
    net.submit(
        &key("provider"),
        TxBody::ReportResult { order: id, outcome },
    )
    .unwrap();
    assert_eq!(
        net.ledger.order(id).unwrap().status(),
        OrderStatus::Reported
    );
    net.block(1_000, &[]);
    let order = net.ledger.order(id).unwrap();
    assert_eq!(order.status(), OrderStatus::Settled);
    let s = order.settlement().cloned().unwrap();
    // 2000 ms at 1 unit/ms = 2000 units; 10% burned.
    assert_eq!(s.paid_to_provider + s.burned, 2_000);
    assert_eq!(s.burned, 200);
    assert_eq!(s.refunded, 100 * UNIT - 2_000);
    let fee = Params::default().min_fee;
    assert_eq!(
        net.ledger.account(&key("client").address()).balance,
        client_before - fee - 2_000
    );
    assert_eq!(
        net.ledger.account(&key("provider").address()).balance,
        provider_before - fee + 1_800
    );
    assert_eq!(net.ledger.state().globals().burned, 200);
    let m = net.ledger.machine(0).unwrap();
    assert_eq!((m.active_leases, m.completed, m.allocated.gpus), (0, 1, 0));
}

#[test]
fn billing_is_capped_by_block_time_elapsed() {
    let mut net = Net::new();
    with_provider(&mut net);
    let id = submit_job(&mut net, 60);
    let outcome = JobOutcome::Completed {
        exit_code: 0,
        output_root: Default::default(),
        output_bytes: 0,
        duration_ms: 59_000,
        stopped: None,
        held_by: gpunet_primitives::OutputHolder::Nodes,
    };
    net.submit(
        &key("provider"),
        TxBody::ReportResult { order: id, outcome },
    )
    .unwrap();
    assert_eq!(
        net.ledger.order(id).unwrap().report().unwrap().billable_ms,
        10,
        "only 10 ms of block time passed"
    );
}

#[test]
fn failed_job_refunds_client_and_slashes_provider() {
    let mut net = Net::new();
    with_provider(&mut net);
    let client_before = net.ledger.account(&key("client").address()).balance;
    let id = submit_job(&mut net, 60);
    net.submit(
        &key("provider"),
        TxBody::ReportResult {
            order: id,
            outcome: JobOutcome::Failed {
                reason: "boom".into(),
            },
        },
    )
    .unwrap();
    let order = net.ledger.order(id).unwrap();
    assert_eq!(order.status(), OrderStatus::Failed);
    assert_eq!(
        order.settlement().unwrap().slashed,
        Params::default().slash_failed
    );
    assert_eq!(
        net.ledger.account(&key("client").address()).balance,
        client_before - Params::default().min_fee
    );
    assert_eq!(
        net.ledger.account(&key("provider").address()).bonded,
        200 * UNIT - Params::default().slash_failed
    );
}

#[test]
fn missed_deadline_times_out_refunds_and_slashes() {
    let mut net = Net::new();
    with_provider(&mut net);
    let id = submit_job(&mut net, 2);
    net.block(2_000, &[]);
    assert_eq!(net.ledger.order(id).unwrap().status(), OrderStatus::Running);
    net.block(1_000, &[]);
    let order = net.ledger.order(id).unwrap();
    assert_eq!(order.status(), OrderStatus::TimedOut);
    assert_eq!(
        order.settlement().unwrap().slashed,
        Params::default().slash_timeout
    );
    let late = net.submit(
        &key("provider"),
        TxBody::ReportResult {
            order: id,
            outcome: JobOutcome::Failed {
                reason: "late".into(),
            },
        },
    );
    assert!(
        matches!(
            late,
            Err(TxError::WrongStatus {
                status: OrderStatus::TimedOut,
                ..
            })
        ),
        "{late:?}"
    );
}

#[test]
fn unmatched_order_expires_and_cancel_refunds() {
    let mut net = Net::new();
    let id = submit_job(&mut net, 60);
    assert_eq!(net.ledger.order(id).unwrap().status(), OrderStatus::Pending);
    let id2 = submit_job(&mut net, 60);
    net.submit(&key("client"), TxBody::CancelOrder { order: id2 })
        .unwrap();
    assert_eq!(
        net.ledger.order(id2).unwrap().status(),
        OrderStatus::Cancelled
    );
    net.block(Params::default().order_ttl_ms, &[]);
    assert_eq!(net.ledger.order(id).unwrap().status(), OrderStatus::Expired);
    assert_eq!(net.ledger.order(id).unwrap().escrow, 0);
}

#[test]
fn a_client_shares_its_result_with_other_accounts_and_stops_sharing_it() {
    let mut net = Net::new();
    let id = submit_job(&mut net, 60);
    let client = key("client");
    let share = |net: &mut Net, signer: &Keypair, reader: &str, shared: bool| {
        net.submit(
            signer,
            TxBody::ShareResult {
                order: id,
                reader: key(reader).address(),
                shared,
            },
        )
    };
    share(&mut net, &client, "zed", true).unwrap();
    share(&mut net, &client, "amy", true).unwrap();
    let readers = net.ledger.order(id).unwrap().result_readers.clone();
    let mut expected = vec![key("zed").address(), key("amy").address()];
    expected.sort();
    assert_eq!(readers, expected, "kept sorted");

    // Only the client shares; twice is an error, so is revoking what was not shared.
    let stranger = share(&mut net, &key("provider"), "provider", true);
    assert!(
        matches!(stranger, Err(TxError::NotYourOrder(_))),
        "{stranger:?}"
    );
    assert!(matches!(
        share(&mut net, &client, "amy", true),
        Err(TxError::AlreadyShared { .. })
    ));
    assert!(matches!(
        share(&mut net, &client, "nobody", false),
        Err(TxError::NotShared { .. })
    ));
    share(&mut net, &client, "amy", false).unwrap();
    assert_eq!(
        net.ledger.order(id).unwrap().result_readers,
        vec![key("zed").address()]
    );

    // At most 16 readers.
    for i in 1..16 {
        share(&mut net, &client, &format!("reader-{i}"), true).unwrap();
    }
    let full = share(&mut net, &client, "one-too-many", true);
    assert!(
        matches!(full, Err(TxError::TooManyReaders { max: 16, .. })),
        "{full:?}"
    );
    assert_eq!(net.ledger.order(id).unwrap().result_readers.len(), 16);
    net.ledger.check_invariants().unwrap();
}

#[test]
fn unstake_waits_for_unbonding_and_respects_machine_stake() {
    let mut net = Net::new();
    with_provider(&mut net);
    let p = key("provider");
    let too_much = net.submit(&p, TxBody::Unstake { amount: 1 });
    assert!(
        matches!(too_much, Err(TxError::InsufficientStake { .. })),
        "{too_much:?}"
    );
    net.submit(&p, TxBody::DeregisterMachine { machine: 0 })
        .unwrap();
    assert_eq!(
        net.events.last(),
        Some(&Event::MachineDeregistered {
            machine: 0,
            owner: p.address()
        }),
        "its agent learns it was removed"
    );
    let before = net.ledger.account(&p.address()).balance;
    net.submit(&p, TxBody::Unstake { amount: 200 * UNIT })
        .unwrap();
    assert_eq!(
        net.ledger.account(&p.address()).unbonding_total(),
        200 * UNIT
    );
    net.block(5_000, &[]);
    let a = net.ledger.account(&p.address());
    assert_eq!((a.bonded, a.unbonding_total()), (0, 0));
    assert_eq!(a.balance, before - Params::default().min_fee + 200 * UNIT);
}

#[test]
fn mempool_admission_checks_leave_the_ledger_unchanged() {
    let mut net = Net::new();
    let c = key("client");
    let transfer = TxBody::Transfer {
        to: key("x").address(),
        amount: 5,
    };
    let next = net.tx(&c, transfer.clone());
    let root = net.ledger.state_root();
    net.ledger.check_tx(&next).unwrap();
    // A later nonce waits behind the sender's earlier transactions: only its
    // envelope can be checked now.
    let mut later = next.tx.clone();
    later.nonce += 1;
    net.ledger.check_tx(&later.clone().sign(&c)).unwrap();
    later.fee = 0;
    assert_eq!(
        net.ledger
            .check_tx(&later.sign(&c))
            .map_err(|e| e.code().as_str()),
        Err("fee_too_low")
    );
    assert_eq!(net.ledger.state_root(), root);
    assert_eq!(net.ledger.account(&c.address()).nonce, next.tx.nonce);
    net.block(10, std::slice::from_ref(&next))[0]
        .clone()
        .unwrap();
    assert_eq!(
        net.ledger.check_tx(&next).map_err(|e| e.code().as_str()),
        Err("bad_nonce"),
        "a replay is refused at admission"
    );
}

#[test]
fn bad_transactions_are_rejected_and_change_nothing() {
    let mut net = Net::new();
    with_provider(&mut net);
    let c = key("client");
    let good = net.tx(
        &c,
        TxBody::Transfer {
            to: key("x").address(),
            amount: 5,
        },
    );
    let mut forged = good.clone();
    forged.tx.body = TxBody::Transfer {
        to: key("x").address(),
        amount: 500,
    };
    let mut wrong_chain = good.clone();
    wrong_chain.tx.chain_id = "other".into();
    let wrong_chain = wrong_chain.tx.sign(&c);
    let poor = net.tx(
        &key("nobody"),
        TxBody::Transfer {
            to: c.address(),
            amount: 1,
        },
    );
    let overflow = net.tx(
        &c,
        TxBody::Transfer {
            to: c.address(),
            amount: u128::MAX,
        },
    );
    let mut low_fee = good.tx.clone();
    low_fee.fee = 0;
    let low_fee = low_fee.sign(&c);
    let cases: Vec<(SignedTx, &str)> = vec![
        (forged, "bad_signature"),
        (wrong_chain, "wrong_chain"),
        (poor, "insufficient_funds"),
        (overflow, "insufficient_funds"),
        (low_fee, "fee_too_low"),
        (
            net.tx(
                &c,
                TxBody::UpdateMachine {
                    machine: 0,
                    price_per_hour: 1,
                    resource_prices: Default::default(),
                    online: true,
                },
            ),
            "not_your_machine",
        ),
        (
            net.tx(
                &c,
                TxBody::UpdateMachine {
                    machine: 99,
                    price_per_hour: 1,
                    resource_prices: Default::default(),
                    online: true,
                },
            ),
            "unknown_machine",
        ),
        (
            net.tx(&c, TxBody::CancelOrder { order: 42 }),
            "unknown_order",
        ),
        (
            net.tx(
                &c,
                TxBody::SubmitOrder {
                    spec: job(60, 17),
                    max_price_per_hour: 1,
                    deposit: UNIT,
                },
            ),
            "impossible_spec",
        ),
        (
            net.tx(
                &c,
                TxBody::SubmitOrder {
                    spec: job(0, 0),
                    max_price_per_hour: 1,
                    deposit: UNIT,
                },
            ),
            "impossible_spec",
        ),
        (
            net.tx(
                &c,
                TxBody::SubmitOrder {
                    spec: job(60, 0),
                    max_price_per_hour: u128::MAX,
                    deposit: UNIT,
                },
            ),
            "overflow",
        ),
        (
            net.tx(
                &c,
                TxBody::SubmitOrder {
                    spec: job(3600, 0),
                    max_price_per_hour: 10 * UNIT,
                    deposit: UNIT,
                },
            ),
            "deposit_too_small",
        ),
    ];
    for (tx, code) in cases {
        let root = net.ledger.state_root();
        let client = net.ledger.account(&c.address());
        // A mempool's admission check gives the same answer as execution.
        assert_eq!(
            net.ledger.check_tx(&tx).map_err(|e| e.code().as_str()),
            Err(code)
        );
        let r = net.block(10, std::slice::from_ref(&tx)).remove(0);
        assert_eq!(
            r.as_ref().map_err(|e| e.code().as_str()),
            Err(code),
            "{:?}",
            tx.tx.body
        );
        assert_eq!(
            net.ledger.account(&c.address()),
            client,
            "rejected tx changed the sender"
        );
        assert_eq!(
            net.ledger.state_root(),
            root,
            "rejected tx changed the state"
        );
        assert!(net.ledger.receipt(&tx.hash()).is_none());
    }
    // The good one goes through once; its replay is refused.
    assert_eq!(net.block(10, std::slice::from_ref(&good)).remove(0), Ok(()));
    let replay = net.block(10, &[good]).remove(0);
    assert!(
        matches!(
            replay,
            Err(TxError::BadNonce {
                expected: 2,
                got: 1
            }) | Err(TxError::BadNonce { .. })
        ),
        "{replay:?}"
    );
}

#[test]
fn restart_resumes_with_the_same_state_root_and_refuses_other_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.redb");
    let validator = key("validator");
    let g = genesis(&validator, &[&key("client"), &key("provider")], params());
    let (root, height) = {
        let mut net = Net(Chain::new(&g, validator.clone()));
        net.ledger = Ledger::open(Some(&path), &g).unwrap();
        with_provider(&mut net);
        submit_job(&mut net, 60);
        (net.ledger.state_root(), net.ledger.head().height)
    };
    let reopened = Ledger::open(Some(&path), &g).unwrap();
    assert_eq!(reopened.state_root(), root);
    assert_eq!(reopened.head().height, height);
    assert_eq!(
        reopened.block(height).unwrap().unwrap().header.state_root,
        root
    );
    assert_eq!(reopened.order(0).unwrap().status(), OrderStatus::Running);
    drop(reopened);
    let mut other = g.clone();
    other.chain_id = "other".into();
    assert!(Ledger::open(Some(&path), &other).is_err());
}

#[test]
fn a_follower_applies_produced_blocks_to_the_same_root_and_rejects_tampered_ones() {
    let mut net = Net::new();
    let validator = key("validator");
    let mut follower = Ledger::open(
        None,
        &genesis(&validator, &[&key("client"), &key("provider")], params()),
    )
    .unwrap();
    with_provider(&mut net);
    submit_job(&mut net, 60);
    for h in 1..=net.ledger.head().height {
        let block = net.ledger.block(h).unwrap().unwrap();
        if h == 2 {
            let mut bad = block.clone();
            bad.header.state_root = gpunet_primitives::Hash::digest(b"lie");
            let root = follower.state_root();
            assert!(follower.check_block(&bad).is_err());
            assert!(follower.apply_block(&bad).is_err());
            assert_eq!(follower.state_root(), root);
        }
        if !block.txs.is_empty() {
            // The checked block's header with other transactions is not the
            // checked block: it is executed, and refused, not replayed.
            follower.check_block(&block).unwrap();
            let mut swapped = block.clone();
            swapped.txs.pop();
            let root = follower.state_root();
            assert!(follower.apply_block(&swapped).is_err());
            assert_eq!(follower.state_root(), root);
        }
        // Committing the block last checked replays its writes.
        follower.check_block(&block).unwrap();
        follower.apply_block(&block).unwrap();
    }
    assert_eq!(follower.state_root(), net.ledger.state_root());
}
