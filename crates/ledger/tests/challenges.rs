//! Hardware challenges through signed transactions and blocks: issued at
//! registration and on schedule, answered by the real CPU prover, verified by
//! the ledger; failures slash and delist.

use gpunet_ledger::{Ledger, TxError};
use gpunet_poc::{Commitment, CpuBackend};
use gpunet_primitives::{
    ChallengeId, GpuSpec, Hash, JobSpec, Keypair, MachineSpec, Resources, TxBody, UNIT,
};
use gpunet_types::{ChallengePhase, Event, HardwareStatus, OrderStatus, Params};
use std::sync::atomic::AtomicBool;

#[macro_use]
mod common;
use common::{genesis, Chain};

struct Net {
    chain: Chain,
    provider: Keypair,
    client: Keypair,
}

deref_chain!(Net, chain);

fn params() -> Params {
    Params {
        challenge_work_ms: 50,
        challenge_latency_ms: 2_000,
        challenge_open_ms: 1_000,
        challenge_interval_ms: 60_000,
        ..Params::default()
    }
}

impl Net {
    fn new() -> Net {
        Net::with_params(params())
    }

    fn with_params(params: Params) -> Net {
        let (validator, provider, client) = (
            Keypair::from_label("validator"),
            Keypair::from_label("provider"),
            Keypair::from_label("client"),
        );
        let g = genesis(&validator, &[&provider, &client], params);
        Net {
            chain: Chain::new(&g, validator),
            provider,
            client,
        }
    }

    fn provider_sends(&mut self, body: TxBody) -> Result<(), TxError> {
        let provider = self.provider.clone();
        self.send(&provider, body)
    }

    /// Stakes and registers a machine; returns its id and its first challenge.
    fn register(&mut self, gpu: Option<&str>) -> (u64, ChallengeId) {
        self.provider_sends(TxBody::Stake {
            amount: 1_000 * UNIT,
        })
        .unwrap();
        let spec = MachineSpec {
            cpu_cores: 4,
            memory_mb: 8_000,
            disk_mb: 10_000,
            gpu: gpu.map(|model| GpuSpec {
                vendor: "nvidia".into(),
                model: model.into(),
                count: 1,
                vram_mb: 80_000,
            }),
            region: "eu".into(),
            executor: "docker".into(),
        };
        self.provider_sends(TxBody::RegisterMachine {
            spec,
            price_per_hour: UNIT,
            resource_prices: Default::default(),
        })
        .unwrap();
        let machine = self.ledger.machines().last().unwrap();
        (
            machine.id,
            machine.challenge.expect("challenged at registration"),
        )
    }

    fn hardware(&self, machine: u64) -> HardwareStatus {
        self.ledger.machine(machine).unwrap().hardware
    }

    /// Commits with the honest CPU prover and waits for the rows to be drawn.
    fn commit(&mut self, id: ChallengeId) -> Commitment {
        let challenge = self.ledger.challenge(id).unwrap().challenge;
        let commitment =
            Commitment::compute(&CpuBackend::default(), &challenge, &AtomicBool::new(false))
                .unwrap();
        self.provider_sends(TxBody::CommitChallenge {
            challenge: id,
            root: commitment.root(),
        })
        .unwrap();
        self.block(10, &[]);
        commitment
    }

    fn drawn_rows(&self, id: ChallengeId) -> Vec<u32> {
        match &self.ledger.challenge(id).unwrap().phase {
            ChallengePhase::Opening { rows, .. } => rows.clone(),
            other => panic!("rows not drawn: {other:?}"),
        }
    }

    fn answer_honestly(&mut self, id: ChallengeId) {
        let commitment = self.commit(id);
        let rows = self.drawn_rows(id);
        let openings = commitment.open(&CpuBackend::default(), &rows).unwrap();
        self.provider_sends(TxBody::OpenChallenge {
            challenge: id,
            openings,
        })
        .unwrap();
    }

    fn bonded(&self) -> u128 {
        self.ledger.account(&self.provider.address()).bonded
    }
}

fn small_job() -> JobSpec {
    JobSpec {
        name: "j".into(),
        ..JobSpec::new(
            "gpunet/busybox",
            vec!["true".into()],
            Resources::new(1, 100, 100),
            60,
        )
    }
}

#[test]
fn an_honest_machine_is_verified_then_leased_then_challenged_again() {
    let mut net = Net::new();
    let (machine, challenge) = net.register(None);
    assert_eq!(net.hardware(machine), HardwareStatus::Unverified);

    // Unverified machines get no work.
    let client = net.client.clone();
    net.send(
        &client,
        TxBody::SubmitOrder {
            spec: small_job(),
            max_price_per_hour: 10 * UNIT,
            deposit: 10 * UNIT,
        },
    )
    .unwrap();
    net.block(10, &[]);
    assert_eq!(net.ledger.order(0).unwrap().status(), OrderStatus::Pending);

    net.answer_honestly(challenge);
    let m = net.ledger.machine(machine).unwrap().clone();
    assert_eq!(m.hardware, HardwareStatus::Verified);
    assert_eq!((m.challenge, m.challenges_passed), (None, 1));
    assert!(m.compute_gops > 0);
    assert!(net.events.iter().any(|e| matches!(
        e,
        Event::ChallengePassed { challenge: c, gops, .. } if *c == challenge && *gops == m.compute_gops
    )));
    net.block(10, &[]);
    assert_eq!(net.ledger.order(0).unwrap().status(), OrderStatus::Running);

    // Within 1.5 intervals a new challenge comes; the machine stays listed meanwhile.
    net.block(params().challenge_interval_ms * 3 / 2, &[]);
    let next = net
        .ledger
        .machine(machine)
        .unwrap()
        .challenge
        .expect("re-challenged");
    assert_ne!(next, challenge);
    assert_eq!(net.hardware(machine), HardwareStatus::Verified);
    net.answer_honestly(next);
    assert_eq!(net.ledger.machine(machine).unwrap().challenges_passed, 2);
}

#[test]
fn a_paused_machine_skips_challenges_and_proves_itself_again_when_it_resumes() {
    let mut net = Net::new();
    let (machine, challenge) = net.register(None);
    net.answer_honestly(challenge);
    let update = |online| TxBody::UpdateMachine {
        machine,
        price_per_hour: UNIT,
        resource_prices: Default::default(),
        online,
    };
    net.provider_sends(update(false)).unwrap();
    // Its scheduled challenge falls while it is paused: none is issued.
    net.block(params().challenge_interval_ms * 2, &[]);
    assert_eq!(net.ledger.machine(machine).unwrap().challenge, None);
    net.provider_sends(update(true)).unwrap();
    let m = net.ledger.machine(machine).unwrap();
    let again = m.challenge.expect("challenged on resuming");
    assert_eq!(m.hardware, HardwareStatus::Verified, "listed meanwhile");
    net.answer_honestly(again);
    // And challenged on schedule again after that.
    net.block(params().challenge_interval_ms * 3 / 2, &[]);
    assert!(net.ledger.machine(machine).unwrap().challenge.is_some());
    // A price change of a listed machine is not a resume: no challenge.
    let open = net.ledger.machine(machine).unwrap().challenge;
    net.answer_honestly(open.unwrap());
    net.provider_sends(update(true)).unwrap();
    assert_eq!(net.ledger.machine(machine).unwrap().challenge, None);
}

#[test]
fn a_gpu_machine_has_its_cpus_measured_in_turn_with_its_gpus() {
    // The smallest GPU class and the shortest work, so the CPU prover here
    // answers its GPU challenges in seconds.
    let mut net = Net::with_params(Params {
        challenge_work_ms: 1,
        ..params()
    });
    let (machine, first) = net.register(Some("Tesla T4"));
    assert_eq!(net.ledger.challenge(first).unwrap().class, "T4");
    net.answer_honestly(first);
    let m = net.ledger.machine(machine).unwrap().clone();
    assert_eq!(m.hardware, HardwareStatus::Verified);
    let gpu_score = m.compute_gops;
    assert!(gpu_score > 0);
    assert_eq!(m.cpu_mops, 0);
    // Right after its GPUs, its CPUs: a CPU-class challenge, sized for its cores.
    let cpus = m.challenge.expect("its CPUs are challenged next");
    assert_eq!(net.ledger.challenge(cpus).unwrap().class, "CPU");
    net.answer_honestly(cpus);
    let m = net.ledger.machine(machine).unwrap().clone();
    assert!(m.cpu_mops > 0, "its CPU throughput is recorded");
    assert_eq!(
        m.compute_gops, gpu_score,
        "its compute score stays its GPUs'"
    );
    assert!(m.cpu_kops_per_core() > 0);
    assert_eq!(m.challenge, None, "then on schedule");
    // The scheduled ones alternate: GPUs, then CPUs.
    for class in ["T4", "CPU"] {
        net.block(params().challenge_interval_ms * 3 / 2, &[]);
        let next = net.ledger.machine(machine).unwrap().challenge.unwrap();
        assert_eq!(net.ledger.challenge(next).unwrap().class, class);
        net.answer_honestly(next);
    }
    // A machine without GPUs is held to the CPU class, whose score is both.
    let (cpu_machine, only) = net.register(None);
    net.answer_honestly(only);
    let m = net.ledger.machine(cpu_machine).unwrap();
    assert_eq!(m.cpu_mops / 1_000, m.compute_gops);
    assert_eq!(m.challenge, None);
}

#[test]
fn a_wrong_row_is_slashed_and_delisted_until_a_new_challenge_passes() {
    let mut net = Net::new();
    let (machine, challenge) = net.register(None);
    let before = net.bonded();
    let commitment = net.commit(challenge);
    let rows = net.drawn_rows(challenge);
    let mut openings = commitment.open(&CpuBackend::default(), &rows).unwrap();
    openings[3].row[0] += 1;
    // The answer is recorded (not rejected): the verdict is on chain.
    net.provider_sends(TxBody::OpenChallenge {
        challenge,
        openings,
    })
    .unwrap();
    let m = net.ledger.machine(machine).unwrap().clone();
    assert_eq!(
        (m.hardware, m.online, m.challenge),
        (HardwareStatus::Failed, false, None)
    );
    assert_eq!(net.bonded(), before - params().slash_challenge);
    assert!(net.events.iter().any(|e| matches!(
        e,
        Event::ChallengeFailed { reason, slashed, .. }
            if reason.contains("does not match") && *slashed == params().slash_challenge
    )));

    // Re-listing starts a new challenge; passing it restores eligibility.
    net.provider_sends(TxBody::UpdateMachine {
        machine,
        price_per_hour: UNIT,
        resource_prices: Default::default(),
        online: true,
    })
    .unwrap();
    assert_eq!(net.hardware(machine), HardwareStatus::Unverified);
    let again = net.ledger.machine(machine).unwrap().challenge.unwrap();
    net.answer_honestly(again);
    assert_eq!(net.hardware(machine), HardwareStatus::Verified);
}

#[test]
fn missing_the_commit_or_the_opening_deadline_is_slashed() {
    // No commitment: too slow for the claimed class (an H100 challenge given
    // to a machine that cannot answer it in time), or offline.
    let mut net = Net::new();
    let (machine, challenge) = net.register(Some("NVIDIA H100 80GB HBM3"));
    let ch = net.ledger.challenge(challenge).unwrap().clone();
    assert_eq!(ch.class, "H100");
    // Sized for 50 ms of an H100 at 25 % of its peak.
    assert!(ch.challenge.ops() >= 2 * 49 * 1_979_000 * 1_000_000 / 8);
    let before = net.bonded();
    let wait = ch.commit_deadline_ms - net.time + 1;
    net.block(wait, &[]);
    assert_eq!(net.hardware(machine), HardwareStatus::Failed);
    assert_eq!(net.bonded(), before - params().slash_challenge);
    // A late commitment is refused.
    assert_eq!(
        net.provider_sends(TxBody::CommitChallenge {
            challenge,
            root: Hash::ZERO
        }),
        Err(TxError::UnknownChallenge(challenge))
    );

    // Committed but never opened.
    let mut net = Net::new();
    let (machine, challenge) = net.register(None);
    net.commit(challenge);
    let before = net.bonded();
    net.block(params().challenge_open_ms + 1, &[]);
    assert_eq!(net.hardware(machine), HardwareStatus::Failed);
    assert_eq!(net.bonded(), before - params().slash_challenge);
}

#[test]
fn bad_challenge_transactions_are_refused_and_change_nothing() {
    let mut net = Net::new();
    let (machine, challenge) = net.register(None);
    let client = net.client.clone();
    let root_before = net.ledger.state_root();
    let commit = |challenge| TxBody::CommitChallenge {
        challenge,
        root: Hash::ZERO,
    };
    assert_eq!(
        net.send(&client, commit(challenge)),
        Err(TxError::NotYourChallenge(challenge))
    );
    assert_eq!(
        net.provider_sends(commit(999)),
        Err(TxError::UnknownChallenge(999))
    );
    assert!(matches!(
        net.provider_sends(TxBody::OpenChallenge {
            challenge,
            openings: vec![]
        }),
        Err(TxError::ChallengeNotDrawn(_))
    ));
    assert!(matches!(
        net.provider_sends(TxBody::DeregisterMachine { machine }),
        Err(TxError::ChallengeOpen { challenge: c, .. }) if c == challenge
    ));
    assert_eq!(
        net.ledger.state_root(),
        root_before,
        "refused: no fee, no change"
    );
    net.commit(challenge);
    assert_eq!(
        net.provider_sends(commit(challenge)),
        Err(TxError::ChallengeCommitted(challenge))
    );
    assert_eq!(net.hardware(machine), HardwareStatus::Unverified);
}

#[test]
fn a_replica_reaches_the_same_verdicts() {
    let mut net = Net::new();
    let (_, challenge) = net.register(None);
    net.answer_honestly(challenge);
    let g = genesis(&net.validator, &[&net.provider, &net.client], params());
    let mut replica = Ledger::open(None, &g).unwrap();
    for height in 1..=net.ledger.head().height {
        replica
            .apply_block(&net.ledger.block(height).unwrap().unwrap())
            .unwrap();
    }
    assert_eq!(replica.state_root(), net.ledger.state_root());
}

#[test]
fn epochs_mint_rewards_to_verified_online_machines_only() {
    let mut net = Net::new();
    let (verified, challenge) = net.register(None);
    net.answer_honestly(challenge);
    // A second machine never answers its challenge.
    let (unverified, _) = net.register(None);
    let before = net.ledger.account(&net.provider.address()).balance;
    let (epoch, reward) = (Params::default().epoch_ms, Params::default().epoch_reward);
    net.block(epoch, &[]);
    assert_eq!(net.hardware(unverified), HardwareStatus::Failed);
    assert_eq!(net.ledger.state().globals().minted, reward);
    assert_eq!(
        net.ledger.account(&net.provider.address()).balance,
        before + reward,
        "the only verified machine takes the whole epoch"
    );
    assert!(net
        .events
        .iter()
        .any(|e| matches!(e, Event::EpochRewarded { machines: 1, minted } if *minted == reward)));

    // Its scheduled challenge goes unanswered: delisted, and no more rewards.
    net.block(epoch, &[]);
    assert_eq!(net.hardware(verified), HardwareStatus::Failed);
    assert_eq!(net.ledger.state().globals().minted, reward);
}

/// A 2-core machine claimed 64 cores, passed CPU challenges sized for one
/// device, and took (and was paid for) a 32-core job. CPU challenges are
/// sized for every core claimed: claiming 16 times the cores asks 16 times
/// the work in the same time.
#[test]
fn cpu_challenges_are_sized_for_every_core_claimed() {
    let mut net = Net::new();
    let rows_for = |net: &mut Net, cores: u32| {
        let key = Keypair::from_label(&format!("owner of {cores} cores"));
        let provider = net.provider.clone();
        net.send(
            &provider,
            TxBody::Transfer {
                to: key.address(),
                amount: 500 * UNIT,
            },
        )
        .unwrap();
        net.send(&key, TxBody::Stake { amount: 200 * UNIT })
            .unwrap();
        net.send(
            &key,
            TxBody::RegisterMachine {
                spec: MachineSpec {
                    cpu_cores: cores,
                    memory_mb: 8_000,
                    disk_mb: 10_000,
                    gpu: None,
                    region: "eu".into(),
                    executor: "docker".into(),
                },
                price_per_hour: UNIT,
                resource_prices: Default::default(),
            },
        )
        .unwrap();
        let machine = net.ledger.machines().last().unwrap();
        let ch = net.ledger.challenge(machine.challenge.unwrap()).unwrap();
        (ch.challenge.rows, ch.commit_deadline_ms - ch.issued_ms)
    };
    let (four, four_deadline) = rows_for(&mut net, 4);
    let (many, many_deadline) = rows_for(&mut net, 64);
    assert_eq!(four_deadline, many_deadline, "the same time allowed");
    assert!(
        u64::from(many) >= 16 * u64::from(four) - 16,
        "64 cores: {many} rows, 4 cores: {four}"
    );
}
