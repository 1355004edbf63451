//! The chaos soak: the testnet's four validators and three providers (two
//! in containers with the process executor, one on this host with the Docker
//! executor) under continuous job and rental load, while a seeded schedule
//! kills, cuts off, splits (two against two), pauses (SIGSTOP) and restarts
//! validators, kills and restarts providers, and fills one validator's disk
//! (which is below the room a node keeps free for its ledger all along, so
//! that node refuses uploads throughout), and sets one validator's clock
//! minutes ahead. One fault at a time: four validators ride out one.
//!
//! Afterwards every order the load placed is final on every validator and
//! closed or settling, the validators hold the same block, every block
//! re-executes from genesis to the same state root with the ledger's
//! invariants (supply conserved among them) holding after each, nothing the
//! providers ran is left behind, and no provider was slashed unless a fault
//! was injected into its own agent.
//!
//! The splits found why the chain could stay stalled for minutes after one
//! healed: each engine restart left the killed engine's swarm listening on
//! the consensus port, and peers' connections landed on it
//! (`bft::engine`'s `kill`).
//! `GPUNET_CHAOS_SECS` sets how long faults are injected (default
//! [`DEFAULT_SOAK_SECS`], CI's short schedule), `GPUNET_CHAOS_SEED` the
//! schedule (default: a fixed one); both are printed, so a failing schedule
//! can be run again. With `GPUNET_TESTNET_LOGS=DIR` the containers' logs are
//! kept there (as every testnet test keeps them when it fails).

use super::*;
use gpunet_ledger::{Genesis, Ledger};
use gpunet_primitives::{JobOutcome, OrderId, TxBody};
use gpunet_types::Event;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Seconds of faults when `GPUNET_CHAOS_SECS` does not say.
const DEFAULT_SOAK_SECS: u64 = 120;
/// The validator (index) whose clock [`Fault::Skew`] sets [`CLOCK_OFFSET`] ahead.
const SKEWED: usize = 3;
const CLOCK_OFFSET: &str = "3m";
/// The validator (index) whose stores live on a small file system of their
/// own, which [`Fault::FillDisk`] fills.
const SMALL_DISK: usize = 2;
/// Its size: room for the soak's stores, little enough to fill quickly.
const SMALL_DISK_MB: u64 = 512;
/// The providers: two containers of the testnet, and one on this host.
const PROVIDERS: [&str; 3] = ["provider1", "provider2", "provider3"];

/// One fault of the schedule: injected, held a few seconds, then healed.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// A validator's container killed, then started again.
    Kill(usize),
    /// A validator's process stopped (SIGSTOP), then continued.
    Pause(usize),
    /// A validator cut off from every other container.
    Isolate(usize),
    /// Validators 1 and 2 cut from 3 and 4: neither side has two thirds of
    /// the power, so neither finalizes anything until the cut heals.
    Split,
    /// A provider's agent killed, then started again.
    KillProvider(usize),
    /// [`SMALL_DISK`]'s file system filled to the last byte, then freed.
    FillDisk,
    /// [`SKEWED`]'s clock set [`CLOCK_OFFSET`] ahead (its container made
    /// anew with `--clock-offset`), then right again: the others refuse
    /// the block times it proposes, and it theirs, so the chain goes on
    /// without its votes.
    Skew,
}

impl Fault {
    /// Its kind, for the soak's summary.
    fn kind(self) -> &'static str {
        match self {
            Fault::Kill(_) => "kill",
            Fault::Pause(_) => "pause",
            Fault::Isolate(_) => "isolate",
            Fault::Split => "split",
            Fault::KillProvider(_) => "kill provider",
            Fault::FillDisk => "fill disk",
            Fault::Skew => "skew clock",
        }
    }

    /// A round of the schedule: every kind of fault once, in a seeded
    /// order, each on a seeded target.
    fn round(rng: &mut StdRng) -> Vec<Fault> {
        let mut round = vec![
            Fault::Kill(rng.gen_range(0..4)),
            Fault::Pause(rng.gen_range(0..4)),
            Fault::Isolate(rng.gen_range(0..4)),
            Fault::KillProvider(rng.gen_range(0..PROVIDERS.len())),
            Fault::FillDisk,
            Fault::Skew,
            Fault::Split,
        ];
        round.shuffle(rng);
        round
    }
}

/// A file system of [`SMALL_DISK_MB`] in a file, loop-mounted at `mount`;
/// unmounted when dropped. Smaller than the room a node keeps free for its
/// ledger (`--min-free-disk-mb`, 1 GiB), so its node refuses every upload
/// all along: the providers that talk to it must store their outputs on
/// another node rather than fail their jobs.
struct SmallDisk {
    mount: PathBuf,
}

impl SmallDisk {
    fn new(dir: &Path) -> SmallDisk {
        let image = dir.join("small-disk.img");
        let mount = dir.join("small-disk");
        std::fs::create_dir_all(&mount).unwrap();
        let size = format!("{SMALL_DISK_MB}M");
        run("truncate", &["-s", &size, path_str(&image)]);
        run("mkfs.ext4", &["-q", "-F", "-m", "0", path_str(&image)]);
        run("mount", &["-o", "loop", path_str(&image), path_str(&mount)]);
        SmallDisk { mount }
    }

    fn filler(&self) -> PathBuf {
        self.mount.join("filler")
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .args(["-l", path_str(&self.mount)])
            .status();
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `program ARGS`, which must succeed.
fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Validators 1-2 split from 3-4 by rules in Docker's DOCKER-USER chain
/// (bridged traffic between containers passes it), tagged with the
/// testnet's project; dropping it heals the split, even when a test fails.
struct Split {
    rules: Vec<Vec<String>>,
}

impl Split {
    fn new(project: &str) -> Split {
        let mut rules = Vec::new();
        for (a, b) in [(11, 13), (11, 14), (12, 13), (12, 14)] {
            for (from, to) in [(a, b), (b, a)] {
                let (from, to) = (format!("172.29.0.{from}"), format!("172.29.0.{to}"));
                let rule = ["DOCKER-USER", "-s", &from, "-d", &to].into_iter().chain([
                    "-m",
                    "comment",
                    "--comment",
                    project,
                    "-j",
                    "DROP",
                ]);
                rules.push(rule.map(String::from).collect());
            }
        }
        let split = Split { rules };
        for rule in &split.rules {
            run("iptables", &split.iptables("-I", rule));
        }
        split
    }

    fn iptables<'a>(&self, action: &'a str, rule: &'a [String]) -> Vec<&'a str> {
        std::iter::once(action)
            .chain(rule.iter().map(String::as_str))
            .collect()
    }
}

impl Drop for Split {
    fn drop(&mut self) {
        for rule in &self.rules {
            let _ = Command::new("iptables")
                .args(self.iptables("-D", rule))
                .status();
        }
    }
}

/// The host's provider agent (the third), run as its operator would.
struct HostProvider {
    agent: Option<std::process::Child>,
    nodes: String,
    keystore: PathBuf,
    data_dir: PathBuf,
    log: PathBuf,
}

impl HostProvider {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let agent = Command::new(env!("CARGO_BIN_EXE_gpunet"))
            .args([
                "--node",
                &self.nodes,
                "--keystore",
                path_str(&self.keystore),
            ])
            .args(["provider", "--executor", "docker", "--data-dir"])
            .arg(&self.data_dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.agent = Some(agent);
    }

    fn kill(&mut self) {
        if let Some(mut agent) = self.agent.take() {
            let _ = agent.kill();
            let _ = agent.wait();
        }
    }

    /// Ctrl-C, and its exit once its running work is done.
    fn stop(&mut self) -> std::process::ExitStatus {
        let mut agent = self.agent.take().expect("the host's provider runs");
        // SAFETY: kill(2) with a child's pid and a signal number reads no memory.
        unsafe { libc::kill(agent.id() as i32, libc::SIGINT) };
        let stopped = poll(Duration::from_secs(180), || agent.try_wait().unwrap());
        stopped.unwrap_or_else(|| {
            let _ = agent.kill();
            panic!(
                "the host's provider did not stop within 3 minutes of Ctrl-C: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            )
        })
    }
}

impl Drop for HostProvider {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What `probe` finds, asked every 200 ms until it finds something or `limit` passes.
fn poll<T>(limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(found) = probe() {
            return Some(found);
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The load: a job every second or two and a short rental now and then,
/// each submitted to whichever validator answers.
struct Load {
    /// Orders whose submission a validator accepted.
    accepted: Mutex<Vec<OrderId>>,
    /// Submissions that failed (every validator the client knows was down,
    /// or none included it in time): counted, not asserted.
    failed: AtomicU64,
    stop: AtomicBool,
}

async fn load(wallet: Arc<Wallet>, load: Arc<Load>, job: JobFile, rental: JobFile) {
    let mut round = 0u64;
    while !load.stop.load(Ordering::Relaxed) {
        round += 1;
        let submitted = if round.is_multiple_of(8) {
            gpunet_client::jobs::submit_rental(&wallet, &rental).await
        } else {
            submit_job(&wallet, &job).await
        };
        match submitted {
            Ok(order) => load.accepted.lock().unwrap().push(order),
            Err(_) => {
                load.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(Duration::from_millis(1_500)).await;
    }
}

/// Whether validator `v`'s container runs.
fn running(net: &Testnet, v: usize) -> bool {
    docker(&[
        "inspect",
        "-f",
        "{{.State.Running}}",
        &net.container(&format!("validator{}", v + 1)),
    ]) == "true"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_testnet_under_load_and_a_seeded_fault_schedule_loses_nothing_and_leaks_nothing() {
    if gpunet_provider::testing::docker_or_skip(Default::default())
        .await
        .is_none()
    {
        return;
    }
    let soak = Duration::from_secs(
        std::env::var("GPUNET_CHAOS_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(DEFAULT_SOAK_SECS),
    );
    let seed: u64 = std::env::var("GPUNET_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    eprintln!("chaos soak: {} s of faults, seed {seed}", soak.as_secs());
    let volumes_before: BTreeSet<String> = docker(&["volume", "ls", "-q"])
        .lines()
        .map(String::from)
        .collect();

    let scratch = tempfile::tempdir().unwrap();
    let disk = SmallDisk::new(scratch.path());
    let net = Testnet::up_with(&[
        (
            format!("DATA_{}", SMALL_DISK + 1),
            path_str(&disk.mount).into(),
        ),
        // What the agents do with each order, for a failure's report.
        ("RUST_LOG".into(), "warn,gpunet_provider=info".into()),
    ]);
    for v in 0..4 {
        net.wait_height(v, 3).await;
    }
    let all_nodes = (0..4)
        .map(|v| net.address(v).to_string())
        .collect::<Vec<_>>()
        .join(",");
    let client_node = NodeClient::new(&all_nodes).unwrap();
    let client = Arc::new(Wallet::new(
        Keystore::load(&net.dir.path().join("client.key")).unwrap(),
        client_node,
    ));

    // The third provider, on this host with the Docker executor, funded by
    // the client.
    let provider3_key = net.dir.path().join("provider3.key");
    let made = Command::new(env!("CARGO_BIN_EXE_gpunet"))
        .args(["--keystore", path_str(&provider3_key)])
        .args(["wallet", "new", "--plaintext"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let provider3 = Keystore::load(&provider3_key).unwrap().address();
    client
        .send(TxBody::Transfer {
            to: provider3,
            amount: gpunet_primitives::parse_amount("2000").unwrap(),
        })
        .await
        .unwrap();
    let mut host_provider = HostProvider {
        agent: None,
        nodes: all_nodes.clone(),
        keystore: provider3_key,
        data_dir: scratch.path().join("provider3"),
        log: scratch.path().join("provider3.log"),
    };
    host_provider.start();
    let providers: Vec<Address> = PROVIDERS
        .iter()
        .map(|p| {
            Keystore::load(&net.dir.path().join(format!("{p}.key")))
                .unwrap()
                .address()
        })
        .collect();
    let verified = tokio::time::timeout(Duration::from_secs(180), async {
        loop {
            if let Ok(machines) = net.client(0).machines().await {
                let owners: BTreeSet<Address> = machines
                    .iter()
                    .filter(|m| m.hardware == gpunet_types::HardwareStatus::Verified)
                    .map(|m| m.owner)
                    .collect();
                if providers.iter().all(|p| owners.contains(p)) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await;
    assert!(
        verified.is_ok(),
        "the three providers' machines pass their challenges; the host's log: {}",
        std::fs::read_to_string(&host_provider.log).unwrap_or_default()
    );

    // The load runs all through the schedule.
    let job_file = net.dir.path().join("chaos-job.toml");
    std::fs::write(
        &job_file,
        "name = \"chaos\"\nimage = \"gpunet/busybox\"\n\
         command = [\"sh\", \"-c\", \"i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo $i\"]\n\
         timeout_secs = 300\n[resources]\ncpu = 1\nmemory_mb = 64\ndisk_mb = 64\n\
         [price]\nmax_per_hour = \"50\"\n",
    )
    .unwrap();
    let rental_file = net.dir.path().join("chaos-rental.toml");
    std::fs::write(
        &rental_file,
        "name = \"chaos-rental\"\nimage = \"gpunet/busybox\"\n\
         command = [\"sh\", \"-c\", \"echo ready; exec sleep 2147483647\"]\n\
         timeout_secs = 40\n[resources]\ncpu = 1\nmemory_mb = 64\ndisk_mb = 64\n\
         [price]\nmax_per_hour = \"50\"\n",
    )
    .unwrap();
    let load_state = Arc::new(Load {
        accepted: Mutex::new(Vec::new()),
        failed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let load_task = tokio::spawn(load(
        client.clone(),
        load_state.clone(),
        JobFile::load(&job_file).unwrap(),
        JobFile::load(&rental_file).unwrap(),
    ));

    // The schedule: one fault at a time, held 3-12 s, then healed; the
    // chain must finalize again before the next.
    let mut rng = StdRng::seed_from_u64(seed);
    // Per provider (index), the height when a fault was first injected into
    // its agent: a slash before it is one it did not earn.
    let mut first_fault: BTreeMap<usize, u64> = BTreeMap::new();
    // Per kind of fault: how long after it healed the chain finalized two
    // more blocks.
    let mut recoveries: BTreeMap<&'static str, Vec<Duration>> = BTreeMap::new();
    let started = Instant::now();
    let mut schedule = Vec::new();
    while started.elapsed() < soak {
        if schedule.is_empty() {
            schedule = Fault::round(&mut rng);
        }
        let fault = schedule.remove(0);
        let hold = Duration::from_secs(rng.gen_range(3..=12));
        eprintln!(
            "[{:>4}s] {fault:?} for {} s",
            started.elapsed().as_secs(),
            hold.as_secs()
        );
        let validator = |v: usize| net.container(&format!("validator{}", v + 1));
        match fault {
            Fault::Kill(v) => {
                docker(&["kill", &validator(v)]);
                tokio::time::sleep(hold).await;
                docker(&["start", &validator(v)]);
            }
            Fault::Pause(v) => {
                docker(&["kill", "--signal", "SIGSTOP", &validator(v)]);
                tokio::time::sleep(hold).await;
                docker(&["kill", "--signal", "SIGCONT", &validator(v)]);
            }
            Fault::Isolate(v) => {
                docker(&["network", "disconnect", &net.network(), &validator(v)]);
                tokio::time::sleep(hold).await;
                let ip = format!("172.29.0.{}", 11 + v);
                docker(&[
                    "network",
                    "connect",
                    "--ip",
                    &ip,
                    &net.network(),
                    &validator(v),
                ]);
            }
            Fault::Split => {
                let split = Split::new(&net.project);
                tokio::time::sleep(hold).await;
                drop(split);
            }
            Fault::KillProvider(p) => {
                let height = net.height(0).await.unwrap_or(0);
                first_fault.entry(p).or_insert(height);
                if p == 2 {
                    host_provider.kill();
                    tokio::time::sleep(hold).await;
                    host_provider.start();
                } else {
                    let container = net.container(PROVIDERS[p]);
                    docker(&["kill", &container]);
                    tokio::time::sleep(hold).await;
                    docker(&["start", &container]);
                }
            }
            Fault::Skew => {
                let (service, offset) = (
                    format!("validator{}", SKEWED + 1),
                    format!("CLOCK_OFFSET_{}", SKEWED + 1),
                );
                net.apply(&service, &offset, CLOCK_OFFSET);
                // Long enough for it to propose a few times.
                tokio::time::sleep(hold * 3).await;
                net.apply(&service, &offset, "0s");
            }
            Fault::FillDisk => {
                // Written from the host, into the validator's own file system.
                let _ = Command::new("dd")
                    .args(["if=/dev/zero", "bs=1M", "status=none"])
                    .arg(format!("of={}", path_str(&disk.filler())))
                    .status();
                tokio::time::sleep(hold).await;
                std::fs::remove_file(disk.filler()).unwrap();
                if !running(&net, SMALL_DISK) {
                    // The node logs to stderr.
                    let logs = Command::new("docker")
                        .args(["logs", "--tail", "20", &validator(SMALL_DISK)])
                        .output()
                        .unwrap();
                    let log = String::from_utf8_lossy(&logs.stderr);
                    panic!("validator {} stopped on a full disk: {log}", SMALL_DISK + 1);
                }
            }
        }
        // Healed: the chain goes on before the next fault.
        let healed = Instant::now();
        let healthy = if matches!(fault, Fault::Kill(0) | Fault::Pause(0) | Fault::Isolate(0)) {
            1
        } else {
            0
        };
        let probe = net.height(healthy).await.unwrap_or(0);
        net.wait_height(healthy, probe + 2).await;
        recoveries
            .entry(fault.kind())
            .or_default()
            .push(healed.elapsed());
        tokio::time::sleep(Duration::from_secs(rng.gen_range(1..=4))).await;
    }
    load_state.stop.store(true, Ordering::Relaxed);
    load_task.await.unwrap();
    let accepted = load_state.accepted.lock().unwrap().clone();
    for (kind, times) in &mut recoveries {
        times.sort();
        eprintln!(
            "{kind}: {} injected; two blocks after healing: median {:?}, worst {:?}",
            times.len(),
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
    eprintln!(
        "orders accepted: {}, submissions failed: {}",
        accepted.len(),
        load_state.failed.load(Ordering::Relaxed)
    );
    assert!(
        accepted.len() >= 10,
        "the load placed {} orders",
        accepted.len()
    );

    // Every accepted order is on every validator, and each gets to an end
    // (settling or closed) without more faults.
    let unfinished = |status: OrderStatus| {
        matches!(
            status,
            OrderStatus::Pending | OrderStatus::Running | OrderStatus::Saving
        )
    };
    let mut open = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        open.clear();
        for &id in &accepted {
            match net.client(0).order(id).await {
                Ok(order) if !unfinished(order.status) => {}
                other => open.push((id, other.map_err(|e| e.to_string()))),
            }
        }
        if open.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    if !open.is_empty() {
        let mut why = String::new();
        for (id, order) in &open {
            why += &format!("\norder {id}: {order:?}\n");
            let mut logs: Vec<String> = PROVIDERS[..2]
                .iter()
                .map(|p| {
                    let out = Command::new("docker")
                        .args(["logs", &net.container(p)])
                        .output()
                        .unwrap();
                    String::from_utf8_lossy(&out.stderr).into_owned()
                })
                .collect();
            logs.push(std::fs::read_to_string(&host_provider.log).unwrap_or_default());
            for (p, log) in PROVIDERS.iter().zip(logs) {
                for line in log.lines().filter(|l| l.contains(&format!("order {id}"))) {
                    why += &format!("  {p}: {line}\n");
                }
            }
        }
        panic!("orders still open 5 minutes after the faults ended:{why}");
    }
    let tip = net.height(0).await.unwrap();
    net.assert_same_block(&[0, 1, 2, 3], tip).await;
    for v in 0..4 {
        for &id in &accepted {
            net.client(v)
                .order(id)
                .await
                .unwrap_or_else(|e| panic!("validator {} lacks order {id}: {e}", v + 1));
        }
    }

    // The host's agent drains and stops; nothing it ran is left.
    let stopped = host_provider.stop();
    assert!(stopped.success(), "{stopped:?}");
    let prefix = format!("gpunet-{}-", &provider3.to_string()[..8]);
    let left = docker(&[
        "ps",
        "-a",
        "--filter",
        "label=org.gpunet.run",
        "--format",
        "{{.Names}}",
    ]);
    assert!(
        !left.lines().any(|name| name.starts_with(&prefix)),
        "the host provider's runs outlived it: {left}"
    );

    // Validator 1's blocks, re-executed from genesis: the same state root,
    // the invariants (supply among them) after every block, and the slashes.
    let v1 = net.container("validator1");
    docker(&["stop", &v1]);
    let ledger_copy = scratch.path().join("ledger.redb");
    docker(&[
        "cp",
        &format!("{v1}:/data/ledger.redb"),
        path_str(&ledger_copy),
    ]);
    let genesis = Genesis::from_file(&net.dir.path().join("genesis.json")).unwrap();
    let stored = Ledger::open(Some(&ledger_copy), &genesis).unwrap();
    let mut replay = Ledger::open(None, &genesis).unwrap();
    let mut slashed: BTreeMap<Address, Vec<(u64, String)>> = BTreeMap::new();
    // Why the providers said runs failed.
    let mut failures: BTreeMap<Address, Vec<(u64, String)>> = BTreeMap::new();
    for height in 1..=stored.head().height {
        let block = stored
            .block(height)
            .unwrap()
            .unwrap_or_else(|| panic!("validator 1 lacks block {height}"));
        let produced = replay
            .apply_block(&block)
            .unwrap_or_else(|e| panic!("block {height} does not re-execute: {e}"));
        if let Err(violation) = replay.check_invariants() {
            panic!("after block {height}: {violation}");
        }
        for event in produced.events() {
            if let Event::Slashed {
                provider, reason, ..
            } = event
            {
                slashed
                    .entry(*provider)
                    .or_default()
                    .push((height, reason.clone()));
            }
        }
        for signed in &block.txs {
            if let TxBody::ReportResult {
                outcome: JobOutcome::Failed { reason },
                ..
            } = &signed.tx.body
            {
                failures
                    .entry(signed.tx.sender)
                    .or_default()
                    .push((height, reason.clone()));
            }
        }
    }
    assert_eq!(
        replay.state_root(),
        stored.state_root(),
        "replayed state root"
    );
    for (i, provider) in providers.iter().enumerate() {
        let own_fault = first_fault.get(&i).copied().unwrap_or(u64::MAX);
        let unearned: Vec<_> = slashed
            .get(provider)
            .into_iter()
            .flatten()
            .filter(|(height, _)| *height < own_fault)
            .collect();
        assert!(
            unearned.is_empty(),
            "{} was slashed before any fault in its own agent (at height {own_fault}): \
             {unearned:?}; the runs it reported failed: {:?}",
            PROVIDERS[i],
            failures.get(provider)
        );
        eprintln!(
            "{}: slashed {:?} (its agent first faulted at height {own_fault})",
            PROVIDERS[i],
            slashed.get(provider)
        );
    }

    // Down: no container or volume of the testnet's is left.
    if let Ok(dir) = std::env::var("GPUNET_TESTNET_LOGS") {
        net.save_logs(Path::new(&dir));
    }
    net.down();
    let containers = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.docker.compose.project={}", net.project),
    ]);
    assert!(containers.is_empty(), "containers left: {containers}");
    let volumes_after: BTreeSet<String> = docker(&["volume", "ls", "-q"])
        .lines()
        .map(String::from)
        .collect();
    let new: Vec<_> = volumes_after.difference(&volumes_before).collect();
    assert!(new.is_empty(), "volumes left: {new:?}");
}
