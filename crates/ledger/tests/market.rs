//! The market among several providers: placement and reliability in matching,
//! and job verification tiers (audited jobs are re-run by random other
//! providers; for deterministic jobs the party two runs contradict is slashed,
//! for non-deterministic ones nobody is).

use gpunet_ledger::{AuditVerdict, Covers, Event, Misfit, OrderStatus, Params, TxError, Wanted};
use gpunet_primitives::{
    Address, ContainerStop, GpuRequirement, GpuSpec, Hash, JobOutcome, JobSpec, Keypair,
    MachineSpec, Placement, ResourcePrices, Resources, SignedTx, Stop, Tx, TxBody, UNIT,
};

const PRICE: u128 = 36 * UNIT;

#[macro_use]
mod common;
use common::{genesis, Chain};

struct Net {
    chain: Chain,
    client: Keypair,
    providers: Vec<Keypair>,
}

deref_chain!(Net, chain);

fn params() -> Params {
    Params {
        dispute_window_ms: 1_000,
        report_grace_ms: 1_000,
        order_ttl_ms: 5_000,
        hardware_challenges: false,
        ..Params::default()
    }
}

impl Net {
    fn new(providers: usize) -> Net {
        let validator = Keypair::from_label("validator");
        let client = Keypair::from_label("client");
        let providers: Vec<Keypair> = (0..providers)
            .map(|i| Keypair::from_label(&format!("provider {i}")))
            .collect();
        let funded: Vec<&Keypair> = std::iter::once(&client).chain(&providers).collect();
        let g = genesis(&validator, &funded, params());
        let mut net = Net {
            chain: Chain::new(&g, validator),
            client,
            providers,
        };
        for p in net.providers.clone() {
            net.send(&p, TxBody::Stake { amount: 500 * UNIT }).unwrap();
            net.send(
                &p,
                TxBody::RegisterMachine {
                    spec: MachineSpec {
                        cpu_cores: 4,
                        memory_mb: 8_000,
                        disk_mb: 10_000,
                        gpu: None,
                        region: "eu".into(),
                        executor: "docker".into(),
                    },
                    price_per_hour: PRICE,
                    resource_prices: Default::default(),
                },
            )
            .unwrap();
        }
        net
    }

    fn set_price(&mut self, provider: usize, machine: u64, price_per_hour: u128) {
        self.set_prices(provider, machine, price_per_hour, ResourcePrices::default());
    }

    fn set_prices(
        &mut self,
        provider: usize,
        machine: u64,
        price_per_hour: u128,
        resource_prices: ResourcePrices,
    ) {
        let key = self.providers[provider].clone();
        self.send(
            &key,
            TxBody::UpdateMachine {
                machine,
                price_per_hour,
                resource_prices,
                online: true,
            },
        )
        .unwrap();
    }

    fn fail(&mut self, order: u64) {
        let provider = self.provider_of(order);
        self.send(
            &provider,
            TxBody::ReportResult {
                order,
                outcome: JobOutcome::Failed {
                    reason: "disk full".into(),
                },
            },
        )
        .unwrap();
    }

    /// The order's provider hands its lease back unstarted.
    fn decline(&mut self, order: u64, reason: &str) -> Result<(), TxError> {
        let provider = self.provider_of(order);
        self.send(
            &provider,
            TxBody::DeclineLease {
                order,
                reason: reason.into(),
            },
        )
    }

    /// The client disputes the order's result, naming `expected` as its output.
    fn dispute(&mut self, order: u64, expected: &[u8]) -> Result<(), TxError> {
        let client = self.client.clone();
        let deposit = {
            let o = self.ledger.order(order).unwrap();
            gpunet_ledger::run_cost(o.max_price_per_hour, &o.spec)
        }
        .unwrap();
        self.send(
            &client,
            TxBody::DisputeResult {
                order,
                expected_root: Hash::digest(expected),
                deposit,
            },
        )
    }

    /// The referee run of a disputed order, once matched.
    fn referee(&self, order: u64) -> u64 {
        let runs = &self.ledger.order(order).unwrap().audit_runs();
        assert_eq!(runs.len(), 1, "one referee run");
        runs[0]
    }

    fn machine_of(&self, order: u64) -> u64 {
        self.ledger
            .order(order)
            .unwrap()
            .lease()
            .cloned()
            .unwrap()
            .machine
    }

    fn submit(&mut self, spec: JobSpec) -> u64 {
        let client = self.client.clone();
        let deposit = 3 * gpunet_ledger::max_job_cost(PRICE, spec.timeout_secs).unwrap();
        self.send(
            &client,
            TxBody::SubmitOrder {
                spec,
                max_price_per_hour: PRICE,
                deposit,
            },
        )
        .unwrap();
        self.ledger.state().globals().next_order_id - 1
    }

    fn provider_of(&self, order: u64) -> Keypair {
        let lease = self
            .ledger
            .order(order)
            .unwrap()
            .lease()
            .cloned()
            .expect("leased");
        self.providers
            .iter()
            .find(|k| k.address() == lease.provider)
            .unwrap()
            .clone()
    }

    /// The order's provider reports `root` as its output.
    fn report(&mut self, order: u64, root: &[u8]) {
        self.report_run(order, root, None);
    }

    /// The order's provider reports `root` as the output of a run stopped at
    /// `stopped` (if stopped).
    fn report_run(&mut self, order: u64, root: &[u8], stopped: Option<Stop>) {
        self.report_timed(order, root, stopped, 1_000);
    }

    /// The order's provider reports a run that took `duration_ms`, after
    /// letting that much block time pass.
    fn report_after(&mut self, order: u64, root: &[u8], duration_ms: u64) {
        self.block(duration_ms, &[]);
        self.report_timed(order, root, None, duration_ms);
    }

    fn report_timed(&mut self, order: u64, root: &[u8], stopped: Option<Stop>, duration_ms: u64) {
        let provider = self.provider_of(order);
        self.send(
            &provider,
            TxBody::ReportResult {
                order,
                outcome: JobOutcome::Completed {
                    exit_code: 0,
                    output_root: Hash::digest(root),
                    output_bytes: 1,
                    duration_ms,
                    stopped,
                },
            },
        )
        .unwrap();
    }

    /// Lets the dispute window pass; returns the audit run started, if any.
    fn end_dispute_window(&mut self, order: u64) -> Option<u64> {
        self.block(params().dispute_window_ms, &[]);
        self.block(10, &[]); // the run is matched at the end of a block
        self.ledger
            .order(order)
            .unwrap()
            .audit_runs()
            .last()
            .copied()
    }

    fn status(&self, order: u64) -> OrderStatus {
        self.ledger.order(order).unwrap().status()
    }

    fn bonded(&self, who: &Keypair) -> u128 {
        self.ledger.account(&who.address()).bonded
    }

    /// Every provider's bonded stake.
    fn stakes(&self) -> Vec<u128> {
        self.providers.iter().map(|p| self.bonded(p)).collect()
    }

    fn verdict(&self, order: u64) -> Option<AuditVerdict> {
        self.ledger.order(order).unwrap().audit_verdict().cloned()
    }
}

fn spec(deterministic: bool, audit_bps: u32) -> JobSpec {
    JobSpec {
        name: "audited".into(),
        image: if deterministic {
            "gpunet/busybox@sha256:1111111111111111111111111111111111111111111111111111111111111111"
                .into()
        } else {
            "gpunet/busybox:latest".into()
        },
        command: vec!["true".into()],
        env: vec![],
        resources: Resources {
            cpu_cores: 1,
            memory_mb: 100,
            disk_mb: 100,
            gpu: GpuRequirement::default(),
        },
        inputs: vec![],
        timeout_secs: 60,
        region: None,
        network: false,
        audit_bps,
        min_reliability_bps: 0,
        ports: Vec::new(),
        placement: Default::default(),
    }
}

fn lessee(net: &Net, order: u64) -> Address {
    net.ledger
        .order(order)
        .unwrap()
        .lease()
        .cloned()
        .unwrap()
        .provider
}

#[test]
fn an_agreeing_audit_pays_everyone_and_runs_on_another_provider() {
    let mut net = Net::new(3);
    let job = net.submit(spec(true, 10_000));
    net.report(job, b"out");
    let run = net
        .end_dispute_window(job)
        .expect("always audited at 10000 bps");
    assert_eq!(net.status(job), OrderStatus::Auditing);
    assert_ne!(
        lessee(&net, run),
        lessee(&net, job),
        "audited by another provider"
    );
    net.report(run, b"out");
    assert_eq!(net.verdict(job), Some(AuditVerdict::Agreed));
    net.block(params().dispute_window_ms, &[]);
    assert_eq!(net.status(job), OrderStatus::Settled);
    assert_eq!(net.status(run), OrderStatus::Settled);
    assert!(
        net.ledger
            .order(run)
            .unwrap()
            .settlement()
            .unwrap()
            .paid_to_provider
            > 0
    );
}

#[test]
fn an_audit_of_a_tiny_job_pays_the_auditor_more_than_reporting_costs() {
    let mut net = Net::new(3);
    let job = net.submit(spec(true, 10_000));
    // A job of a few milliseconds: its time pays under the fee of a report.
    net.report_timed(job, b"out", None, 10);
    let run = net.end_dispute_window(job).unwrap();
    net.report_timed(run, b"out", None, 10);
    assert_eq!(net.verdict(job), Some(AuditVerdict::Agreed));
    net.block(params().dispute_window_ms, &[]);
    let paid = |id: u64| {
        let s = net.ledger.order(id).unwrap().settlement().cloned().unwrap();
        s.paid_to_provider + s.burned
    };
    assert!(
        PRICE * 10 / 3_600_000 < params().min_fee,
        "the job's time pays less"
    );
    assert_eq!(
        paid(job),
        PRICE * 10 / 3_600_000,
        "the job is paid its time"
    );
    assert_eq!(
        paid(run),
        params().audit_pay_floor,
        "the auditor is paid the floor"
    );
    assert!(paid(run) > params().min_fee);
}

#[test]
fn a_provider_two_runs_contradict_is_slashed_and_unpaid() {
    let mut net = Net::new(3);
    let funds = net.ledger.account(&net.client.address()).balance;
    let job = net.submit(spec(true, 10_000));
    let cheat = net.provider_of(job);
    let before = net.bonded(&cheat);
    net.report(job, b"made up");
    let audit = net.end_dispute_window(job).unwrap();
    net.report(audit, b"true output");
    // Disagreement on a deterministic job: a tie-break run on a third provider.
    net.block(10, &[]);
    let runs = net.ledger.order(job).unwrap().audit_runs().to_vec();
    assert_eq!(runs.len(), 2);
    let tie = runs[1];
    let three = [lessee(&net, job), lessee(&net, audit), lessee(&net, tie)];
    assert!(three[0] != three[1] && three[1] != three[2] && three[0] != three[2]);
    net.report(tie, b"true output");
    assert_eq!(net.verdict(job), Some(AuditVerdict::ProviderWrong));
    assert_eq!(net.status(job), OrderStatus::Failed);
    let machine = net
        .ledger
        .machines()
        .find(|m| m.owner == cheat.address())
        .unwrap();
    assert_eq!(
        (machine.completed, machine.failed),
        (0, 1),
        "counted as a failure"
    );
    assert_eq!(net.bonded(&cheat), before - params().slash_audit);
    assert_eq!(
        net.ledger
            .order(job)
            .unwrap()
            .settlement()
            .unwrap()
            .paid_to_provider,
        0
    );
    net.block(params().dispute_window_ms, &[]);
    assert_eq!(net.status(audit), OrderStatus::Settled);
    assert_eq!(net.status(tie), OrderStatus::Settled);
    assert_eq!(
        net.ledger.account(&net.client.address()).balance,
        funds - params().min_fee,
        "the cheat's stake paid for both runs that caught it"
    );
}

#[test]
fn an_auditor_two_runs_contradict_is_slashed_and_the_provider_paid() {
    let mut net = Net::new(3);
    let job = net.submit(spec(true, 10_000));
    net.report(job, b"true output");
    let audit = net.end_dispute_window(job).unwrap();
    let lazy = net.provider_of(audit);
    let before = net.bonded(&lazy);
    net.report(audit, b"lazy auditor");
    net.block(10, &[]);
    let tie = net.ledger.order(job).unwrap().audit_runs()[1];
    net.report(tie, b"true output");
    assert_eq!(
        net.verdict(job),
        Some(AuditVerdict::AuditorWrong {
            auditor: lazy.address()
        })
    );
    assert_eq!(net.bonded(&lazy), before - params().slash_audit);
    assert_eq!(net.status(audit), OrderStatus::Failed);
    net.block(params().dispute_window_ms, &[]);
    assert_eq!(net.status(job), OrderStatus::Settled);
    assert_eq!(net.status(tie), OrderStatus::Settled);
}

#[test]
fn runs_stopped_at_the_same_limit_agree_whatever_they_wrote() {
    let mut net = Net::new(3);
    let stakes = net.stakes();
    let job = net.submit(spec(true, 10_000));
    net.report_run(job, b"partial, cut at 60 s", Some(Stop::Timeout));
    let audit = net.end_dispute_window(job).unwrap();
    net.report_run(audit, b"less, on a slower machine", Some(Stop::Timeout));
    assert_eq!(net.verdict(job), Some(AuditVerdict::Agreed));
    assert_eq!(
        net.ledger.order(job).unwrap().audit_runs().len(),
        1,
        "no tie-break"
    );
    net.block(params().dispute_window_ms, &[]);
    assert_eq!(net.status(job), OrderStatus::Settled);
    assert_eq!(net.status(audit), OrderStatus::Settled);
    assert_eq!(net.stakes(), stakes, "nobody slashed");
}

#[test]
fn a_provider_claiming_a_limit_for_a_job_two_others_finish_is_slashed() {
    let mut net = Net::new(3);
    let job = net.submit(spec(true, 10_000));
    let cheat = net.provider_of(job);
    let before = net.bonded(&cheat);
    // The claimed timeout hides skipped work, whatever it uploaded.
    net.report_run(job, b"true output", Some(Stop::Timeout));
    let audit = net.end_dispute_window(job).unwrap();
    net.report(audit, b"true output");
    net.block(10, &[]);
    let runs = net.ledger.order(job).unwrap().audit_runs().to_vec();
    assert_eq!(runs.len(), 2, "a stopped run and a finished one disagree");
    net.report(runs[1], b"true output");
    assert_eq!(net.verdict(job), Some(AuditVerdict::ProviderWrong));
    assert_eq!(net.bonded(&cheat), before - params().slash_audit);
    assert_eq!(net.status(job), OrderStatus::Failed);
}

#[test]
fn a_referee_stopped_at_the_providers_limit_rejects_the_dispute() {
    let mut net = Net::new(3);
    let stakes = net.stakes();
    let job = net.submit(spec(false, 0));
    net.report_run(job, b"partial", Some(Stop::Memory));
    net.dispute(job, b"what the client hoped for").unwrap();
    let run = net.referee(job);
    net.report_run(run, b"other partial", Some(Stop::Memory));
    assert_eq!(net.verdict(job), Some(AuditVerdict::DisputeRejected));
    net.block(params().dispute_window_ms, &[]);
    assert_eq!(net.status(job), OrderStatus::Settled);
    assert_eq!(net.stakes(), stakes, "nobody slashed");

    // A referee that finishes with the client's root convicts a provider
    // that claimed a limit.
    let job = net.submit(spec(false, 0));
    let cheat = net.provider_of(job);
    let before = net.bonded(&cheat);
    net.report_run(job, b"partial", Some(Stop::Timeout));
    net.dispute(job, b"known answer").unwrap();
    let run = net.referee(job);
    net.report(run, b"known answer");
    assert_eq!(net.verdict(job), Some(AuditVerdict::ProviderWrong));
    assert_eq!(net.bonded(&cheat), before - params().slash_audit);
}

#[test]
fn a_non_deterministic_mismatch_slashes_nobody() {
    let mut net = Net::new(3);
    let job = net.submit(spec(false, 10_000));
    let stakes = net.stakes();
    net.report(job, b"sample 1");
    let audit = net.end_dispute_window(job).unwrap();
    net.report(audit, b"sample 2");
    assert_eq!(
        net.verdict(job),
        Some(AuditVerdict::NonDeterministicMismatch)
    );
    assert_eq!(
        net.ledger.order(job).unwrap().audit_runs().len(),
        1,
        "no tie-break"
    );
    net.block(params().dispute_window_ms, &[]);
    assert_eq!(net.status(job), OrderStatus::Settled);
    assert_eq!(net.status(audit), OrderStatus::Settled);
    assert_eq!(net.stakes(), stakes);
}

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
fn with_no_other_provider_the_audit_expires_and_the_provider_is_paid() {
    let mut net = Net::new(1);
    let job = net.submit(spec(true, 10_000));
    net.report(job, b"out");
    let run = net.end_dispute_window(job).unwrap();
    assert_eq!(net.status(run), OrderStatus::Pending, "no other provider");
    net.block(params().order_ttl_ms, &[]);
    assert_eq!(net.status(run), OrderStatus::Expired);
    assert_eq!(net.verdict(job), Some(AuditVerdict::Inconclusive));
    net.block(10, &[]);
    assert_eq!(net.status(job), OrderStatus::Settled);
}

#[test]
fn the_audit_rate_follows_the_spec_and_bad_audit_requests_are_refused() {
    let mut net = Net::new(2);
    // Never audited at 0 bps; about half at 5000 bps (the draw is a block hash).
    let mut audited = 0;
    for bps in [0u32, 5_000] {
        let mut jobs = Vec::new();
        for _ in 0..30 {
            let j = net.submit(spec(true, bps));
            if net.status(j) == OrderStatus::Running {
                net.report(j, b"out");
                jobs.push(j);
            }
        }
        net.block(params().dispute_window_ms, &[]);
        let n = jobs
            .iter()
            .filter(|j| !net.ledger.order(**j).unwrap().audit_runs().is_empty())
            .count();
        assert!(jobs.len() >= 20, "only {} jobs ran", jobs.len());
        if bps == 0 {
            assert_eq!(n, 0);
        } else {
            audited = n * 100 / jobs.len();
        }
    }
    assert!((20..=80).contains(&audited), "{audited} % audited at 50 %");

    let client = net.client.clone();
    let one_run = gpunet_ledger::max_job_cost(PRICE, 60).unwrap();
    assert!(matches!(
        net.send(
            &client,
            TxBody::SubmitOrder {
                spec: spec(true, 100),
                max_price_per_hour: PRICE,
                deposit: 2 * one_run,
            },
        ),
        Err(TxError::DepositTooSmall {
            covers: Covers::WholeTimeout { runs: 3 },
            ..
        })
    ));
    assert!(matches!(
        net.send(
            &client,
            TxBody::SubmitOrder {
                spec: spec(true, 10_001),
                max_price_per_hour: PRICE,
                deposit: 3 * one_run,
            },
        ),
        Err(TxError::ImpossibleSpec(_))
    ));
}

#[test]
fn spread_placement_shares_work_and_cheapest_placement_follows_price() {
    let mut net = Net::new(2);
    net.set_price(1, 1, PRICE / 2);
    let lessees = |net: &Net, jobs: &[u64]| -> Vec<Address> {
        jobs.iter().map(|j| lessee(net, *j)).collect()
    };
    // Spread: the cheaper machine first, then the idle one.
    let spread: Vec<u64> = (0..2).map(|_| net.submit(spec(false, 0))).collect();
    let cheap = net.providers[1].address();
    let dear = net.providers[0].address();
    assert_eq!(lessees(&net, &spread), [cheap, dear]);
    // Cheapest: the cheaper machine even though it is busier.
    let mut cheapest = spec(false, 0);
    cheapest.placement = Placement::Cheapest;
    let c = net.submit(cheapest);
    assert_eq!(lessee(&net, c), cheap);
    let after = net.submit(spec(false, 0));
    assert_eq!(
        lessee(&net, after),
        dear,
        "spread again: the less loaded one"
    );
}

#[test]
fn min_reliability_keeps_jobs_off_machines_that_fail_them() {
    let mut net = Net::new(2);
    let first = net.submit(spec(false, 0));
    let flaky = lessee(&net, first);
    net.fail(first);
    let machine = net.ledger.machines().find(|m| m.owner == flaky).unwrap();
    assert_eq!(machine.reliability_bps(), 0);
    for i in 0..3 {
        let mut careful = spec(false, 0);
        careful.min_reliability_bps = 9_000;
        let j = net.submit(careful);
        assert_ne!(lessee(&net, j), flaky);
        if i < 2 {
            net.report(j, b"ok");
        }
    }
    // Without the constraint the flaky machine still gets work (the other is busy).
    let j = net.submit(spec(false, 0));
    assert_eq!(lessee(&net, j), flaky);
}

#[test]
fn linear_resource_prices_set_the_lease_price_and_the_max_price_filters_on_it() {
    let mut net = Net::new(2);
    // Machine 0: the base price only (36 GPN). Machine 1: no base, 20 GPN per
    // core and 1 GPN per GiB: a 1-core, 100 MiB job costs 20 + 100/1024 GPN.
    let per_resource = ResourcePrices {
        per_gpu_hour: 0,
        per_cpu_hour: 20 * UNIT,
        per_gb_ram_hour: UNIT,
    };
    net.set_prices(1, 1, 0, per_resource);
    let expected = 20 * UNIT + (100 * UNIT).div_ceil(1024);
    let mut cheapest = spec(false, 0);
    cheapest.placement = Placement::Cheapest;
    let j = net.submit(cheapest.clone());
    let lease = net.ledger.order(j).unwrap().lease().cloned().unwrap();
    assert_eq!((lease.machine, lease.price_per_hour), (1, expected));

    // Twice the cores: the per-core term doubles, and now machine 0 is cheaper.
    cheapest.resources.cpu_cores = 2;
    let j = net.submit(cheapest.clone());
    let lease = net.ledger.order(j).unwrap().lease().cloned().unwrap();
    assert_eq!((lease.machine, lease.price_per_hour), (0, PRICE));
}

#[test]
fn matching_ranks_by_the_jobs_price_not_the_base_price() {
    for placement in [Placement::Cheapest, Placement::Spread] {
        let mut net = Net::new(3);
        // Lowest base price, but 20 GPN a core on top: 21 GPN for the job.
        let per_core = ResourcePrices {
            per_gpu_hour: 0,
            per_cpu_hour: 20 * UNIT,
            per_gb_ram_hour: 0,
        };
        net.set_prices(0, 0, UNIT, per_core);
        // A higher base price and nothing on top: 10 GPN for the job.
        net.set_price(1, 1, 10 * UNIT);
        net.set_price(2, 2, 30 * UNIT);
        let mut job = spec(false, 0);
        job.placement = placement;
        let j = net.submit(job);
        let lease = net.ledger.order(j).unwrap().lease().cloned().unwrap();
        assert_eq!(
            (lease.machine, lease.price_per_hour),
            (1, 10 * UNIT),
            "{placement:?}"
        );
    }
}

fn rent(net: &mut Net, secs: u64, deposit: u128) -> Result<u64, TxError> {
    let client = net.client.clone();
    let mut s = spec(false, 0);
    s.timeout_secs = secs;
    net.send(
        &client,
        TxBody::Rent {
            spec: s,
            max_price_per_hour: PRICE,
            deposit,
        },
    )?;
    Ok(net.ledger.state().globals().next_order_id - 1)
}

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
    let ten_minutes = gpunet_ledger::max_job_cost(PRICE, 600).unwrap();
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
    net.send(&client, TxBody::EndRental { order: id }).unwrap();
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
        net.send(&client, TxBody::EndRental { order: id }),
        Err(TxError::WrongStatus {
            status: OrderStatus::Settled,
            ..
        })
    ));
}

#[test]
fn a_rental_whose_container_stops_ends_billed_to_then_and_a_pending_one_can_be_ended() {
    let mut net = Net::new(1);
    let hour = gpunet_ledger::max_job_cost(PRICE, 3_600).unwrap();
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
    let used = gpunet_ledger::max_job_cost(PRICE, 60).unwrap();
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
    net.send(&client, TxBody::EndRental { order: pending })
        .unwrap();
    assert_eq!(net.status(pending), OrderStatus::Cancelled);
    assert_eq!(
        net.ledger.account(&client.address()).balance,
        funds - 2 * params().min_fee,
        "the whole deposit came back"
    );
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
    let hour = gpunet_ledger::max_job_cost(PRICE, 3_600).unwrap();
    let rental = rent(&mut net, 3_600, hour).unwrap();
    assert!(matches!(
        net.send(&client, TxBody::StopJob { order: rental }),
        Err(TxError::RentalNotStopped(_))
    ));
}

#[test]
fn a_pending_order_says_what_each_machine_misses() {
    let mut net = Net::new(3);
    net.set_price(2, 2, 2 * PRICE);
    let mut big = spec(false, 0);
    big.resources.cpu_cores = 64;
    let id = net.submit(big);
    assert_eq!(net.status(id), OrderStatus::Pending);
    let why = net.ledger.unmatched(id, 2).unwrap();
    assert_eq!((why.machines, why.fitting), (3, 0));
    assert_eq!(why.missed, vec![(Misfit::Price, 1), (Misfit::Cpu, 3)]);
    let closest: Vec<(u64, Vec<Misfit>)> = why
        .closest
        .iter()
        .map(|(m, misses)| (m.id, misses.clone()))
        .collect();
    assert_eq!(
        closest,
        vec![(0, vec![Misfit::Cpu]), (1, vec![Misfit::Cpu])],
        "fewest misses first, then by id"
    );
    // An order that fits: machines can take it (the pricey one cannot).
    let small = net.submit(spec(false, 0));
    let fits = net.ledger.unmatched(small, 3).unwrap();
    assert_eq!(
        (fits.fitting, fits.missed.clone()),
        (2, vec![(Misfit::Price, 1)])
    );
}

fn rental_billing_ms() -> u64 {
    params().rental_billing_ms
}

#[test]
fn bad_rental_requests_are_refused() {
    let mut net = Net::new(2);
    let hour = gpunet_ledger::max_job_cost(PRICE, 3_600).unwrap();
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
        net.send(&provider, TxBody::EndRental { order: id }),
        Err(TxError::NotYourOrder(_))
    ));
    let job = net.submit(spec(false, 0));
    let client = net.client.clone();
    assert!(matches!(
        net.send(&client, TxBody::EndRental { order: job }),
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
    let hour = gpunet_ledger::max_job_cost(PRICE, 3_600).unwrap();
    let id = rent(&mut net, 3_600, hour).unwrap();
    net.block(600_000, &[]);
    net.send(&client, TxBody::ReportOffline { order: id })
        .unwrap();
    net.block(params().probe_answer_ms / 2, &[]);
    net.send(&client, TxBody::EndRental { order: id }).unwrap();
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
    let deposit = gpunet_ledger::max_job_cost(PRICE, 5 * 3_600).unwrap();
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
fn orders_nobody_can_take_do_not_hold_back_those_behind_them() {
    let mut net = Net::new(1);
    let client = net.client.clone();
    let nonce = net.ledger.account(&client.address()).nonce;
    // More GPU orders than one block looks at; the only machine has no GPU.
    let mut gpu_job = spec(false, 0);
    gpu_job.resources.gpu.count = 1;
    let deposit = gpunet_ledger::max_job_cost(PRICE, gpu_job.timeout_secs).unwrap();
    let txs: Vec<SignedTx> = (0..1_100)
        .map(|i| {
            Tx {
                chain_id: "test".into(),
                sender: client.address(),
                nonce: nonce + i,
                fee: Params::default().min_fee,
                body: TxBody::SubmitOrder {
                    spec: gpu_job.clone(),
                    max_price_per_hour: PRICE,
                    deposit,
                },
            }
            .sign(&client)
        })
        .collect();
    assert!(net.block(10, &txs).iter().all(|r| r.is_ok()));
    let cpu_job = net.submit(spec(false, 0));
    for _ in 0..3 {
        net.block(10, &[]);
    }
    assert_eq!(net.status(cpu_job), OrderStatus::Running);
    assert_eq!(net.ledger.state().pending.len(), 1_100);
}

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
    let ten_minutes = gpunet_ledger::max_job_cost(PRICE, 600).unwrap();
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
    let deposit = gpunet_ledger::max_job_cost(PRICE, 60).unwrap();
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

const MINUTE: u64 = 60_000;

/// A job that may run an hour.
fn hour_long(deterministic: bool, audit_bps: u32) -> JobSpec {
    JobSpec {
        timeout_secs: 3_600,
        ..spec(deterministic, audit_bps)
    }
}

fn billed_ms(net: &Net, order: u64) -> u64 {
    net.ledger
        .order(order)
        .unwrap()
        .report()
        .cloned()
        .unwrap()
        .billable_ms
}

fn padded_events(net: &Net) -> Vec<(u64, u64, u64)> {
    net.events
        .iter()
        .filter_map(|e| match e {
            Event::RunPadded {
                order,
                claimed_ms,
                bound_ms,
                ..
            } => Some((*order, *claimed_ms, *bound_ms)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_provider_billing_far_longer_than_its_auditor_is_billed_the_bound_and_slashed() {
    let mut net = Net::new(3);
    let client = net.client.address();
    let funds = net.ledger.account(&client).balance;
    let job = net.submit(hour_long(true, 10_000));
    let padder = net.provider_of(job);
    let stake = net.bonded(&padder);
    // Ran ten minutes, then reported fifty.
    net.report_after(job, b"out", 50 * MINUTE);
    let run = net.end_dispute_window(job).unwrap();
    let auditor = net.provider_of(run);
    net.report_after(run, b"out", 10 * MINUTE);
    assert_eq!(
        net.verdict(job),
        Some(AuditVerdict::ProviderPadded),
        "the output is right, its time padded"
    );
    let bound = 2 * 10 * MINUTE + MINUTE;
    assert_eq!(billed_ms(&net, job), bound);
    let report = net.ledger.order(job).unwrap().report().cloned().unwrap();
    assert_eq!(report.padded, Some(params().slash_audit));
    assert_eq!(padded_events(&net), vec![(job, 50 * MINUTE, bound)]);
    assert_eq!(net.bonded(&padder), stake - params().slash_audit);
    assert_eq!(net.bonded(&auditor), 500 * UNIT, "the auditor is not");
    net.block(params().dispute_window_ms, &[]);
    let job_paid = net
        .ledger
        .order(job)
        .unwrap()
        .settlement()
        .cloned()
        .unwrap();
    let run_paid = net
        .ledger
        .order(run)
        .unwrap()
        .settlement()
        .cloned()
        .unwrap();
    let at_bound = gpunet_ledger::max_job_cost(PRICE, bound / 1_000).unwrap();
    assert_eq!(job_paid.paid_to_provider + job_paid.burned, at_bound);
    assert_eq!(job_paid.slashed, params().slash_audit);
    assert_eq!(
        net.ledger.account(&client).balance,
        funds - params().min_fee - at_bound,
        "the client paid the bound; the padder repaid the audit run"
    );
    assert!(run_paid.paid_to_provider > 0, "the auditor is paid");
}

#[test]
fn a_slower_run_within_the_tolerance_is_paid_in_full_and_a_padding_auditor_is_caught() {
    let mut net = Net::new(3);
    let job = net.submit(hour_long(true, 10_000));
    net.report_after(job, b"out", 18 * MINUTE);
    let run = net.end_dispute_window(job).unwrap();
    net.report_after(run, b"out", 10 * MINUTE);
    assert_eq!(net.verdict(job), Some(AuditVerdict::Agreed));
    assert_eq!(
        billed_ms(&net, job),
        18 * MINUTE,
        "within twice plus a minute"
    );
    assert!(padded_events(&net).is_empty());

    let stakes = net.stakes();
    let job = net.submit(hour_long(true, 10_000));
    net.report_after(job, b"out", 10 * MINUTE);
    let run = net.end_dispute_window(job).unwrap();
    let auditor = net.provider_of(run);
    net.report_after(run, b"out", 40 * MINUTE);
    assert_eq!(billed_ms(&net, job), 10 * MINUTE);
    assert_eq!(
        billed_ms(&net, run),
        21 * MINUTE,
        "the auditor's time is checked too"
    );
    let slashed: Vec<u128> = net
        .providers
        .iter()
        .zip(&stakes)
        .map(|(p, before)| before - net.bonded(p))
        .collect();
    let who = net
        .providers
        .iter()
        .position(|p| p.address() == auditor.address())
        .unwrap();
    for (i, s) in slashed.iter().enumerate() {
        let expected = if i == who { params().slash_audit } else { 0 };
        assert_eq!(*s, expected, "provider {i}");
    }
}

#[test]
fn a_duration_dispute_lets_a_referee_run_check_the_time_of_any_job() {
    let mut net = Net::new(3);
    let client = net.client.address();
    // Not deterministic, never audited: only its client can check its time.
    let job = net.submit(hour_long(false, 0));
    let padder = net.provider_of(job);
    let stake = net.bonded(&padder);
    net.report_after(job, b"out", 50 * MINUTE);
    let funds = net.ledger.account(&client).balance;
    net.dispute(job, b"out")
        .expect("naming the reported root disputes the time");
    let run = net.referee(job);
    net.report_after(run, b"out", 10 * MINUTE);
    assert_eq!(
        net.verdict(job),
        Some(AuditVerdict::ProviderPadded),
        "the output stands, the time does not"
    );
    assert_eq!(billed_ms(&net, job), 21 * MINUTE);
    assert_eq!(net.bonded(&padder), stake - params().slash_audit);
    net.block(params().dispute_window_ms, &[]);
    let job_paid = net
        .ledger
        .order(job)
        .unwrap()
        .settlement()
        .cloned()
        .unwrap();
    assert_eq!(
        net.ledger.account(&client).balance,
        funds - params().min_fee + job_paid.refunded,
        "the referee repaid out of the padder's stake"
    );

    // An honest provider's time stands; the client paid for the referee.
    let job = net.submit(hour_long(false, 0));
    let stakes = net.stakes();
    net.report_after(job, b"out", 15 * MINUTE);
    net.dispute(job, b"out").unwrap();
    let run = net.referee(job);
    net.report_after(run, b"out", 10 * MINUTE);
    assert_eq!(net.verdict(job), Some(AuditVerdict::DisputeRejected));
    assert_eq!(billed_ms(&net, job), 15 * MINUTE);
    assert_eq!(net.stakes(), stakes, "nobody slashed");

    // A run stopped at its limit billed the limit: no time to dispute.
    let job = net.submit(hour_long(false, 0));
    net.block(MINUTE, &[]);
    net.report_run(job, b"partial", Some(Stop::Memory));
    assert!(matches!(
        net.dispute(job, b"partial"),
        Err(TxError::StoppedAtLimit {
            limit: Stop::Memory,
            ..
        })
    ));
    assert!(
        net.dispute(job, b"finished").is_ok(),
        "its stop can be disputed"
    );
}

#[test]
fn a_rental_exposes_ports_its_provider_announces_and_jobs_cannot_expose_any() {
    let mut net = Net::new(2);
    let client = net.client.clone();
    let ten_minutes = gpunet_ledger::max_job_cost(PRICE, 600).unwrap();
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

/// A new owner, funded by provider `funder`, registering a machine with
/// `cores` and `gpus` H100s.
fn register_big(net: &mut Net, funder: usize, cores: u32, gpus: u32, price: u128) -> u64 {
    let owner = Keypair::from_label(&format!("owner {}", net.ledger.machines().count()));
    let stake = (100 + 100 * u128::from(gpus)) * UNIT;
    let funder = net.providers[funder].clone();
    net.send(
        &funder,
        TxBody::Transfer {
            to: owner.address(),
            amount: stake + 10 * UNIT,
        },
    )
    .unwrap();
    net.send(&owner, TxBody::Stake { amount: stake }).unwrap();
    net.send(
        &owner,
        TxBody::RegisterMachine {
            spec: MachineSpec {
                cpu_cores: cores,
                memory_mb: 512_000,
                disk_mb: 10_000,
                gpu: (gpus > 0).then(|| GpuSpec {
                    vendor: "nvidia".into(),
                    model: "H100".into(),
                    count: gpus,
                    vram_mb: 80_000,
                }),
                region: "eu".into(),
                executor: "docker".into(),
            },
            price_per_hour: price,
            resource_prices: Default::default(),
        },
    )
    .unwrap();
    net.ledger.machines().last().unwrap().id
}

#[test]
fn a_big_job_finds_the_one_machine_it_fits_behind_many_cheaper_small_ones() {
    // 80 4-core machines and 70 cheaper one-GPU ones, more than matching
    // looks at in one group, and a dearer machine with 64 cores and 8 GPUs.
    let mut net = Net::new(80);
    let big = register_big(&mut net, 0, 64, 8, PRICE);
    for i in 0..70 {
        register_big(&mut net, i, 8, 1, PRICE / 2);
    }
    let mut cores = spec(false, 0);
    cores.resources.cpu_cores = 32;
    let j = net.submit(cores);
    assert_eq!(net.machine_of(j), big, "32 cores fit only the big machine");
    let mut gpus = spec(false, 0);
    gpus.resources.gpu = GpuRequirement {
        count: 8,
        ..GpuRequirement::default()
    };
    let g = net.submit(gpus);
    assert_eq!(net.machine_of(g), big, "8 GPUs fit only the big machine");
}

#[test]
fn the_walk_over_groups_passes_cheap_groups_that_cannot_fit_and_stops_at_the_best() {
    // 80 cheap 4-core machines with 8 GB, then two big-memory ones in groups
    // whose first offers come later: one with a GPU, one dearer without.
    let mut net = Net::new(80);
    let cheap: Vec<(usize, u64)> = net.ledger.machines().map(|m| m.id).enumerate().collect();
    for (provider, machine) in cheap {
        net.set_price(provider, machine, PRICE / 4);
    }
    let with_gpu = register_big(&mut net, 0, 8, 1, PRICE / 2);
    let without = register_big(&mut net, 1, 64, 0, PRICE);
    for placement in [Placement::Spread, Placement::Cheapest] {
        let mut job = spec(false, 0);
        job.resources.memory_mb = 200_000;
        job.placement = placement;
        let id = net.submit(job);
        assert_eq!(
            net.machine_of(id),
            with_gpu,
            "{placement:?}: the cheaper that fits"
        );
    }
    // Two of the GPU machine's cores are taken: a big job for 7 goes to the
    // dearer one.
    let mut job = spec(false, 0);
    job.resources.memory_mb = 100_000;
    job.resources.cpu_cores = 7;
    let id = net.submit(job);
    assert_eq!(net.machine_of(id), without);
    // A small job takes a cheap machine: the big ones' groups are never looked at.
    let small = net.submit(spec(false, 0));
    assert!(![with_gpu, without].contains(&net.machine_of(small)));
}
