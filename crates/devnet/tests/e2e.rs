//! End-to-end: a real devnet (node, API over loopback, provider agents running
//! real processes) driven through the client library, as users drive it.

use gpunet_client::jobfile::{InputFile, JobFile};
use gpunet_client::jobs::{
    dispute_result, fetch_outputs, output_entry, read_output, submit_job, wait_for_order,
};
use gpunet_client::logs::{current_logs, follow_logs, LogPiece};
use gpunet_client::{ClientError, Wallet};
use gpunet_devnet::{client_key, provider_key};
use gpunet_node::BlobRetention;
use gpunet_primitives::manifest::Manifest;
use gpunet_primitives::{
    BlobRead, BlobUpload, ContainerStop, Hash, JobOutcome, JobSpec, Keypair, LogChunk, LogRead,
    LogStream, MachineSpec, Resources, SignedRequest, Stop, Tx, TxBody, MAX_LOG_CHUNK_BYTES,
    MAX_TX_BYTES, UNIT,
};
use gpunet_provider::canary::{check, known_answer, CanaryVerdict};
use gpunet_provider::executor::group_alive;
use gpunet_provider::executor::ExecutorKind;
use gpunet_provider::journal::Journal;
use gpunet_types::api::MachineSearch;
use gpunet_types::OrderStatus;
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

mod common;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successful_job_is_verified_paid_burned_and_refunded() {
    let dir = tempfile::tempdir().unwrap();
    let net = devnet(dir.path(), 2).await;
    let node = net.client();
    let wallet = net.client_wallet();
    let fee = node.status().await.unwrap().params.min_fee;
    let client_before = balance(&node, &client_key()).await;
    let providers_before = [
        balance(&node, &provider_key(0)).await,
        balance(&node, &provider_key(1)).await,
    ];
    let burned_before = node.status().await.unwrap().supply.burned;
    // Both machines proved their hardware before taking work.
    let machines = node.machines().await.unwrap();
    for m in &machines {
        assert_eq!(m.hardware, gpunet_types::HardwareStatus::Verified, "{m:?}");
        // Measured: GOPS for its GPUs, or Mops/s for its CPUs (a CPU-only
        // machine's GOPS round to 0 when it is slow or busy).
        let measured = m.compute_gops > 0 || m.cpu_mops > 0;
        assert!(m.challenges_passed >= 1 && measured, "{m:?}");
    }
    // The node searches them and returns only what was asked.
    let search = |q: String, order: Option<&str>, limit| MachineSearch {
        q: Some(q),
        order: order.map(str::to_string),
        limit,
    };
    let owner = provider_key(1).address();
    let (found, matched) = node
        .find_machines(&search(format!("owner={owner}"), None, None))
        .await
        .unwrap();
    assert_eq!(matched, 1);
    assert_eq!(found.iter().map(|m| m.owner).collect::<Vec<_>>(), [owner]);
    let (found, matched) = node
        .find_machines(&search("verified=true".into(), Some("-id"), Some(1)))
        .await
        .unwrap();
    assert_eq!(matched, 2);
    assert_eq!(
        found.iter().map(|m| m.id).collect::<Vec<_>>(),
        [machines.iter().map(|m| m.id).max().unwrap()]
    );
    let refused = node
        .find_machines(&search("colour=red".into(), None, None))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("bad_request"));
    assert!(refused.to_string().contains("unknown field"), "{refused}");

    let job = JobFile::load(&examples().join("hello.toml")).unwrap();
    let id = submit_job(&wallet, &job).await.unwrap();
    let order = wait_final(&node, id).await;
    assert_eq!(order.status, OrderStatus::Settled, "{order:?}");

    let out = dir.path().join("out");
    let manifest = fetch_outputs(&wallet, &order, &out).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("outputs/sum.txt"))
            .unwrap()
            .trim(),
        "500000500000"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("outputs/word-count.txt"))
            .unwrap()
            .trim(),
        "34"
    );
    assert!(std::fs::read_to_string(out.join("logs/stdout.log"))
        .unwrap()
        .contains(&format!("hello from gpunet order {id}")));
    assert!(manifest.get("logs/stderr.log").is_some());
    // A downloaded result gives back the reported root (`gpunet job root`):
    // how a canary's issuer keeps its known answer.
    let Some(JobOutcome::Completed { output_root, .. }) = order.report.as_ref().map(|r| &r.outcome)
    else {
        panic!("completed")
    };
    assert_eq!(Manifest::of_result_dir(&out).unwrap().root(), *output_root);

    let s = order.settlement.unwrap();
    let lease = order.lease.unwrap();
    let paid = s.paid_to_provider + s.burned;
    assert!(paid > 0, "the provider did billable work");
    assert_eq!(
        s.burned,
        paid * 1000 / 10_000,
        "10% of the payment is burned"
    );
    assert_eq!(s.refunded, order.deposit - paid);
    assert_eq!(
        balance(&node, &client_key()).await,
        client_before - fee - paid
    );
    let p = provider_key(0).address() == lease.provider;
    let (worker, idle) = if p { (0, 1) } else { (1, 0) };
    assert_eq!(
        balance(&node, &provider_key(worker)).await,
        providers_before[worker] - fee + s.paid_to_provider
    );
    assert_eq!(
        balance(&node, &provider_key(idle)).await,
        providers_before[idle]
    );
    assert_eq!(
        node.status().await.unwrap().supply.burned,
        burned_before + s.burned
    );
    net.node.ledger.read().unwrap().check_invariants().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_false_dispute_is_refereed_by_the_other_provider_and_the_provider_paid() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), 2);
    // Room to dispute after seeing the report.
    config.params.dispute_window_ms = 10_000;
    let net = gpunet_devnet::Devnet::start(config).await.unwrap();
    let node = net.client();
    let job = JobFile::load(&examples().join("hello.toml")).unwrap();
    let id = submit_job(&net.client_wallet(), &job).await.unwrap();
    wait_reported(&node, id).await;
    dispute_result(&net.client_wallet(), id, Hash::digest(b"not the output"))
        .await
        .unwrap();
    let order = wait_final(&node, id).await;
    assert_eq!(order.status, OrderStatus::Settled, "{order:?}");
    assert_eq!(
        order.audit_verdict,
        Some(gpunet_types::AuditVerdict::DisputeRejected)
    );
    let referee = wait_final(&node, order.audit_runs[0]).await;
    assert_eq!(referee.status, OrderStatus::Settled, "{referee:?}");
    assert_ne!(
        referee.lease.unwrap().provider,
        order.lease.unwrap().provider,
        "refereed by the other provider"
    );
    assert_eq!(order.settlement.unwrap().slashed, 0);
}

/// A provider that runs nothing: it reports every lease of its machine as
/// `root`, claiming `duration_ms`, once that much block time has passed since
/// the lease began. With a made-up root it fakes results, the adversary
/// canary jobs are for; with the right one, it pads its time.
async fn rogue_results(wallet: std::sync::Arc<Wallet>, root: Hash, duration_ms: u64) {
    loop {
        let now = wallet.node().status().await.map_or(0, |s| s.time_ms);
        let leases = wallet
            .node()
            .provider_leases(&wallet.address())
            .await
            .unwrap_or_default();
        for order in leases {
            let due = order
                .lease
                .as_ref()
                .is_some_and(|l| l.start_ms + duration_ms <= now);
            if order.status == OrderStatus::Running && due {
                let outcome = JobOutcome::Completed {
                    exit_code: 0,
                    output_root: root,
                    output_bytes: 1,
                    duration_ms,
                    stopped: None,
                    held_by: gpunet_primitives::OutputHolder::Nodes,
                };
                let _ = wallet
                    .send(TxBody::ReportResult {
                        order: order.id,
                        outcome,
                    })
                    .await;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A devnet with one honest agent and a machine of `label`'s, registered by
/// hand (no agent answers its challenges, so challenges are off) and cheaper,
/// so jobs go to it. Returns the devnet and the rogue's wallet.
async fn devnet_with_rogue(
    dir: &std::path::Path,
    label: &str,
    tune: impl FnOnce(&mut gpunet_types::Params),
) -> (gpunet_devnet::Devnet, std::sync::Arc<Wallet>) {
    let mut config = config(dir, 1);
    config.params.hardware_challenges = false;
    config.params.dispute_window_ms = 10_000;
    tune(&mut config.params);
    let net = gpunet_devnet::Devnet::start(config).await.unwrap();
    let rogue = std::sync::Arc::new(Wallet::new(Keypair::from_label(label), net.client()));
    net.client_wallet()
        .send(TxBody::Transfer {
            to: rogue.address(),
            amount: 600 * UNIT,
        })
        .await
        .unwrap();
    rogue
        .send(TxBody::Stake { amount: 500 * UNIT })
        .await
        .unwrap();
    rogue
        .send(TxBody::RegisterMachine {
            spec: MachineSpec {
                cpu_cores: 8,
                memory_mb: 16_000,
                disk_mb: 100_000,
                gpu: None,
                region: "local".into(),
                executor: "process".into(),
            },
            price_per_hour: UNIT,
            resource_prices: Default::default(),
        })
        .await
        .unwrap();
    (net, rogue)
}

/// Submits the hello example as a canary and learns its answer by running it here.
async fn canary_job(
    net: &gpunet_devnet::Devnet,
    dir: &std::path::Path,
) -> (u64, gpunet_provider::canary::KnownAnswer) {
    let client = net.client_wallet();
    let job = JobFile::load(&examples().join("hello.toml")).unwrap();
    let id = submit_job(&client, &job).await.unwrap();
    let order = net.client().order(id).await.unwrap();
    let executor = ExecutorKind::Process.connect().await.unwrap();
    let known = known_answer(&client, executor.as_ref(), &order, &dir.join("canary"))
        .await
        .unwrap();
    (id, known)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_catches_a_provider_that_fakes_results_and_it_is_slashed() {
    let dir = tempfile::tempdir().unwrap();
    let (net, faker) = devnet_with_rogue(dir.path(), "faker", |_| {}).await;
    let node = net.client();
    let client = net.client_wallet();
    let stake = bonded(&node, faker.key()).await;
    let faking = tokio::spawn(rogue_results(faker.clone(), Hash::digest(b"made up"), 0));
    let (id, expected) = canary_job(&net, dir.path()).await;
    let order = wait_reported(&node, id).await;
    assert_eq!(order.lease.unwrap().provider, faker.address());
    assert!(matches!(
        check(&client, id, expected).await.unwrap(),
        CanaryVerdict::Disputed { .. }
    ));
    let order = wait_final(&node, id).await;
    faking.abort();
    assert_eq!(order.status, OrderStatus::Failed, "{order:?}");
    assert_eq!(
        order.audit_verdict,
        Some(gpunet_types::AuditVerdict::ProviderWrong)
    );
    let params = node.status().await.unwrap().params;
    assert_eq!(bonded(&node, faker.key()).await, stake - params.slash_audit);
    // The honest agent refereed: its run gave the canary's known answer.
    let referee = wait_final(&node, order.audit_runs[0]).await;
    assert_eq!(referee.lease.unwrap().provider, provider_key(0).address());
    let Some(JobOutcome::Completed { output_root, .. }) = referee.report.map(|r| r.outcome) else {
        panic!("the referee completed")
    };
    assert_eq!(output_root, expected.root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_catches_a_provider_that_pads_its_time_and_it_is_billed_the_referees() {
    let dir = tempfile::tempdir().unwrap();
    // A second of slack: the hello job takes milliseconds.
    let (net, padder) =
        devnet_with_rogue(dir.path(), "padder", |p| p.duration_slack_ms = 1_000).await;
    let node = net.client();
    let client = net.client_wallet();
    let stake = bonded(&node, padder.key()).await;
    let (id, known) = canary_job(&net, dir.path()).await;
    // It reports the right output (it could have run the job) five seconds in.
    let padding = tokio::spawn(rogue_results(padder.clone(), known.root, 5_000));
    let order = wait_reported(&node, id).await;
    assert_eq!(order.lease.unwrap().provider, padder.address());
    let verdict = check(&client, id, known).await.unwrap();
    assert!(
        matches!(verdict, CanaryVerdict::DisputedTime { billed_ms: 5_000, allowed_ms } if allowed_ms < 5_000),
        "{verdict:?}"
    );
    let order = wait_final(&node, id).await;
    padding.abort();
    assert_eq!(order.status, OrderStatus::Settled, "{order:?}");
    assert_eq!(
        order.audit_verdict,
        Some(gpunet_types::AuditVerdict::ProviderPadded),
        "the output was right, the time padded"
    );
    let params = node.status().await.unwrap().params;
    let report = order.report.unwrap();
    assert_eq!(report.padded, Some(params.slash_audit), "{report:?}");
    assert!(report.billable_ms < 5_000, "{report:?}");
    assert_eq!(order.settlement.unwrap().slashed, params.slash_audit);
    assert_eq!(
        bonded(&node, padder.key()).await,
        stake - params.slash_audit
    );
    let referee = wait_final(&node, order.audit_runs[0]).await;
    let referee_ms = referee.report.unwrap().billable_ms;
    assert_eq!(report.billable_ms, params.duration_bound(referee_ms));
}

/// A deterministic job (pinned by content id, without network, so
/// slashable) running `script`, audited every time.
fn always_audited_job(dir: &std::path::Path, script: &str, timeout_secs: u64) -> JobFile {
    let path = dir.join("audited.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"audited\"\nimage = \"sha256:{}\"\ncommand = {}\n\
             timeout_secs = {timeout_secs}\naudit_bps = 10000\n\
             [price]\nmax_per_hour = \"50\"\ndeposit = \"2\"\n",
            "ab".repeat(32),
            toml_command(script)
        ),
    )
    .unwrap();
    JobFile::load(&path).unwrap()
}

/// Runs `job` (always audited) to its end and checks the audit agreed and
/// the job and its audit run were both paid. Returns both, settled.
async fn agreed_audit(
    net: &gpunet_devnet::Devnet,
    job: &JobFile,
) -> (gpunet_types::OrderView, gpunet_types::OrderView) {
    let node = net.client();
    let id = submit_job(&net.client_wallet(), job).await.unwrap();
    let order = wait_final(&node, id).await;
    assert_eq!(order.status, OrderStatus::Settled, "{order:?}");
    assert_eq!(
        order.audit_verdict,
        Some(gpunet_types::AuditVerdict::Agreed)
    );
    let run = wait_final(&node, order.audit_runs[0]).await;
    assert_eq!(run.status, OrderStatus::Settled, "{run:?}");
    (order, run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audited_deterministic_job_is_rerun_by_the_other_provider_and_agreed() {
    let dir = tempfile::tempdir().unwrap();
    let net = devnet(dir.path(), 2).await;
    let script = "echo order $GPUNET_ORDER_ID > $GPUNET_OUTPUT_DIR/out; seq 1 1000 | wc -l";
    let job = always_audited_job(dir.path(), script, 30);
    let (order, run) = agreed_audit(&net, &job).await;
    assert_ne!(
        run.lease.as_ref().unwrap().provider,
        order.lease.as_ref().unwrap().provider,
        "audited by the other provider"
    );
    // Both runs produced the same outputs, byte for byte.
    let root = |o: &gpunet_types::OrderView| match &o.report.as_ref().unwrap().outcome {
        gpunet_primitives::JobOutcome::Completed { output_root, .. } => *output_root,
        other => panic!("{other:?}"),
    };
    assert_eq!(root(&run), root(&order));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audited_runs_both_stopped_at_the_timeout_agree_though_their_outputs_differ() {
    let dir = tempfile::tempdir().unwrap();
    let net = devnet(dir.path(), 2).await;
    let job = always_audited_job(dir.path(), "while true; do date +%s%N; sleep 0.1; done", 2);
    let (order, run) = agreed_audit(&net, &job).await;
    assert_eq!(order.audit_runs.len(), 1, "no tie-break");
    let reported = |o: &gpunet_types::OrderView| match &o.report.as_ref().unwrap().outcome {
        JobOutcome::Completed {
            output_root,
            stopped,
            ..
        } => (*output_root, *stopped),
        other => panic!("{other:?}"),
    };
    let (root, stopped) = reported(&order);
    let (run_root, run_stopped) = reported(&run);
    assert_eq!(
        (stopped, run_stopped),
        (Some(Stop::Timeout), Some(Stop::Timeout))
    );
    assert_ne!(root, run_root, "each run printed its own clock");

    // Nor has such a job a known answer for a canary issuer to dispute with.
    let executor = ExecutorKind::Process.connect().await.unwrap();
    let wallet = net.client_wallet();
    let work = dir.path().join("canary");
    let refused = known_answer(&wallet, executor.as_ref(), &order, &work)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("stopped at its timeout limit"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rental_runs_until_its_time_is_up_and_the_renter_can_end_one_early() {
    let dir = tempfile::tempdir().unwrap();
    let net = devnet(dir.path(), 1).await;
    let node = net.client();
    let journal = net.provider_dir(0).join("journal");

    // Three seconds of a machine: its service runs, then is stopped when the
    // ledger closes the rental; the provider was paid by the second.
    let job = job_file(dir.path(), "service", "sleep 600", 3);
    let id = gpunet_client::jobs::submit_rental(&net.client_wallet(), &job)
        .await
        .unwrap();
    let pgid = wait_running_with_pgid(&node, &journal, id).await;
    assert!(group_alive(pgid));
    let order = wait_final(&node, id).await;
    assert_eq!(order.status, OrderStatus::Settled, "{order:?}");
    let s = order.settlement.unwrap();
    let price = order.lease.unwrap().price_per_hour;
    assert_eq!(s.paid_to_provider + s.burned, price * 3_000 / 3_600_000);
    wait_journal_empty(&journal).await;
    assert!(!group_alive(pgid), "the service outlived its rental");

    // An hour booked, ended after a moment: most of the deposit comes back.
    let job = job_file(dir.path(), "service2", "sleep 600", 3_600);
    let id = gpunet_client::jobs::submit_rental(&net.client_wallet(), &job)
        .await
        .unwrap();
    let pgid = wait_running_with_pgid(&node, &journal, id).await;
    net.client_wallet()
        .send(TxBody::EndRental {
            order: id,
            save: false,
        })
        .await
        .unwrap();
    let order = node.order(id).await.unwrap();
    assert_eq!(order.status, OrderStatus::Settled);
    let s = order.settlement.unwrap();
    assert!(s.refunded > order.deposit * 9 / 10, "{s:?}");
    wait_journal_empty(&journal).await;
    assert!(!group_alive(pgid), "the service outlived its rental");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rental_whose_container_exits_ends_and_stops_billing() {
    let dir = tempfile::tempdir().unwrap();
    let net = devnet(dir.path(), 1).await;
    let node = net.client();
    // An hour booked; its program ends after a second.
    let job = job_file(dir.path(), "short", "sleep 1; exit 3", 3_600);
    let id = gpunet_client::jobs::submit_rental(&net.client_wallet(), &job)
        .await
        .unwrap();
    let order = wait_final(&node, id).await;
    assert_eq!(order.status, OrderStatus::Settled, "{order:?}");
    assert_eq!(
        order.rental.as_ref().unwrap().stopped,
        Some(ContainerStop::Exited { exit_code: 3 })
    );
    let s = order.settlement.unwrap();
    assert!(s.refunded > order.deposit * 9 / 10, "{s:?}");
    wait_journal_empty(&net.provider_dir(0).join("journal")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_provider_answers_probes_and_a_dead_one_is_held_down_and_slashed() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = devnet(dir.path(), 1).await;
    let node = net.client();
    let client = net.client_wallet();
    let journal = net.provider_dir(0).join("journal");
    let params = node.status().await.unwrap().params;
    let job = job_file(dir.path(), "service", "sleep 600", 3_600);
    let id = gpunet_client::jobs::submit_rental(&client, &job)
        .await
        .unwrap();
    wait_running_with_pgid(&node, &journal, id).await;

    // The agent answers the probe by itself.
    client
        .send(TxBody::ReportOffline { order: id })
        .await
        .unwrap();
    let probed =
        |o: &gpunet_types::OrderView| o.rental.as_ref().is_some_and(|r| !r.awaits_answer());
    wait_for_order(&node, id, Duration::from_secs(10), probed, |_| {})
        .await
        .unwrap();

    // A dead agent does not: the machine is held down; back, it answers and is slashed.
    net.kill_provider(0).await;
    client
        .send(TxBody::ReportOffline { order: id })
        .await
        .unwrap();
    wait_for_order(
        &node,
        id,
        Duration::from_secs(10),
        |o| o.rental.as_ref().is_some_and(|r| r.down_since_ms.is_some()),
        |_| {},
    )
    .await
    .unwrap();
    assert!(!node.machine(0).await.unwrap().online);
    net.start_provider(0).await.unwrap();
    wait_for_order(&node, id, Duration::from_secs(10), probed, |_| {})
        .await
        .unwrap();
    assert!(node.machine(0).await.unwrap().online);
    // The slash landed; the agent may have topped its stake up again since.
    let slashed = node.order(id).await.unwrap().rental.unwrap().slashed;
    assert_eq!(slashed, params.slash_down_per_hour);
    client
        .send(TxBody::EndRental {
            order: id,
            save: false,
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_cannot_start_is_declined_by_each_machine_refunded_and_nobody_slashed() {
    let dir = tempfile::tempdir().unwrap();
    let net = devnet(dir.path(), 3).await;
    let node = net.client();
    let params = node.status().await.unwrap().params;
    let client_before = balance(&node, &client_key()).await;
    let mut stakes_before = Vec::new();
    for i in 0..3 {
        stakes_before.push(bonded(&node, &provider_key(i)).await);
    }

    let job = job_file(dir.path(), "broken", "/nonexistent/program", 30);
    let id = submit_job(&net.client_wallet(), &job).await.unwrap();
    let order = wait_final(&node, id).await;
    assert_eq!(order.status, OrderStatus::Declined, "{order:?}");
    let machines: BTreeSet<u64> = order.declines.iter().map(|d| d.machine).collect();
    assert_eq!(machines.len(), 3, "each machine declined once: {order:?}");
    assert!(
        order
            .declines
            .iter()
            .all(|d| d.reason.contains("/nonexistent/program")),
        "{order:?}"
    );
    let s = order.settlement.unwrap();
    assert_eq!((s.refunded, s.slashed), (order.deposit, 0));
    assert_eq!(
        balance(&node, &client_key()).await,
        client_before - params.min_fee
    );
    for (i, before) in stakes_before.into_iter().enumerate() {
        assert_eq!(
            bonded(&node, &provider_key(i)).await,
            before,
            "provider {i} not slashed"
        );
        let machine = node.machine(i as u64).await.unwrap();
        assert_eq!((machine.declined, machine.failed), (1, 0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_never_reports_times_out_refunded_and_slashed() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = devnet(dir.path(), 1).await;
    let node = net.client();
    let params = node.status().await.unwrap().params;
    let client_before = balance(&node, &client_key()).await;

    let job = job_file(dir.path(), "sleepy", "sleep 30", 2);
    let id = submit_job(&net.client_wallet(), &job).await.unwrap();
    let pgid = wait_running_with_pgid(&node, &net.provider_dir(0).join("journal"), id).await;
    net.kill_provider(0).await;
    let order = wait_final(&node, id).await;
    assert_eq!(order.status, OrderStatus::TimedOut, "{order:?}");
    assert_eq!(
        order.settlement.as_ref().unwrap().slashed,
        params.slash_timeout
    );
    assert_eq!(
        balance(&node, &client_key()).await,
        client_before - params.min_fee
    );

    // The agent comes back: it cleans up the orphaned job; its late report changes nothing.
    net.start_provider(0).await.unwrap();
    for _ in 0..100 {
        if !group_alive(pgid)
            && Journal::open(&net.provider_dir(0).join("journal"))
                .unwrap()
                .all()
                .unwrap()
                .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!group_alive(pgid), "the orphaned job was not killed");
    assert_eq!(node.order(id).await.unwrap().status, OrderStatus::TimedOut);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_restarted_mid_job_reports_it_failed_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = devnet(dir.path(), 1).await;
    let node = net.client();
    let params = node.status().await.unwrap().params;

    let job = job_file(dir.path(), "long", "sleep 30", 60);
    let id = submit_job(&net.client_wallet(), &job).await.unwrap();
    let pgid = wait_running_with_pgid(&node, &net.provider_dir(0).join("journal"), id).await;
    net.kill_provider(0).await;
    assert!(group_alive(pgid), "a crashed agent leaves its job running");
    net.start_provider(0).await.unwrap();
    let order = wait_final(&node, id).await;
    assert_eq!(order.status, OrderStatus::Failed, "{order:?}");
    let reason = match order.report.unwrap().outcome {
        gpunet_primitives::JobOutcome::Failed { reason } => reason,
        other => panic!("unexpected outcome {other:?}"),
    };
    assert!(reason.contains("restart"), "{reason}");
    assert_eq!(order.settlement.unwrap().slashed, params.slash_failed);
    assert!(!group_alive(pgid), "the interrupted job was not killed");

    // The restarted agent keeps serving: a new job runs to settlement.
    let job = JobFile::load(&examples().join("hello.toml")).unwrap();
    let id = submit_job(&net.client_wallet(), &job).await.unwrap();
    assert_eq!(wait_final(&node, id).await.status, OrderStatus::Settled);
}

fn spec(gpus: u32, timeout_secs: u64) -> JobSpec {
    JobSpec {
        name: "x".into(),
        ..JobSpec::new(
            "gpunet/busybox",
            vec!["true".into()],
            Resources::new(1, 1, 100).with_gpus(gpus),
            timeout_secs,
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_json_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let net = devnet(dir.path(), 1).await;
    let node = net.client();
    let status = node.status().await.unwrap();
    let key = client_key();
    let tx = |nonce: u64, body: TxBody| Tx {
        chain_id: status.chain_id.clone(),
        sender: key.address(),
        nonce,
        fee: status.params.min_fee,
        body,
    };
    let good = tx(
        0,
        TxBody::Transfer {
            to: provider_key(0).address(),
            amount: UNIT,
        },
    )
    .sign(&key);
    let mut forged = good.clone();
    forged.tx.body = TxBody::Transfer {
        to: provider_key(0).address(),
        amount: 2 * UNIT,
    };
    let poor = Keypair::from_label("nobody");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"not a transaction".to_vec(), "malformed"),
        (
            {
                let mut b = good.to_bytes();
                b.push(0);
                b
            },
            "malformed",
        ),
        (vec![0u8; MAX_TX_BYTES + 1], "too_large"),
        (forged.to_bytes(), "bad_signature"),
        (
            tx(
                5,
                TxBody::Transfer {
                    to: poor.address(),
                    amount: 1,
                },
            )
            .sign(&key)
            .to_bytes(),
            "bad_nonce",
        ),
        (
            Tx {
                sender: poor.address(),
                ..tx(
                    0,
                    TxBody::Transfer {
                        to: key.address(),
                        amount: 1,
                    },
                )
            }
            .sign(&poor)
            .to_bytes(),
            "insufficient_funds",
        ),
        (
            tx(
                0,
                TxBody::Transfer {
                    to: poor.address(),
                    amount: u128::MAX,
                },
            )
            .sign(&key)
            .to_bytes(),
            "insufficient_funds",
        ),
        (
            tx(
                0,
                TxBody::SubmitOrder {
                    spec: spec(0, 60),
                    max_price_per_hour: u128::MAX,
                    deposit: 1,
                },
            )
            .sign(&key)
            .to_bytes(),
            "overflow",
        ),
        (
            tx(
                0,
                TxBody::UpdateMachine {
                    machine: 99,
                    price_per_hour: 1,
                    resource_prices: Default::default(),
                    online: true,
                },
            )
            .sign(&key)
            .to_bytes(),
            "unknown_machine",
        ),
        (
            tx(0, TxBody::CancelOrder { order: 99 })
                .sign(&key)
                .to_bytes(),
            "unknown_order",
        ),
        (
            tx(
                0,
                TxBody::SubmitOrder {
                    spec: spec(64, 60),
                    max_price_per_hour: 1,
                    deposit: UNIT,
                },
            )
            .sign(&key)
            .to_bytes(),
            "impossible_spec",
        ),
        (
            tx(
                0,
                TxBody::ReportResult {
                    order: 0,
                    outcome: gpunet_primitives::JobOutcome::Failed { reason: "x".into() },
                },
            )
            .sign(&key)
            .to_bytes(),
            "unknown_order",
        ),
        (
            tx(
                0,
                TxBody::CommitChallenge {
                    challenge: 99,
                    root: gpunet_primitives::Hash::ZERO,
                },
            )
            .sign(&key)
            .to_bytes(),
            "unknown_challenge",
        ),
    ];
    for (bytes, code) in cases {
        let root = node.status().await.unwrap().state_root;
        let account = node.account(&key.address()).await.unwrap().account;
        let err = node.submit_bytes(bytes).await.expect_err(code);
        assert_eq!(err.code(), Some(code), "{err}");
        assert_eq!(
            node.status().await.unwrap().state_root,
            root,
            "{code} changed the state"
        );
        assert_eq!(node.account(&key.address()).await.unwrap().account, account);
    }
    // The good transaction lands once; its replay is refused.
    node.submit(&good).await.unwrap();
    assert_eq!(
        node.submit(&good).await.unwrap_err().code(),
        Some("bad_nonce")
    );
    // Unknown ids and bad parameters on queries.
    assert_eq!(
        node.order(12345).await.unwrap_err().code(),
        Some("not_found")
    );
    assert_eq!(
        node.machine(12345).await.unwrap_err().code(),
        Some("not_found")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_jobs_logs_are_followed_live_then_completed_from_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let net = devnet(dir.path(), 1).await;
    let node = net.client();
    let wallet = net.client_wallet();
    let go = dir.path().join("go");
    // The job writes, then waits for the test to have seen its output live.
    let script = format!(
        "echo started; echo warming >&2; \
         i=0; while [ ! -e {go} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; \
         echo done",
        go = go.display()
    );
    let job = job_file(dir.path(), "chatty", &script, 120);
    let id = submit_job(&wallet, &job).await.unwrap();

    let following = tokio::spawn({
        let wallet = net.client_wallet();
        async move {
            let mut pieces = Vec::new();
            let order = follow_logs(&wallet, id, Duration::from_millis(100), |p| pieces.push(p))
                .await
                .unwrap();
            (order, pieces)
        }
    });
    assert_eq!(
        wait_live_log(&wallet, id, LogStream::Stdout, "started").await,
        OrderStatus::Running
    );
    assert_eq!(
        wait_live_log(&wallet, id, LogStream::Stderr, "warming").await,
        OrderStatus::Running
    );
    let order = node.order(id).await.unwrap();
    let logs = current_logs(&wallet, &order).await.unwrap();
    assert!(logs.live);
    assert_eq!(logs.stdout, b"started\n");

    std::fs::write(&go, "").unwrap();
    let (order, pieces) = following.await.unwrap();
    assert!(order.report.is_some(), "{order:?}");
    let text = |stream| {
        pieces
            .iter()
            .filter_map(|p| match p {
                LogPiece::Bytes(s, b) if *s == stream => Some(String::from_utf8_lossy(b)),
                LogPiece::Skipped(..) => panic!("nothing was skipped: {pieces:?}"),
                _ => None,
            })
            .collect::<String>()
    };
    // Every byte once, live bytes first and the rest from the verified result.
    assert_eq!(text(LogStream::Stdout), "started\ndone\n");
    assert_eq!(text(LogStream::Stderr), "warming\n");
    let logs = current_logs(&wallet, &order).await.unwrap();
    assert!(!logs.live);
    assert_eq!(logs.stdout, b"started\ndone\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_logs_come_only_from_the_orders_provider_and_go_only_to_its_client() {
    let dir = tempfile::tempdir().unwrap();
    let net = devnet(dir.path(), 1).await;
    let node = net.client();
    let wallet = net.client_wallet();
    let chain_id = node.status().await.unwrap().chain_id;
    let job = job_file(dir.path(), "quiet", "sleep 3", 60);
    let id = submit_job(&net.client_wallet(), &job).await.unwrap();
    wait_running(&node, id).await;
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let in_a_minute = now_ms + 60_000;
    let chunk = |order, offset: u64, bytes: &[u8], key: &Keypair| {
        let chunk = LogChunk {
            order,
            stream: LogStream::Stdout,
            offset,
            bytes: bytes.to_vec(),
        };
        SignedRequest::sign(chunk, &chain_id, in_a_minute, key)
    };
    let code = |r: Result<(), ClientError>| match r {
        Err(ClientError::Api(e)) => e.code,
        other => panic!("{other:?}"),
    };
    let provider = provider_key(0);
    let stranger = client_key();
    assert_eq!(
        code(
            node.push_live_log(&chunk(id, 0, b"fake\n", &stranger))
                .await
        ),
        "not_the_provider"
    );
    let mut forged = chunk(id, 0, b"fake\n", &provider);
    forged.body.bytes = b"forged\n".to_vec();
    assert_eq!(code(node.push_live_log(&forged).await), "bad_signature");
    let other_chain = SignedRequest::sign(forged.body.clone(), "elsewhere", in_a_minute, &provider);
    assert_eq!(
        code(node.push_live_log(&other_chain).await),
        "bad_signature"
    );
    let stale = SignedRequest::sign(forged.body.clone(), &chain_id, now_ms - 1_000, &provider);
    assert_eq!(code(node.push_live_log(&stale).await), "expired");
    assert_eq!(
        code(
            node.push_live_log(&chunk(id + 1000, 0, b"x", &provider))
                .await
        ),
        "not_found"
    );
    let huge = vec![b'x'; MAX_LOG_CHUNK_BYTES + 1];
    assert_eq!(
        code(node.push_live_log(&chunk(id, 0, &huge, &provider)).await),
        "too_large"
    );
    // None of it was kept.
    let order = node.order(id).await.unwrap();
    let kept = current_logs(&wallet, &order).await.unwrap();
    assert!(kept.live && kept.stdout.is_empty(), "{:?}", kept.stdout);

    // Reads: the order's client's, signed, current.
    let read = |not_after_ms, key: &Keypair| {
        SignedRequest::sign(LogRead { order: id }, &chain_id, not_after_ms, key)
    };
    let read_code = |r: Result<Option<(u64, Vec<u8>)>, ClientError>| match r {
        Err(ClientError::Api(e)) => e.code,
        other => panic!("{other:?}"),
    };
    let owner = client_key();
    let mut impostor = read(in_a_minute, &provider);
    impostor.signer = owner.address();
    for (request, refused) in [
        (read(in_a_minute, &provider), "not_the_owner"),
        (impostor, "bad_signature"),
        (read(now_ms - 1_000, &owner), "expired"),
        (read(now_ms + 24 * 3600 * 1000, &owner), "expired"),
    ] {
        let answer = node.live_log(&request, LogStream::Stdout, 0).await;
        assert_eq!(read_code(answer), refused);
    }
    let own = node
        .live_log(&read(in_a_minute, &owner), LogStream::Stdout, 0)
        .await;
    assert!(own.is_ok(), "{own:?}");

    wait_final(&node, id).await;
    assert_eq!(
        code(
            node.push_live_log(&chunk(id, 0, b"late\n", &provider))
                .await
        ),
        "not_running"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_drop_blobs_no_order_needs_and_keep_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (net, done) = devnet_with_hello(dir.path(), 2).await;
    let node = net.client();
    let wallet = net.client_wallet();
    // An open order with an input of its own.
    std::fs::write(dir.path().join("data.txt"), "still needed\n").unwrap();
    let spec = dir.path().join("open.toml");
    std::fs::write(
        &spec,
        "name = \"open\"\nimage = \"gpunet/busybox\"\ncommand = [\"sleep\", \"60\"]\ntimeout_secs = 120\n\
         [[inputs]]\npath = \"data.txt\"\nsource = \"data.txt\"\n[price]\nmax_per_hour = \"50\"\n",
    )
    .unwrap();
    let open = submit_job(&wallet, &JobFile::load(&spec).unwrap())
        .await
        .unwrap();
    wait_running(&node, open).await;
    let open_input = node.order(open).await.unwrap().spec.inputs[0].hash;
    let stray = wallet.put_blob(b"nobody's".to_vec()).await.unwrap().hash;

    let store = &net.node.blobs;
    let settled_blobs: Vec<Hash> = {
        let out = dir.path().join("before");
        let manifest = fetch_outputs(&wallet, &done, &out).await.unwrap();
        let Some(JobOutcome::Completed { output_root, .. }) =
            done.report.as_ref().map(|r| &r.outcome)
        else {
            panic!("{done:?}")
        };
        let mut hashes: Vec<Hash> = manifest.files.iter().map(|f| f.hash).collect();
        hashes.push(*output_root);
        hashes.push(done.spec.inputs[0].hash);
        hashes
    };
    let collect = |after_close_secs, grace_secs| {
        net.node
            .collect_blobs(&BlobRetention {
                after_close: Duration::from_secs(after_close_secs),
                grace: Duration::from_secs(grace_secs),
                every: Duration::from_secs(600),
            })
            .unwrap()
    };

    // A fresh upload no order names yet is kept through its grace.
    assert_eq!(collect(3600, 3600).blobs, 0);
    assert!(store.contains(&stray));
    // Past it, only the stray blob goes: the settled job is within retention.
    assert_eq!(collect(3600, 0).blobs, 1);
    assert!(!store.contains(&stray));
    assert!(settled_blobs.iter().all(|h| store.contains(h)));
    assert!(store.contains(&open_input));

    // Past retention, the settled job's input, manifest and files go; the
    // open order's input stays.
    let removed = collect(0, 0);
    assert_eq!(removed.blobs as usize, settled_blobs.len(), "{removed:?}");
    assert!(settled_blobs.iter().all(|h| !store.contains(h)));
    assert!(store.contains(&open_input));
    let gone = fetch_outputs(&wallet, &done, &dir.path().join("after")).await;
    assert!(gone.unwrap_err().to_string().contains("no blob"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stores_blobs_only_for_funded_accounts_as_they_announced_them() {
    let dir = tempfile::tempdir().unwrap();
    let net = devnet(dir.path(), 1).await;
    let node = net.client();
    let chain_id = node.status().await.unwrap().chain_id;
    let soon = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        + 60_000;
    let request = |key: &Keypair, bytes: &[u8], size: u64| {
        let upload = BlobUpload {
            hash: Hash::digest(bytes),
            size,
        };
        SignedRequest::sign(upload, &chain_id, soon, key)
    };
    let code = |r: Result<_, ClientError>| match r {
        Err(ClientError::Api(e)) => e.code,
        other => panic!("{other:?}"),
    };
    let client = client_key();
    let data = b"some input".to_vec();
    let len = data.len() as u64;
    let poor = Keypair::from_label("poor");
    assert_eq!(
        code(
            node.put_blob(&request(&poor, &data, len), data.clone())
                .await
        ),
        "unfunded"
    );
    // More bytes than announced, or other bytes than named.
    assert_eq!(
        code(
            node.put_blob(&request(&client, &data, len - 1), data.clone())
                .await
        ),
        "too_large"
    );
    assert_eq!(
        code(
            node.put_blob(&request(&client, b"other", len), data.clone())
                .await
        ),
        "hash_mismatch"
    );
    // Fewer bytes than announced, with the right hash: once stored.
    assert_eq!(
        code(
            node.put_blob(&request(&client, &data, 1_000), data.clone())
                .await
        ),
        "size_mismatch"
    );
    assert!(!net.node.blobs.contains(&Hash::digest(&data)));
    let stored = node
        .put_blob(&request(&client, &data, len), data.clone())
        .await
        .unwrap();
    assert_eq!(stored.hash, Hash::digest(&data));
    assert_eq!(
        std::fs::read(net.node.blobs.path(&stored.hash)).unwrap(),
        data
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_inputs_and_results_are_read_only_by_its_client_and_provider() {
    let dir = tempfile::tempdir().unwrap();
    let (net, done) = devnet_with_hello(dir.path(), 1).await;
    let node = net.client();
    let wallet = net.client_wallet();
    let input = done.spec.inputs[0].clone();
    let root = done.output_root().unwrap();
    let read = wallet.blob_read(done.id).await.unwrap();
    let output = node
        .manifest(&root, &read)
        .await
        .unwrap()
        .get("outputs/sum.txt")
        .unwrap()
        .hash;
    let named = [input.hash, root, output];
    let refusal = |r: Result<Vec<u8>, ClientError>| match r {
        Err(ClientError::Api(e)) => (e.code, e.message),
        other => panic!("{other:?}"),
    };

    // Its client and the provider that ran it read its input and its result.
    let provider = Wallet::new(provider_key(0), node.clone());
    for reader in [&wallet, &provider] {
        let read = reader.blob_read(done.id).await.unwrap();
        for blob in named {
            assert_eq!(
                Hash::digest(&node.get_blob(&blob, &read).await.unwrap()),
                blob
            );
        }
    }
    // Knowing the hashes is not enough: no request, a stranger's naming the
    // order, a stranger's as the validator it is not.
    let unsigned = node
        .http()
        .get(format!("{}/v1/blobs/{output}", node.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), reqwest::StatusCode::UNAUTHORIZED);
    let stranger = Wallet::new(Keypair::from_label("stranger"), node.clone());
    let as_party = stranger.blob_read(done.id).await.unwrap();
    let as_validator = stranger
        .sign_request(BlobRead { order: None })
        .await
        .unwrap();
    for blob in named {
        for read in [&as_party, &as_validator] {
            assert_eq!(refusal(node.get_blob(&blob, read).await).0, "forbidden");
        }
    }
    // A party reads through an order only what the order names.
    let stray = wallet
        .put_blob(b"named by no order".to_vec())
        .await
        .unwrap()
        .hash;
    let (code, message) = refusal(node.get_blob(&stray, &read).await);
    assert_eq!(code, "forbidden");
    assert!(message.contains("names no blob"), "{message}");

    // An order of its own naming the job's input (its holder proof copied)
    // and output gets the stranger nothing: it cannot prove it holds them.
    wallet
        .send(TxBody::Transfer {
            to: stranger.address(),
            amount: 100 * UNIT,
        })
        .await
        .unwrap();
    let as_input = |path: &str, hash, holder_proof| gpunet_primitives::InputRef {
        path: path.into(),
        hash,
        size: 1,
        source: gpunet_primitives::InputSource::Held { holder_proof },
    };
    let mut copycat = spec(0, 60);
    copycat.region = Some("nowhere".into());
    copycat.inputs = vec![
        as_input("stolen", input.hash, input.holder_proof().unwrap()),
        as_input("result", output, Hash::digest(b"a guess")),
    ];
    let included = stranger
        .send(TxBody::SubmitOrder {
            spec: copycat,
            max_price_per_hour: UNIT,
            deposit: UNIT,
        })
        .await
        .unwrap();
    let own = submitted_order(&included);
    let as_client = stranger.blob_read(own).await.unwrap();
    for blob in [input.hash, output] {
        let (code, message) = refusal(node.get_blob(&blob, &as_client).await);
        assert_eq!(code, "forbidden");
        assert!(message.contains("holder proof"), "{message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_shared_with_another_account_is_read_by_it_until_its_client_stops_sharing() {
    let dir = tempfile::tempdir().unwrap();
    let (net, done) = devnet_with_hello(dir.path(), 1).await;
    let wallet = net.client_wallet();
    let colleague = Wallet::new(Keypair::from_label("colleague"), net.client());
    let out = dir.path().join("shared");
    let forbidden = |r: Result<Manifest, ClientError>| matches!(r, Err(ClientError::Api(e)) if e.code == "forbidden");
    assert!(forbidden(fetch_outputs(&colleague, &done, &out).await));

    let share = |shared| TxBody::ShareResult {
        order: done.id,
        reader: colleague.address(),
        shared,
    };
    wallet.send(share(true)).await.unwrap();
    let manifest = fetch_outputs(&colleague, &done, &out).await.unwrap();
    assert_eq!(manifest.root(), done.output_root().unwrap());
    assert!(std::fs::read_to_string(out.join("outputs/sum.txt"))
        .unwrap()
        .contains("500000500000"));
    // The result, not the inputs.
    let read = colleague.blob_read(done.id).await.unwrap();
    let input = net
        .client()
        .get_blob(&done.spec.inputs[0].hash, &read)
        .await;
    assert!(
        matches!(&input, Err(ClientError::Api(e)) if e.code == "forbidden"),
        "{input:?}"
    );

    wallet.send(share(false)).await.unwrap();
    std::fs::remove_dir_all(&out).unwrap();
    assert!(forbidden(fetch_outputs(&colleague, &done, &out).await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_result_feeds_the_next_job_without_passing_through_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let (net, first) = devnet_with_hello(dir.path(), 1).await;
    let node = net.client();
    let wallet = net.client_wallet();

    let from_first = |output: &str| InputFile {
        path: "sum.txt".into(),
        source: None,
        from_order: Some(first.id),
        from_output: Some(output.into()),
    };
    let mut next = job_file(dir.path(), "next", "cat $GPUNET_INPUT_DIR/sum.txt", 60);
    next.inputs = vec![from_first("outputs/sum.txt")];
    let second = wait_final(&node, submit_job(&wallet, &next).await.unwrap()).await;
    assert_eq!(second.status, OrderStatus::Settled, "{second:?}");
    let stdout = read_output(&wallet, &second, "logs/stdout.log")
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&stdout).trim(), "500000500000");
    let sum = output_entry(&wallet, &first, "outputs/sum.txt")
        .await
        .unwrap();
    assert_eq!(second.spec.inputs[0].hash, sum.hash);

    // Clear errors: a file the result lacks, an input with two origins, an
    // order of someone else's.
    next.inputs = vec![from_first("outputs/missing.txt")];
    let err = submit_job(&wallet, &next).await.unwrap_err().to_string();
    assert!(
        err.contains("has no output outputs/missing.txt") && err.contains("outputs/sum.txt"),
        "{err}"
    );
    let mut both = from_first("outputs/sum.txt");
    both.source = Some("sum.txt".into());
    next.inputs = vec![both];
    let err = submit_job(&wallet, &next).await.unwrap_err().to_string();
    assert!(err.contains("needs either `source`"), "{err}");
    let stranger = Wallet::new(Keypair::from_label("stranger"), node.clone());
    let as_stranger = stranger.blob_read(first.id).await.unwrap();
    let refused = node
        .holder_proof(&sum.hash, &as_stranger)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("forbidden"), "{refused}");
}
