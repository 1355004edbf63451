//! Matching: placement, reliability, resource prices, what a pending order misses,
//! and the walk over the offer index.

use crate::net::*;
use gpunet_primitives::{
    Address, GpuRequirement, JobSpec, Placement, ResourcePrices, SignedTx, Tx, TxBody, UNIT,
};
use gpunet_types::{Misfit, OrderStatus, Params};

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
fn machines_of_the_same_load_and_price_take_work_in_turn() {
    // Three idle machines at one price: one job at a time, each done before
    // the next. The lowest id used to take every one of them.
    let mut net = Net::new(3);
    let mut lessees = Vec::new();
    for _ in 0..6 {
        let job = net.submit(spec(false, 0));
        lessees.push(lessee(&net, job));
        net.report(job, b"ok");
    }
    let first_round = &lessees[..3];
    for (i, who) in first_round.iter().enumerate() {
        assert!(
            !first_round[..i].contains(who),
            "each machine once before any twice: {lessees:?}"
        );
    }
    assert_eq!(&lessees[3..], first_round, "then again in the same turn");
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
        "fewest misses first, then the cheapest, then by id"
    );
    // An order that fits: machines can take it (the pricey one cannot).
    let small = net.submit(spec(false, 0));
    let fits = net.ledger.unmatched(small, 3).unwrap();
    assert_eq!(
        (fits.fitting, fits.missed.clone()),
        (2, vec![(Misfit::Price, 1)])
    );
}

#[test]
fn a_dry_run_names_the_machines_that_fit_cheapest_first_and_places_nothing() {
    let mut net = Net::new(3);
    net.set_price(1, 1, PRICE / 4);
    net.set_price(2, 2, PRICE / 2);
    let root = net.ledger.state_root();
    let tried = net
        .ledger
        .dry_run(&spec(false, 0), PRICE, false, 3)
        .unwrap();
    assert_eq!((tried.machines, tried.fitting), (3, 3));
    let ranked: Vec<u64> = tried.closest.iter().map(|(m, _)| m.id).collect();
    assert_eq!(ranked, vec![1, 2, 0], "cheapest first");
    // Too pricey for two of them: the one that fits first.
    let tried = net
        .ledger
        .dry_run(&spec(false, 0), PRICE / 4, false, 3)
        .unwrap();
    assert_eq!(tried.fitting, 1);
    assert_eq!(tried.closest[0].0.id, 1);
    assert_eq!(tried.missed, vec![(Misfit::Price, 2)]);
    // What an order could not ask for is refused, as it would be on submission.
    let mut impossible = spec(false, 0);
    impossible.resources.cpu_cores = 0;
    let refused = net
        .ledger
        .dry_run(&impossible, PRICE, false, 3)
        .unwrap_err();
    assert_eq!(refused.code(), "impossible_spec");
    assert_eq!(
        net.ledger
            .dry_run(&spec(false, 0), PRICE, true, 3)
            .unwrap()
            .fitting,
        3,
        "a rental of the same spec fits the same machines"
    );
    assert_eq!(net.ledger.state_root(), root, "nothing was placed");
    assert!(net.ledger.orders().next().is_none());
}

#[test]
fn orders_nobody_can_take_do_not_hold_back_those_behind_them() {
    let mut net = Net::new(1);
    // More GPU orders than one block looks at; the only machine has no GPU.
    let mut gpu_job = spec(false, 0);
    gpu_job.resources.gpu.count = 1;
    submit_in_one_block(&mut net, &vec![(gpu_job, PRICE); 1_100]);
    let cpu_job = net.submit(spec(false, 0));
    for _ in 0..3 {
        net.block(10, &[]);
    }
    assert_eq!(net.status(cpu_job), OrderStatus::Running);
    assert_eq!(net.ledger.state().pending.len(), 1_100);
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

/// Submits `orders` (each a spec and its max price) in one block, in
/// turn, and returns their ids: matching looks at them within that block.
fn submit_in_one_block(net: &mut Net, orders: &[(JobSpec, u128)]) -> Vec<u64> {
    let client = net.client.clone();
    let nonce = net.ledger.account(&client.address()).nonce;
    let first = net.ledger.state().globals().next_order_id;
    let txs: Vec<SignedTx> = orders
        .iter()
        .zip(nonce..)
        .map(|((spec, max_price_per_hour), nonce)| {
            Tx {
                chain_id: "test".into(),
                sender: client.address(),
                nonce,
                fee: Params::default().min_fee,
                body: TxBody::SubmitOrder {
                    spec: spec.clone(),
                    max_price_per_hour: *max_price_per_hour,
                    deposit: 3 * gpunet_types::max_payment(PRICE, spec.timeout_secs).unwrap(),
                },
            }
            .sign(&client)
        })
        .collect();
    assert!(net.block(10, &txs).iter().all(|r| r.is_ok()));
    (first..first + orders.len() as u64).collect()
}

#[test]
fn an_order_nothing_fits_holds_back_no_order_that_asks_differently_in_its_block() {
    // Matching passes over orders that ask what an earlier one in the same
    // block found no machine for; these ask the same resources as that
    // one, but more money, or no region.
    let mut net = Net::new(2);
    let mut in_us = spec(false, 0);
    in_us.region = Some("us".into());
    let ids = submit_in_one_block(
        &mut net,
        &[
            (spec(false, 0), PRICE / 2),
            (spec(false, 0), PRICE),
            (in_us, PRICE),
            (spec(false, 0), PRICE),
        ],
    );
    let statuses: Vec<OrderStatus> = ids.iter().map(|id| net.status(*id)).collect();
    use OrderStatus::{Pending, Running};
    assert_eq!(statuses, [Pending, Running, Pending, Running]);
}

#[test]
fn an_order_whose_search_was_cut_short_holds_back_no_order_that_asks_the_same() {
    // 70 machines in one group: the 64 the index lists first (no base
    // price, twice PRICE a core) cost more per job than PRICE, which only
    // the 6 after them (PRICE) take. A job at PRICE looks at the first 64
    // and finds nothing; once one of those 64 is leased (moving behind the
    // rest), the same job's search reaches a machine at PRICE, in the same
    // block: the next such job's, then the first one's again (among the
    // orders that arrived in the block).
    let mut net = Net::new(70);
    let dear = ResourcePrices {
        per_gpu_hour: 0,
        per_cpu_hour: 2 * PRICE,
        per_gb_ram_hour: 0,
    };
    let machines: Vec<u64> = net.ledger.machines().map(|m| m.id).collect();
    for (provider, machine) in machines.iter().enumerate().take(64) {
        net.set_prices(provider, *machine, 0, dear);
    }
    let ids = submit_in_one_block(
        &mut net,
        &[
            (spec(false, 0), PRICE),
            (spec(false, 0), 3 * PRICE),
            (spec(false, 0), PRICE),
        ],
    );
    let statuses: Vec<OrderStatus> = ids.iter().map(|id| net.status(*id)).collect();
    assert_eq!(statuses, [OrderStatus::Running; 3]);
    assert_eq!(net.machine_of(ids[1]), machines[0]);
    for at_price in [ids[0], ids[2]] {
        assert!(machines[64..].contains(&net.machine_of(at_price)));
    }
}
