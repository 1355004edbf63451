//! The market harness: a chain with a client and several providers, and
//! the job and rental helpers the tests share.

use crate::common::{self, genesis, Chain};
use gpunet_ledger::TxError;
use gpunet_primitives::{
    Address, GpuSpec, Hash, JobOutcome, JobSpec, Keypair, MachineSpec, ResourcePrices, Resources,
    Stop, TxBody, UNIT,
};
use gpunet_types::{AuditVerdict, Event, OrderStatus, Params};

pub(crate) const PRICE: u128 = 36 * UNIT;

pub(crate) struct Net {
    pub(crate) chain: Chain,
    pub(crate) client: Keypair,
    pub(crate) providers: Vec<Keypair>,
}

deref_chain!(Net, chain);

pub(crate) fn params() -> Params {
    Params {
        dispute_window_ms: 1_000,
        report_grace_ms: 1_000,
        order_ttl_ms: 5_000,
        hardware_challenges: false,
        ..Params::default()
    }
}

impl Net {
    pub(crate) fn new(providers: usize) -> Net {
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

    pub(crate) fn set_price(&mut self, provider: usize, machine: u64, price_per_hour: u128) {
        self.set_prices(provider, machine, price_per_hour, ResourcePrices::default());
    }

    pub(crate) fn set_prices(
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

    pub(crate) fn fail(&mut self, order: u64) {
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
    pub(crate) fn decline(&mut self, order: u64, reason: &str) -> Result<(), TxError> {
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
    pub(crate) fn dispute(&mut self, order: u64, expected: &[u8]) -> Result<(), TxError> {
        let client = self.client.clone();
        let deposit = {
            let o = self.ledger.order(order).unwrap();
            gpunet_types::run_cost(o.max_price_per_hour, &o.spec)
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
    pub(crate) fn referee(&self, order: u64) -> u64 {
        let runs = &self.ledger.order(order).unwrap().audit_runs();
        assert_eq!(runs.len(), 1, "one referee run");
        runs[0]
    }

    pub(crate) fn machine_of(&self, order: u64) -> u64 {
        self.ledger
            .order(order)
            .unwrap()
            .lease()
            .cloned()
            .unwrap()
            .machine
    }

    pub(crate) fn submit(&mut self, spec: JobSpec) -> u64 {
        let client = self.client.clone();
        let deposit = 3 * gpunet_types::max_payment(PRICE, spec.timeout_secs).unwrap();
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

    /// `who` places `spec` at PRICE with a 100 GPN deposit: what the ledger
    /// says.
    pub(crate) fn submit_as(&mut self, who: &Keypair, spec: JobSpec) -> Result<(), TxError> {
        self.send(
            who,
            TxBody::SubmitOrder {
                spec,
                max_price_per_hour: PRICE,
                deposit: 100 * UNIT,
            },
        )
    }

    pub(crate) fn provider_of(&self, order: u64) -> Keypair {
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
    pub(crate) fn report(&mut self, order: u64, root: &[u8]) {
        self.report_run(order, root, None);
    }

    /// The order's provider reports `root` as the output of a run stopped at
    /// `stopped` (if stopped).
    pub(crate) fn report_run(&mut self, order: u64, root: &[u8], stopped: Option<Stop>) {
        self.report_timed(order, root, stopped, 1_000);
    }

    /// The order's provider reports a run that took `duration_ms`, after
    /// letting that much block time pass.
    pub(crate) fn report_after(&mut self, order: u64, root: &[u8], duration_ms: u64) {
        self.block(duration_ms, &[]);
        self.report_timed(order, root, None, duration_ms);
    }

    pub(crate) fn report_timed(
        &mut self,
        order: u64,
        root: &[u8],
        stopped: Option<Stop>,
        duration_ms: u64,
    ) {
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
                    held_by: gpunet_primitives::OutputHolder::Nodes,
                },
            },
        )
        .unwrap();
    }

    /// Lets the dispute window pass; returns the audit run started, if any.
    pub(crate) fn end_dispute_window(&mut self, order: u64) -> Option<u64> {
        self.block(params().dispute_window_ms, &[]);
        self.block(10, &[]); // the run is matched at the end of a block
        self.ledger
            .order(order)
            .unwrap()
            .audit_runs()
            .last()
            .copied()
    }

    pub(crate) fn status(&self, order: u64) -> OrderStatus {
        self.ledger.order(order).unwrap().status()
    }

    pub(crate) fn bonded(&self, who: &Keypair) -> u128 {
        self.ledger.account(&who.address()).bonded
    }

    /// Every provider's bonded stake.
    pub(crate) fn stakes(&self) -> Vec<u128> {
        self.providers.iter().map(|p| self.bonded(p)).collect()
    }

    pub(crate) fn verdict(&self, order: u64) -> Option<AuditVerdict> {
        self.ledger.order(order).unwrap().audit_verdict().cloned()
    }
}

pub(crate) fn spec(deterministic: bool, audit_bps: u32) -> JobSpec {
    JobSpec {
        name: "audited".into(),
        audit_bps,
        ..JobSpec::new(
            if deterministic {
                "gpunet/busybox@sha256:1111111111111111111111111111111111111111111111111111111111111111"
            } else {
                "gpunet/busybox:latest"
            },
            vec!["true".into()],
            Resources::new(1, 100, 100),
            60,
        )
    }
}

pub(crate) fn lessee(net: &Net, order: u64) -> Address {
    net.ledger
        .order(order)
        .unwrap()
        .lease()
        .cloned()
        .unwrap()
        .provider
}

pub(crate) fn rent(net: &mut Net, secs: u64, deposit: u128) -> Result<u64, TxError> {
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

pub(crate) fn rental_billing_ms() -> u64 {
    params().rental_billing_ms
}

pub(crate) const MINUTE: u64 = 60_000;

/// A job that may run an hour.
pub(crate) fn hour_long(deterministic: bool, audit_bps: u32) -> JobSpec {
    JobSpec {
        timeout_secs: 3_600,
        ..spec(deterministic, audit_bps)
    }
}

pub(crate) fn billed_ms(net: &Net, order: u64) -> u64 {
    net.ledger
        .order(order)
        .unwrap()
        .report()
        .cloned()
        .unwrap()
        .billable_ms
}

pub(crate) fn padded_events(net: &Net) -> Vec<(u64, u64, u64)> {
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

/// A new owner, funded by provider `funder`, registering a machine with
/// `cores` and `gpus` H100s.
pub(crate) fn register_big(
    net: &mut Net,
    funder: usize,
    cores: u32,
    gpus: u32,
    price: u128,
) -> u64 {
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
