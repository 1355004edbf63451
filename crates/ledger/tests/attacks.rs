//! What an attacker's client found, each a regression test: a forgery with
//! small-order keys, resource arithmetic that wrapped, and the oldest order
//! starved by the newer ones behind it (and, found by the simulator at 95 %
//! load, a freed machine idle while an order it fits waits deep in the queue).

use gpunet_ledger::TxError;
use gpunet_primitives::{
    Address, GpuRequirement, GpuSpec, Hash, JobOutcome, JobSpec, Keypair, MachineSpec, Resources,
    Signature, SignedTx, Tx, TxBody, UNIT,
};
use gpunet_types::{OrderStatus, Params};

#[macro_use]
mod common;
use common::{genesis, Chain, CHAIN_ID};

const PRICE: u128 = 36 * UNIT;

struct Net {
    chain: Chain,
    client: Keypair,
    provider: Keypair,
}

deref_chain!(Net, chain);

fn params() -> Params {
    Params {
        hardware_challenges: false,
        ..Params::default()
    }
}

/// A machine with `cores` cores and no GPU.
fn machine(cores: u32, disk_mb: u64) -> MachineSpec {
    MachineSpec {
        cpu_cores: cores,
        memory_mb: 8_000,
        disk_mb,
        gpu: None,
        region: "eu".into(),
        executor: "process".into(),
    }
}

/// A machine with `cores` cores and `count` GPUs of `model`.
fn gpu_machine(cores: u32, model: &str, count: u32, vram_mb: u64) -> MachineSpec {
    MachineSpec {
        gpu: Some(GpuSpec {
            vendor: "nvidia".into(),
            model: model.into(),
            count,
            vram_mb,
        }),
        ..machine(cores, 10_000)
    }
}

fn job(cores: u32, disk_mb: u64) -> JobSpec {
    JobSpec {
        name: "job".into(),
        ..JobSpec::new(
            "gpunet/busybox:latest",
            vec!["true".into()],
            Resources::new(cores, 100, disk_mb),
            60,
        )
    }
}

impl Net {
    /// One provider with no machine yet.
    fn new() -> Net {
        let validator = Keypair::from_label("validator");
        let client = Keypair::from_label("client");
        let provider = Keypair::from_label("provider");
        let g = genesis(&validator, &[&client, &provider], params());
        let mut net = Net {
            chain: Chain::new(&g, validator),
            client,
            provider,
        };
        let provider = net.provider.clone();
        net.send(&provider, TxBody::Stake { amount: 500 * UNIT })
            .unwrap();
        net
    }

    fn register(&mut self, spec: MachineSpec) -> Result<(), TxError> {
        let provider = self.provider.clone();
        self.send(
            &provider,
            TxBody::RegisterMachine {
                spec,
                price_per_hour: PRICE,
                resource_prices: Default::default(),
            },
        )
    }

    /// The client's order for `spec` at `PRICE`, signed.
    fn submission(&self, spec: JobSpec) -> SignedTx {
        let deposit = gpunet_types::min_deposit(PRICE, &spec).unwrap();
        self.tx(
            &self.client,
            TxBody::SubmitOrder {
                spec,
                max_price_per_hour: PRICE,
                deposit,
            },
        )
    }

    fn submit(&mut self, spec: JobSpec) -> Result<u64, TxError> {
        let tx = self.submission(spec);
        self.block(10, &[tx]).remove(0)?;
        Ok(self.ledger.state().globals().next_order_id - 1)
    }

    /// The provider's report that `order` completed, signed.
    fn completion(&self, order: u64) -> SignedTx {
        self.tx(
            &self.provider,
            TxBody::ReportResult {
                order,
                outcome: JobOutcome::Completed {
                    exit_code: 0,
                    output_root: Hash::digest(b"out"),
                    output_bytes: 1,
                    duration_ms: 1_000,
                    stopped: None,
                    held_by: gpunet_primitives::OutputHolder::Nodes,
                },
            },
        )
    }

    fn complete(&mut self, order: u64) {
        let tx = self.completion(order);
        self.block(10, &[tx]).remove(0).unwrap();
    }

    fn status(&self, order: u64) -> OrderStatus {
        self.ledger.order(order).unwrap().status()
    }
}

/// The identity point of the curve, encoded (y = 1): a key of small order.
fn identity_point() -> Address {
    let mut bytes = [0u8; 32];
    bytes[0] = 1;
    Address(bytes)
}

#[test]
fn a_spend_signed_without_a_private_key_under_a_weak_key_is_refused() {
    let mut net = Net::new();
    let weak = identity_point();
    let client = net.client.clone();
    // Nothing can be sent to a key no one holds.
    let sent = net.send(
        &client,
        TxBody::Transfer {
            to: weak,
            amount: 10 * UNIT,
        },
    );
    assert!(
        matches!(sent, Err(TxError::BadAddress(to, _)) if to == weak),
        "{sent:?}"
    );
    assert_eq!(net.ledger.account(&weak).balance, 0);
    // R = identity and S = 0: valid for the identity key under the
    // cofactored check, on any message, with no private key at all.
    let mut forged = [0u8; 64];
    forged[0] = 1;
    let tx = gpunet_primitives::SignedTx {
        tx: Tx {
            chain_id: CHAIN_ID.into(),
            sender: weak,
            nonce: 0,
            fee: params().min_fee,
            body: TxBody::Transfer {
                to: client.address(),
                amount: 1,
            },
        },
        signature: Signature(forged),
    };
    let result = net.block(10, &[tx]).remove(0);
    assert_eq!(result, Err(TxError::BadSignature));
    // Nor can a result be shared with such a key.
    let order = {
        net.register(machine(4, 10_000)).unwrap();
        net.submit(job(1, 100)).unwrap()
    };
    let shared = net.send(
        &client,
        TxBody::ShareResult {
            order,
            reader: weak,
            shared: true,
        },
    );
    assert!(matches!(shared, Err(TxError::BadAddress(..))), "{shared:?}");
}

#[test]
fn resources_near_the_integer_limit_are_refused_at_registration_and_submission() {
    let mut net = Net::new();
    for disk_mb in [u64::MAX, u64::MAX - 10, 1 << 63] {
        let registered = net.register(machine(4, disk_mb));
        assert!(
            matches!(registered, Err(TxError::ImpossibleSpec(_))),
            "machine disk {disk_mb}: {registered:?}"
        );
    }
    let mut gpu_machine = machine(4, 10_000);
    gpu_machine.gpu = Some(GpuSpec {
        vendor: "nvidia".into(),
        model: "H100".into(),
        count: 1,
        vram_mb: u64::MAX,
    });
    assert!(matches!(
        net.register(gpu_machine),
        Err(TxError::ImpossibleSpec(_))
    ));
    net.register(machine(4, 79_000)).unwrap();
    let first = net.submit(job(1, 1_000)).unwrap();
    assert_eq!(net.status(first), OrderStatus::Running);
    // `allocated + asked` wrapped: this job was once leased beside the first.
    for disk_mb in [u64::MAX - 500, u64::MAX] {
        let submitted = net.submit(job(1, disk_mb));
        assert!(
            matches!(submitted, Err(TxError::ImpossibleSpec(_))),
            "job disk {disk_mb}: {submitted:?}"
        );
    }
    let mut vram = job(1, 100);
    vram.resources.gpu = GpuRequirement {
        count: 1,
        min_vram_mb: u64::MAX,
        ..GpuRequirement::default()
    };
    assert!(matches!(net.submit(vram), Err(TxError::ImpossibleSpec(_))));
    let machine = net.ledger.machines().next().unwrap();
    assert_eq!(machine.allocated.disk_mb, 1_000);
}

#[test]
fn freed_capacity_goes_to_the_oldest_pending_order() {
    let mut net = Net::new();
    net.register(machine(4, 10_000)).unwrap();
    let running = net.submit(job(4, 100)).unwrap();
    assert_eq!(net.status(running), OrderStatus::Running);
    // The machine is full: the first waiting order, then newer ones, each in
    // a block of its own.
    let oldest = net.submit(job(4, 100)).unwrap();
    let newer: Vec<u64> = (0..5).map(|_| net.submit(job(4, 100)).unwrap()).collect();
    for &order in std::iter::once(&oldest).chain(&newer) {
        assert_eq!(net.status(order), OrderStatus::Pending);
    }
    net.complete(running);
    assert_eq!(
        net.status(oldest),
        OrderStatus::Running,
        "the order that waited longest takes the freed machine"
    );
    for order in newer {
        assert_eq!(net.status(order), OrderStatus::Pending);
    }
}

/// `n` orders, in one block, that no machine of `machine(4, _)` can take.
fn submit_unfit(net: &mut Net, n: u64) {
    let client = net.client.clone();
    let spec = job(64, 100);
    let deposit = gpunet_types::min_deposit(PRICE, &spec).unwrap();
    let nonce = net.ledger.account(&client.address()).nonce;
    let unfit: Vec<_> = (0..n)
        .map(|i| {
            Tx {
                chain_id: CHAIN_ID.into(),
                sender: client.address(),
                nonce: nonce + i,
                fee: params().min_fee,
                body: TxBody::SubmitOrder {
                    spec: spec.clone(),
                    max_price_per_hour: PRICE,
                    deposit,
                },
            }
            .sign(&client)
        })
        .collect();
    assert!(net.block(10, &unfit).iter().all(Result::is_ok));
}

#[test]
fn orders_that_fit_nothing_do_not_hold_back_those_behind_them() {
    let mut net = Net::new();
    net.register(machine(4, 10_000)).unwrap();
    // More orders than one block examines from the head of the queue, none
    // of which any machine can take, in one block...
    submit_unfit(&mut net, 1100);
    // ...then one that fits: it is served within a few blocks.
    let fits = net.submit(job(1, 100)).unwrap();
    for _ in 0..3 {
        if net.status(fits) == OrderStatus::Running {
            break;
        }
        net.block(10, &[]);
    }
    assert_eq!(net.status(fits), OrderStatus::Running);
}

#[test]
fn a_freed_machine_takes_the_oldest_order_it_fits_however_deep_in_the_queue() {
    let mut net = Net::new();
    net.register(machine(4, 10_000)).unwrap();
    let running = net.submit(job(4, 100)).unwrap();
    // An order waiting for the full machine, deep in a queue of orders that
    // fit nothing: far behind the oldest, which matching looks at on every
    // block, and outside the window that moves through the rest.
    submit_unfit(&mut net, 1100);
    let waiting = net.submit(job(4, 100)).unwrap();
    submit_unfit(&mut net, 2000);
    let newer = net.submit(job(4, 100)).unwrap();
    assert_eq!(net.status(waiting), OrderStatus::Pending);
    // The block that frees the machine leases it to the waiting order, not
    // to the newer one, nor to one submitted in that very block.
    let report = net.completion(running);
    let same_block = net.submission(job(4, 100));
    assert!(net
        .block(10, &[report, same_block])
        .iter()
        .all(Result::is_ok));
    assert_eq!(net.status(waiting), OrderStatus::Running);
    assert_eq!(net.status(newer), OrderStatus::Pending);
    let last = net.ledger.state().globals().next_order_id - 1;
    assert_eq!(net.status(last), OrderStatus::Pending);
}

#[test]
fn a_freed_machine_takes_the_oldest_orders_of_each_kind_it_can_serve() {
    let mut net = Net::new();
    net.register(gpu_machine(8, "NVIDIA H100 80GB HBM3", 2, 80_000))
        .unwrap();
    let gpus = |count, model: Option<&str>| {
        let mut spec = job(1, 100);
        spec.resources.gpu = GpuRequirement {
            count,
            model: model.map(str::to_string),
            ..GpuRequirement::default()
        };
        spec
    };
    let mut whole = gpus(2, None);
    whole.resources.cpu_cores = 8;
    let running = net.submit(whole).unwrap();
    assert_eq!(net.status(running), OrderStatus::Running);
    // Deep in a queue of orders that fit nothing: a CPU job, a job for one
    // H100 by name, one for two of any GPU, another CPU job.
    submit_unfit(&mut net, 1100);
    let cpu = net.submit(job(1, 100)).unwrap();
    let named = net.submit(gpus(1, Some("h100"))).unwrap();
    let pair = net.submit(gpus(2, None)).unwrap();
    let cpu_again = net.submit(job(1, 100)).unwrap();
    submit_unfit(&mut net, 1100);
    net.complete(running);
    // Oldest first while they fit: the pair no longer does once the named
    // job holds a GPU, and the CPU job behind it still does.
    for (order, status) in [
        (cpu, OrderStatus::Running),
        (named, OrderStatus::Running),
        (pair, OrderStatus::Pending),
        (cpu_again, OrderStatus::Running),
    ] {
        assert_eq!(net.status(order), status, "order {order}");
    }
}

#[test]
fn an_order_for_a_gpu_model_nobody_lists_yet_waits_for_one() {
    let mut net = Net::new();
    let mut spec = job(1, 100);
    spec.resources.gpu = GpuRequirement {
        count: 1,
        model: Some("h200".into()),
        ..GpuRequirement::default()
    };
    let order = net.submit(spec).unwrap();
    assert_eq!(net.status(order), OrderStatus::Pending);
    // The model appears on a machine too dear for the order: it keeps
    // waiting (every block checks the ledger's invariants, the index of
    // what orders want included)...
    let h200 = gpu_machine(4, "NVIDIA H200", 1, 141_000);
    let provider = net.provider.clone();
    net.send(
        &provider,
        TxBody::RegisterMachine {
            spec: h200,
            price_per_hour: 2 * PRICE,
            resource_prices: Default::default(),
        },
    )
    .unwrap();
    net.block(10, &[]);
    assert_eq!(net.status(order), OrderStatus::Pending);
    // ...until its owner lowers the price.
    let machine = net.ledger.machines().next().unwrap().id;
    net.send(
        &provider,
        TxBody::UpdateMachine {
            machine,
            price_per_hour: PRICE,
            resource_prices: Default::default(),
            online: true,
        },
    )
    .unwrap();
    assert_eq!(net.status(order), OrderStatus::Running);
}
