//! Property tests: ledger invariants hold after every block of random transaction
//! sequences (valid and invalid), and identical sequences give identical roots.

use gpunet_ledger::{Genesis, GenesisAccount, Ledger};
use gpunet_primitives::{
    DoubleSign, GpuSpec, Hash, JobOutcome, JobSpec, Keypair, MachineSpec, OutputHolder, Resources,
    SignedTx, SignedVote, Stop, Tx, TxBody, Vote, VoteKind, WorkspaceSave, UNIT,
};
use gpunet_types::{OrderStatus, Params};
use proptest::prelude::*;

const ACTORS: usize = 4;

#[derive(Debug, Clone)]
enum Op {
    Transfer {
        from: usize,
        to: usize,
        amount: u128,
    },
    Stake {
        who: usize,
        amount: u128,
    },
    Unstake {
        who: usize,
        amount: u128,
    },
    Register {
        who: usize,
        gpus: u32,
        price: u128,
    },
    Deregister {
        who: usize,
        machine: u64,
    },
    Submit {
        who: usize,
        gpus: u32,
        timeout: u64,
        max_price: u128,
        deposit: u128,
        /// Audit probability (basis points); audited specs are deterministic.
        audit_bps: u32,
    },
    Cancel {
        who: usize,
        order: u64,
    },
    Stop {
        who: usize,
        order: u64,
    },
    Share {
        who: usize,
        order: u64,
        reader: usize,
        shared: bool,
    },
    Complete {
        who: usize,
        order: u64,
        duration_ms: u64,
        /// Which of four outputs it reports, so audits see both agreement and
        /// mismatch: 2 and 3 are runs stopped at their timeout, whose partial
        /// outputs differ but which agree.
        output: u8,
    },
    Fail {
        who: usize,
        order: u64,
    },
    /// The lease's provider hands it back (jobs, rentals and audit runs).
    Decline {
        order: u64,
    },
    /// The order's client disputes its result, expecting one of the two outputs.
    Dispute {
        order: u64,
        output: u8,
    },
    BadNonce {
        who: usize,
    },
    Wait {
        ms: u64,
    },
    Rent {
        who: usize,
        secs: u64,
        save_on_end: bool,
    },
    Renew {
        order: u64,
        secs: u64,
    },
    EndRental {
        order: u64,
        save: bool,
    },
    /// The lease's provider reports the rental's workspace saved, or not.
    ReportWorkspace {
        order: u64,
        saved: bool,
    },
    ReportOffline {
        order: u64,
    },
    AnswerProbe {
        order: u64,
    },
    /// The lease's provider says where the rental's port is reached.
    Announce {
        order: u64,
    },
    BondValidator {
        who: usize,
        amount: u128,
    },
    UnbondValidator {
        who: usize,
        amount: u128,
    },
    /// `who` reports `offender` for two conflicting votes at height 1.
    ReportDoubleSign {
        who: usize,
        offender: usize,
    },
}

fn amount() -> impl Strategy<Value = u128> {
    prop_oneof![
        0..1_000u128,
        (0..2_000u128).prop_map(|x| x * UNIT),
        Just(u128::MAX),
        Just(u128::MAX / 2)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0..ACTORS;
    prop_oneof![
        1 => (who.clone(), 0..ACTORS, amount()).prop_map(|(from, to, amount)| Op::Transfer {
            from,
            to,
            amount
        }),
        1 => (who.clone(), amount()).prop_map(|(who, amount)| Op::Stake { who, amount }),
        1 => (who.clone(), amount()).prop_map(|(who, amount)| Op::Unstake { who, amount }),
        1 => (who.clone(), 0..3u32, 0..10_000_000u128).prop_map(|(who, gpus, price)| Op::Register {
            who,
            gpus,
            price
        }),
        1 => (who.clone(), 0..6u64).prop_map(|(who, machine)| Op::Deregister { who, machine }),
        // Mostly well-funded orders at a price machines accept, so the market
        // moves; the random ones test every way a submission can be refused.
        4 => (who.clone(), 0..3u32, 1..30u64, prop_oneof![Just(0u32), Just(5_000), Just(10_000)])
            .prop_map(|(who, gpus, timeout, audit_bps)| {
                let max_price = 2 * UNIT;
                let deposit = 3 * gpunet_types::max_payment(max_price, timeout).unwrap();
                Op::Submit { who, gpus, timeout, max_price, deposit, audit_bps }
            }),
        1 => (
            who.clone(),
            0..3u32,
            1..30u64,
            0..20_000_000u128,
            amount(),
            prop_oneof![Just(0u32), Just(5_000), Just(10_000)]
        )
            .prop_map(
                |(who, gpus, timeout, max_price, deposit, audit_bps)| Op::Submit {
                    who,
                    gpus,
                    timeout,
                    max_price,
                    deposit,
                    audit_bps,
                }
            ),
        1 => (who.clone(), 0..10u64).prop_map(|(who, order)| Op::Cancel { who, order }),
        1 => (who.clone(), 0..10u64).prop_map(|(who, order)| Op::Stop { who, order }),
        1 => (who.clone(), 0..10u64, who.clone(), any::<bool>()).prop_map(
            |(who, order, reader, shared)| Op::Share { who, order, reader, shared }
        ),
        6 => (who.clone(), 0..24u64, 0..40_000u64, 0..4u8).prop_map(
            |(who, order, duration_ms, output)| Op::Complete {
                who,
                order,
                duration_ms,
                output,
            }
        ),
        1 => (who.clone(), 0..10u64).prop_map(|(who, order)| Op::Fail { who, order }),
        1 => (0..24u64).prop_map(|order| Op::Decline { order }),
        1 => (0..24u64, 0..2u8).prop_map(|(order, output)| Op::Dispute { order, output }),
        1 => who.clone().prop_map(|who| Op::BadNonce { who }),
        3 => (1..5_000u64).prop_map(|ms| Op::Wait { ms }),
        2 => (who.clone(), 1..20u64, any::<bool>()).prop_map(|(who, secs, save_on_end)| Op::Rent {
            who,
            secs,
            save_on_end
        }),
        1 => (0..24u64, 1..20u64).prop_map(|(order, secs)| Op::Renew { order, secs }),
        1 => (0..24u64, any::<bool>()).prop_map(|(order, save)| Op::EndRental { order, save }),
        1 => (0..24u64, any::<bool>()).prop_map(|(order, saved)| Op::ReportWorkspace { order, saved }),
        1 => (0..24u64).prop_map(|order| Op::ReportOffline { order }),
        1 => (0..24u64).prop_map(|order| Op::AnswerProbe { order }),
        1 => (0..24u64).prop_map(|order| Op::Announce { order }),
        1 => (who.clone(), prop_oneof![amount(), (1..3u128).prop_map(|n| n * 1_000 * UNIT)])
            .prop_map(|(who, amount)| Op::BondValidator { who, amount }),
        1 => (who.clone(), amount()).prop_map(|(who, amount)| Op::UnbondValidator { who, amount }),
        1 => (who, 0..ACTORS).prop_map(|(who, offender)| Op::ReportDoubleSign { who, offender }),
    ]
}

fn keys() -> Vec<Keypair> {
    (0..ACTORS)
        .map(|i| Keypair::from_label(&format!("actor{i}")))
        .collect()
}

fn genesis(validator: &Keypair) -> Genesis {
    Genesis {
        chain_id: "prop".into(),
        genesis_time_ms: 0,
        accounts: keys()
            .iter()
            .map(|k| GenesisAccount {
                address: k.address(),
                balance: 1_000 * UNIT,
            })
            .collect(),
        validators: vec![validator.address()],
        params: Params {
            dispute_window_ms: 3_000,
            report_grace_ms: 2_000,
            unbonding_ms: 10_000,
            order_ttl_ms: 30_000,
            // Machines are eligible at once, so orders get matched; hardware
            // challenges have their own tests (tests/challenges.rs).
            hardware_challenges: false,
            // Low, so that orders also close declined, not only go back to matching.
            max_declines: 2,
            // Runs here report up to 40 s: a small slack lets duration
            // checks find some of them padded.
            duration_slack_ms: 1_000,
            ..Params::default()
        },
    }
}

fn body(op: &Op, keys: &[Keypair]) -> Option<(usize, TxBody)> {
    let spec = |gpus: u32, timeout: u64, audit_bps: u32| JobSpec {
        name: "p".into(),
        audit_bps,
        ..JobSpec::new(
            format!("sha256:{}", "0".repeat(64)),
            vec!["run".into()],
            Resources::new(1, 64, 1).with_gpus(gpus),
            timeout,
        )
    };
    Some(match op.clone() {
        Op::Transfer { from, to, amount } => (
            from,
            TxBody::Transfer {
                to: keys[to].address(),
                amount,
            },
        ),
        Op::Stake { who, amount } => (who, TxBody::Stake { amount }),
        Op::Unstake { who, amount } => (who, TxBody::Unstake { amount }),
        Op::Register { who, gpus, price } => (
            who,
            TxBody::RegisterMachine {
                spec: MachineSpec {
                    cpu_cores: 2,
                    memory_mb: 1024,
                    disk_mb: 10,
                    gpu: (gpus > 0).then(|| GpuSpec {
                        vendor: "nvidia".into(),
                        model: "T4".into(),
                        count: gpus,
                        vram_mb: 16_000,
                    }),
                    region: "r".into(),
                    executor: "process".into(),
                },
                price_per_hour: price,
                resource_prices: Default::default(),
            },
        ),
        Op::Deregister { who, machine } => (who, TxBody::DeregisterMachine { machine }),
        Op::Submit {
            who,
            gpus,
            timeout,
            max_price,
            deposit,
            audit_bps,
        } => (
            who,
            TxBody::SubmitOrder {
                // One to three runs: failed and timed-out runs are retried.
                spec: JobSpec {
                    max_attempts: 1 + (timeout % 3) as u32,
                    ..spec(gpus, timeout, audit_bps)
                },
                max_price_per_hour: max_price,
                deposit,
            },
        ),
        Op::Cancel { who, order } => (who, TxBody::CancelOrder { order }),
        Op::Stop { who, order } => (who, TxBody::StopJob { order }),
        Op::Share {
            who,
            order,
            reader,
            shared,
        } => (
            who,
            TxBody::ShareResult {
                order,
                reader: keys[reader].address(),
                shared,
            },
        ),
        Op::Complete {
            who,
            order,
            duration_ms,
            output,
        } => (
            who,
            TxBody::ReportResult {
                order,
                outcome: JobOutcome::Completed {
                    exit_code: 0,
                    output_root: Hash::digest(&[output]),
                    output_bytes: 1,
                    duration_ms,
                    stopped: (output >= 2).then_some(Stop::Timeout),
                    held_by: gpunet_primitives::OutputHolder::Nodes,
                },
            },
        ),
        Op::Fail { who, order } => (
            who,
            TxBody::ReportResult {
                order,
                outcome: JobOutcome::Failed { reason: "x".into() },
            },
        ),
        Op::Decline { order } => (
            0,
            TxBody::DeclineLease {
                order,
                reason: "image missing".into(),
            },
        ),
        Op::Dispute { order, output } => (
            0,
            TxBody::DisputeResult {
                order,
                expected_root: Hash::digest(&[output]),
                deposit: 2 * UNIT,
            },
        ),
        Op::Rent {
            who,
            secs,
            save_on_end,
        } => (
            who,
            TxBody::Rent {
                // Rentals expose a port, announced by `Op::Announce`.
                spec: JobSpec {
                    network: true,
                    ports: vec![8080],
                    save_on_end,
                    ..spec(0, secs, 0)
                },
                max_price_per_hour: 2 * UNIT,
                deposit: gpunet_types::max_payment(2 * UNIT, secs).unwrap(),
            },
        ),
        Op::Renew { order, secs } => (
            0,
            TxBody::RenewRental {
                order,
                extra_secs: secs,
                deposit: gpunet_types::max_payment(2 * UNIT, secs).unwrap(),
            },
        ),
        Op::EndRental { order, save } => (0, TxBody::EndRental { order, save }),
        Op::ReportWorkspace { order, saved } => (
            0,
            TxBody::ReportWorkspace {
                order,
                save: match saved {
                    true => WorkspaceSave::Saved {
                        root: Hash::digest(&order.to_le_bytes()),
                        bytes: 1,
                        held_by: OutputHolder::Nodes,
                    },
                    false => WorkspaceSave::Failed {
                        reason: "disk full".into(),
                    },
                },
            },
        ),
        Op::ReportOffline { order } => (0, TxBody::ReportOffline { order }),
        Op::AnswerProbe { order } => (0, TxBody::AnswerProbe { order }),
        Op::Announce { order } => (
            0,
            TxBody::AnnounceEndpoints {
                order,
                endpoints: vec!["203.0.113.5:32768".into()],
            },
        ),
        Op::BondValidator { who, amount } => (who, TxBody::BondValidator { amount }),
        Op::UnbondValidator { who, amount } => (who, TxBody::UnbondValidator { amount }),
        Op::ReportDoubleSign { who, offender } => {
            let vote = |block: &[u8]| {
                let vote = Vote {
                    kind: VoteKind::Prevote,
                    height: 1,
                    round: 0,
                    block: Some(Hash::digest(block)),
                    validator: keys[offender].address(),
                };
                SignedVote {
                    signature: keys[offender].sign(&vote.sign_bytes("prop")),
                    vote,
                }
            };
            let evidence = Box::new(DoubleSign {
                first: vote(b"a"),
                second: vote(b"b"),
            });
            (who, TxBody::ReportDoubleSign { evidence })
        }
        Op::BadNonce { .. } | Op::Wait { .. } => return None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_and_replicas_agree(ops in prop::collection::vec(op(), 1..120)) {
        let validator = Keypair::from_label("validator");
        let g = genesis(&validator);
        let mut ledger = Ledger::open(None, &g).unwrap();
        let mut replica = Ledger::open(None, &g).unwrap();
        let keys = keys();
        let mut time = 100;
        // A live market to start from: every actor stakes and lists a 2-GPU
        // machine, so random orders get matched, reported, audited and settled.
        let preamble: Vec<SignedTx> = keys
            .iter()
            .enumerate()
            .flat_map(|(i, k)| {
                let register = body(&Op::Register { who: i, gpus: 2, price: UNIT }, &keys).unwrap().1;
                [TxBody::Stake { amount: 300 * UNIT }, register]
                    .into_iter()
                    .zip(0..)
                    .map(|(body, nonce)| Tx { chain_id: "prop".into(), sender: k.address(), nonce, fee: UNIT, body }.sign(k))
            })
            .collect();
        let produced = ledger.produce_block(validator.address(), time, &preamble).unwrap();
        prop_assert!(produced.results.iter().all(|r| r.is_ok()));
        replica.apply_block(&produced.block).unwrap();
        for chunk in ops.chunks(3) {
            let mut txs: Vec<SignedTx> = Vec::new();
            let mut nonces: Vec<u64> = keys.iter().map(|k| ledger.account(&k.address()).nonce).collect();
            for op in chunk {
                match op {
                    Op::Wait { ms } => time += ms,
                    Op::BadNonce { who } => txs.push(
                        Tx { chain_id: "prop".into(), sender: keys[*who].address(), nonce: nonces[*who] + 5, fee: UNIT, body: TxBody::Stake { amount: 1 } }
                            .sign(&keys[*who]),
                    ),
                    _ => {
                        // A dispute goes to a result still in its window, when there is one.
                        let disputable = ledger.state().orders.iter().filter(|(_, o)| o.status() == OrderStatus::Reported && o.audit_runs().is_empty() && o.audit_of().is_none()).map(|(id, _)| *id).collect::<Vec<_>>();
                        // A saved workspace goes to a rental being saved, when there is one.
                        let saving = ledger.state().orders.iter().filter(|(_, o)| o.status() == OrderStatus::Saving).map(|(id, _)| *id).collect::<Vec<_>>();
                        let retargeted = match op {
                            Op::Dispute { order, output } if !disputable.is_empty() => Op::Dispute { order: disputable[*order as usize % disputable.len()], output: *output },
                            Op::ReportWorkspace { order, saved } if !saving.is_empty() => Op::ReportWorkspace { order: saving[*order as usize % saving.len()], saved: *saved },
                            op => op.clone(),
                        };
                        let op = &retargeted;
                        let (mut who, body) = body(op, &keys).unwrap();
                        // Reports come from the lease's provider, so jobs (and their
                        // audits) actually complete; Fail keeps the random sender.
                        if let Op::Complete { order, .. } | Op::AnswerProbe { order } | Op::Decline { order } | Op::Announce { order } | Op::ReportWorkspace { order, .. } = op {
                            let provider = ledger.order(*order).and_then(|o| o.lease()).map(|l| l.provider);
                            who = keys.iter().position(|k| Some(k.address()) == provider).unwrap_or(who);
                        }
                        // Renewals and early ends come from the renter.
                        if let Op::Renew { order, .. } | Op::EndRental { order, .. } | Op::ReportOffline { order } | Op::Dispute { order, .. } = op {
                            let client = ledger.order(*order).map(|o| o.client);
                            who = keys.iter().position(|k| Some(k.address()) == client).unwrap_or(who);
                        }
                        txs.push(Tx { chain_id: "prop".into(), sender: keys[who].address(), nonce: nonces[who], fee: UNIT, body }.sign(&keys[who]));
                        nonces[who] += 1;
                    }
                }
            }
            time += 100;
            // A consensus proposer builds the block first and commits it only once
            // decided; building and checking leave both ledgers as they were.
            let (root, replica_root) = (ledger.state_root(), replica.state_root());
            let proposal = ledger.build_block(validator.address(), time, &txs).unwrap();
            prop_assert_eq!(ledger.state_root(), root);
            replica.check_block(&proposal.block).unwrap();
            prop_assert_eq!(replica.state_root(), replica_root);
            let produced = ledger.produce_block(validator.address(), time, &txs).unwrap();
            prop_assert_eq!(&produced.block, &proposal.block);
            prop_assert!(ledger.check_invariants().is_ok(), "{:?}", ledger.check_invariants());
            for (tx, r) in txs.iter().zip(&produced.results) {
                prop_assert_eq!(r.is_ok(), ledger.receipt(&tx.hash()).is_some());
            }
            let applied = replica.apply_block(&produced.block).unwrap();
            prop_assert_eq!(replica.state_root(), ledger.state_root());
            prop_assert_eq!(applied.events().collect::<Vec<_>>(), produced.events().collect::<Vec<_>>());
        }
    }
}
