//! Validators on loopback, each with its own ledger, deciding blocks together
//! through Malachite over real sockets.

use gpunet_api::blob_replication::holders;
use gpunet_api::BlobReplication;
use gpunet_bft::{BftConfig, BftConsensus};
use gpunet_client::jobfile::JobFile;
use gpunet_client::jobs::{submit_job, wait_for_order};
use gpunet_client::{ClientError, NodeClient, Wallet};
use gpunet_ledger::{Genesis, GenesisAccount};
use gpunet_node::{wall_clock_ms, BlobRetention, Clock, Consensus, NodeBase, NodeBuilder};
use gpunet_primitives::{Address, Hash, JobOutcome, Keypair, SignedTx, Tx, TxBody, VoteKind, UNIT};
use gpunet_provider::executor::ProcessExecutor;
use gpunet_provider::{Agent, AgentConfig, UnprovenGpus};
use gpunet_types::{HardwareStatus, NodeAddress, Params};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

const CHAIN: &str = "bft-test";

/// One network at a time: each test runs four or five validators, and on a
/// two-core machine several networks at once would starve each other.
static ONE_NETWORK_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Validator {
    key: Keypair,
    config: BftConfig,
    base_dir: PathBuf,
}

struct Running {
    base: NodeBase,
    consensus: Arc<BftConsensus>,
    /// The node's API server and blob replication, for tests that serve them.
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

struct Testnet {
    genesis: Genesis,
    dir: TempDir,
    validators: Vec<Validator>,
    running: Vec<Option<Running>>,
    /// Blocks between the state snapshots nodes take (0: none).
    snapshot_every: u64,
}

impl Testnet {
    fn new(n: usize, clients: &[&Keypair]) -> Testnet {
        let dir = TempDir::new().unwrap();
        let validators: Vec<Validator> = gpunet_bft::loopback_configs(dir.path(), n)
            .into_iter()
            .enumerate()
            .map(|(i, config)| Validator {
                key: Keypair::from_label(&format!("validator-{i}")),
                base_dir: config.home.with_extension("node"),
                config,
            })
            .collect();
        let genesis = Genesis {
            chain_id: CHAIN.into(),
            genesis_time_ms: 1_000,
            // Validators hold a balance too: reporting evidence costs a fee.
            accounts: clients
                .iter()
                .copied()
                .chain(validators.iter().map(|v| &v.key))
                .map(|k| GenesisAccount {
                    address: k.address(),
                    balance: 10_000 * UNIT,
                })
                .collect(),
            validators: validators.iter().map(|v| v.key.address()).collect(),
            params: Params::default(),
        };
        Testnet {
            genesis,
            dir,
            running: (0..n).map(|_| None).collect(),
            validators,
            snapshot_every: 0,
        }
    }

    /// `n` validators from genesis, all running.
    async fn running(n: usize, clients: &[&Keypair]) -> Testnet {
        let mut net = Testnet::new(n, clients);
        for i in 0..n {
            net.start(i).await;
        }
        net
    }

    async fn start(&mut self, i: usize) {
        let v = &self.validators[i];
        let base = NodeBuilder::new(&v.base_dir, self.genesis.clone())
            .max_blob_bytes(1 << 20)
            .snapshot_every(self.snapshot_every)
            .open()
            .unwrap();
        let mut config = v.config.clone();
        config.snapshots = Some(base.snapshots.clone());
        let consensus = gpunet_bft::start(
            base.ledger.clone(),
            v.key.clone(),
            config,
            base.events.clone(),
        )
        .await
        .unwrap();
        self.running[i] = Some(Running {
            base,
            consensus: Arc::new(consensus),
            tasks: Vec::new(),
        });
    }

    /// Starts validator `i` with its API served on loopback (announced to its
    /// peers) and its share of blob copies kept; returns the API's address.
    async fn start_with_api(&mut self, i: usize, replication: BlobReplication) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api_key = Keypair::from_label(&format!("api-{i}"));
        let address = NodeAddress::new(
            &format!("https://{}", listener.local_addr().unwrap()),
            api_key.address(),
        )
        .to_string();
        self.validators[i].config.gossip.api_url = Some(address.clone());
        self.start(i).await;
        let key = self.validators[i].key.clone();
        let running = self.running[i].as_mut().unwrap();
        let node = NodeBase {
            ledger: running.base.ledger.clone(),
            events: running.base.events.clone(),
            blobs: running.base.blobs.clone(),
            snapshots: running.base.snapshots.clone(),
        }
        .with_consensus(running.consensus.clone());
        running.tasks.push(gpunet_api::spawn_blob_replication(
            node.clone(),
            key,
            replication,
            BlobRetention::default(),
        ));
        running.tasks.push(tokio::spawn(async move {
            gpunet_api::serve(listener, node, &api_key).await.unwrap();
        }));
        address
    }

    /// Runs a second, independent node with validator `i`'s key: the way a
    /// validator ends up signing two conflicting votes.
    async fn start_twin(&mut self, i: usize) -> usize {
        let key = self.validators[i].key.clone();
        self.start_another(key, "twin").await
    }

    /// Runs one more node, with `key`, whose consensus peers are the validators.
    async fn start_another(&mut self, key: Keypair, name: &str) -> usize {
        let node = self.add_node(key, name);
        self.start(node).await;
        node
    }

    /// Adds one more node, with `key`, whose consensus peers are the
    /// validators, without starting it.
    fn add_node(&mut self, key: Keypair, name: &str) -> usize {
        let mut config = gpunet_bft::loopback_configs(&self.dir.path().join(name), 1).remove(0);
        config.consensus_peers = self
            .validators
            .iter()
            .map(|v| v.config.consensus_listen.clone())
            .collect();
        config.gossip.bootstrap = vec![self.validators[0].config.gossip.listen.clone()];
        self.validators.push(Validator {
            key,
            base_dir: config.home.with_extension("node"),
            config,
        });
        self.running.push(None);
        self.validators.len() - 1
    }

    /// Stops a node as a crash would: its engine dies, its storage stays.
    /// Stops node `i`: the height its stores hold, read once its consensus
    /// has stopped (the others go on finalizing meanwhile).
    async fn kill(&mut self, i: usize) -> u64 {
        let running = self.running[i].take().expect("node is running");
        running.tasks.iter().for_each(|task| task.abort());
        running.consensus.stop().await;
        let height = running.base.ledger.read().unwrap().head().height;
        drop(running);
        // The ledger's database is released once the node's tasks have wound down.
        tokio::time::sleep(Duration::from_millis(500)).await;
        height
    }

    fn node(&self, i: usize) -> &Running {
        self.running[i].as_ref().expect("node is running")
    }

    fn height(&self, i: usize) -> u64 {
        self.node(i).base.ledger.read().unwrap().head().height
    }

    /// Waits until every running node has committed `height`.
    async fn wait_for_height(&self, height: u64) {
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let lowest = (0..self.running.len())
                    .filter(|i| self.running[*i].is_some())
                    .map(|i| self.height(i))
                    .min()
                    .unwrap();
                if lowest >= height {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("nodes did not reach height {height}"));
    }

    /// Every running node holds the same blocks (and so the same state roots) up to `height`.
    fn assert_agree(&self, height: u64) {
        self.assert_agree_among(1..=height, 0..self.running.len());
    }

    /// The running nodes among `nodes` hold the same blocks at `heights`.
    fn assert_agree_among(
        &self,
        heights: std::ops::RangeInclusive<u64>,
        nodes: impl Iterator<Item = usize> + Clone,
    ) {
        let running: Vec<_> = nodes.filter_map(|i| self.running[i].as_ref()).collect();
        let first = running[0];
        for h in heights {
            let block = first.base.ledger.read().unwrap().block(h).unwrap().unwrap();
            for node in &running {
                let other = node.base.ledger.read().unwrap().block(h).unwrap().unwrap();
                assert_eq!(other.header, block.header, "nodes disagree at height {h}");
            }
        }
    }
}

fn transfer(from: &Keypair, nonce: u64, to: &Keypair, amount: u128) -> SignedTx {
    Tx {
        chain_id: CHAIN.into(),
        sender: from.address(),
        nonce,
        fee: Params::default().min_fee,
        body: TxBody::Transfer {
            to: to.address(),
            amount,
        },
    }
    .sign(from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_validators_finalize_gossiped_transactions_to_one_state_root() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let clients: Vec<Keypair> = (0..4)
        .map(|i| Keypair::from_label(&format!("client-{i}")))
        .collect();
    let sink = Keypair::from_label("sink");
    let net = Testnet::running(4, &clients.iter().collect::<Vec<_>>()).await;
    // Each client submits through a different node, one transfer after another,
    // all clients at once; every node's transactions must reach the proposers.
    let mut tasks = Vec::new();
    for (k, client) in clients.iter().enumerate() {
        let consensus = net.node((k + 1) % 4).consensus.clone();
        let (client, sink) = (client.clone(), sink.clone());
        tasks.push(tokio::spawn(async move {
            let mut heights = Vec::new();
            for nonce in 0..5 {
                let included = consensus
                    .submit(transfer(&client, nonce, &sink, UNIT))
                    .await
                    .unwrap();
                heights.push(included.height);
            }
            heights
        }));
    }
    let mut top = 0;
    for task in tasks {
        let heights = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("transactions are finalized")
            .unwrap();
        assert!(heights.windows(2).all(|w| w[0] < w[1]));
        top = top.max(*heights.last().unwrap());
    }
    net.wait_for_height(top).await;
    net.assert_agree(top);
    for i in 0..4 {
        let ledger = net.node(i).base.ledger.read().unwrap();
        assert_eq!(ledger.account(&sink.address()).balance, 20 * UNIT);
    }
    // A replayed transaction is refused at once by any node.
    let replay = transfer(&clients[0], 0, &sink, UNIT);
    let refused = net.node(2).consensus.submit(replay).await.unwrap_err();
    assert!(refused.to_string().contains("nonce"), "{refused}");
}

/// Submits `count` transfers from `client` through node `via`, one after another.
/// `count` transfers from `client` through node `via`, its nonce moved on
/// past them, and every running node at the height that includes the last.
async fn finalized_transfers(
    net: &Testnet,
    via: usize,
    client: &Keypair,
    nonce: &mut u64,
    count: u64,
    to: &Keypair,
) -> u64 {
    let top = transfers(net, via, client, *nonce, count, to).await;
    *nonce += count;
    net.wait_for_height(top).await;
    top
}

async fn transfers(
    net: &Testnet,
    via: usize,
    client: &Keypair,
    first_nonce: u64,
    count: u64,
    to: &Keypair,
) -> u64 {
    let mut top = 0;
    for nonce in first_nonce..first_nonce + count {
        let included = tokio::time::timeout(
            Duration::from_secs(30),
            net.node(via)
                .consensus
                .submit(transfer(client, nonce, to, UNIT)),
        )
        .await
        .expect("the transfer is finalized in time")
        .unwrap();
        top = included.height;
    }
    top
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_chain_survives_a_dead_validator_which_catches_up_after_restart() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let client = Keypair::from_label("client");
    let sink = Keypair::from_label("sink");
    let mut net = Testnet::running(4, &[&client]).await;
    transfers(&net, 0, &client, 0, 3, &sink).await;
    net.kill(3).await;
    // Three of four validators hold more than two thirds of the power.
    let top = transfers(&net, 1, &client, 3, 5, &sink).await;
    net.wait_for_height(top + 3).await;
    net.start(3).await;
    let now = net.height(0);
    net.wait_for_height(now).await;
    net.assert_agree(now);
    let ledger = net.node(3).base.ledger.read().unwrap();
    assert_eq!(ledger.account(&sink.address()).balance, 8 * UNIT);
}

/// Runs four validators, the last with its clock off by `offset_ms`, until
/// all four (the skewed one too) have 12 blocks; checks that they agree and
/// that every block is timed by the honest clocks (within the run, give or
/// take their drift). Returns who proposed each block.
async fn run_with_one_skewed_clock(offset_ms: i64) -> (Vec<Address>, Address) {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let mut net = Testnet::new(4, &[]);
    net.validators[3].config.proposals.clock = Clock::skewed(offset_ms);
    let started = wall_clock_ms();
    for i in 0..4 {
        net.start(i).await;
    }
    let heights = 12;
    net.wait_for_height(heights).await;
    let ended = wall_clock_ms();
    net.assert_agree(heights);
    let drift = net.validators[0]
        .config
        .proposals
        .max_clock_drift
        .as_millis() as u64;
    let ledger = net.node(0).base.ledger.read().unwrap();
    let proposers = (1..=heights)
        .map(|h| {
            let header = ledger.block(h).unwrap().unwrap().header;
            assert!(
                header.time_ms >= started && header.time_ms <= ended + drift,
                "block {h} is timed {} in a run from {started} to {ended}",
                header.time_ms
            );
            header.proposer
        })
        .collect();
    (proposers, net.validators[3].key.address())
}

/// One validator of four has a clock minutes ahead: its blocks would
/// fast-forward every deadline, TTL and bill. The others do not vote for its
/// proposals, a later round's proposer makes each block it would have made,
/// the chain goes on with block times that keep to the honest clocks, and the
/// skewed validator itself, which finds every honest proposal late, follows
/// the chain by sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_validator_whose_clock_is_minutes_ahead_neither_halts_the_chain_nor_sets_its_time() {
    let (proposers, skewed) = run_with_one_skewed_clock(3 * 60_000).await;
    assert!(!proposers.contains(&skewed), "{proposers:?}");
}

/// One validator of four has a clock minutes behind. It used to find every
/// honest proposal too far in its future, refuse it, and stay at that height
/// for good (Malachite keeps a value's first judgement); now it lets them go
/// and follows the chain by sync. Its own proposals are timed after their
/// parent, so they keep to the honest clocks, and one timed minutes back (at
/// the first height, after genesis) is not voted for.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_validator_whose_clock_is_minutes_behind_follows_the_chain_without_setting_its_time() {
    run_with_one_skewed_clock(-3 * 60_000).await;
}

/// Under back-to-back transactions blocks come many times a second. A node
/// that starts then syncs up to the tips its peers announce; if they announced
/// them once a second it would trail the chain by a second's blocks for as
/// long as the load lasts (it did: about 30 blocks for a whole minute), never
/// at the live height where it can take part in consensus.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_started_under_load_catches_up_with_the_live_chain() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let client = Keypair::from_label("client");
    let sink = Keypair::from_label("sink");
    let mut net = Testnet::running(4, &[&client]).await;
    let consensus = net.node(0).consensus.clone();
    let load = tokio::spawn(async move {
        for nonce in 0.. {
            consensus
                .submit(transfer(&client, nonce, &sink, 1))
                .await
                .unwrap();
        }
    });
    // The load has run long enough to make blocks many times a second.
    let loaded = net.height(0) + 20;
    net.wait_for_height(loaded).await;
    let follower = net
        .start_another(Keypair::from_label("follower"), "follower")
        .await;
    let caught_up = tokio::time::timeout(Duration::from_secs(60), async {
        while net.height(follower) < net.height(0) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let (behind, head) = (net.height(follower), net.height(0));
    load.abort();
    assert!(
        caught_up.is_ok(),
        "the new node trails the chain under load: at {behind} of {head}"
    );
}

/// Malachite dials its consensus peers only when it starts, and gives up after
/// five tries (about 19 s). A validator whose peers were unreachable that long,
/// and whom no peer dials, is left alone however long the network is whole
/// again; the supervisor restarts its stalled engine, which dials them anew.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_validator_that_gave_up_dialing_its_peers_rejoins_once_they_are_reachable() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let mut net = Testnet::new(4, &[]);
    // Only the lone validator knows the others' addresses: they never dial it.
    let lone = net.validators[3].config.consensus_listen.clone();
    for v in &mut net.validators[..3] {
        v.config.consensus_peers.retain(|peer| *peer != lone);
    }
    net.validators[3].config.restart_after_stall = Duration::from_secs(5);
    net.start(3).await;
    tokio::time::sleep(Duration::from_secs(25)).await;
    assert_eq!(net.height(3), 0, "one validator of four cannot finalize");
    for i in 0..3 {
        net.start(i).await;
    }
    net.wait_for_height(5).await;
    net.assert_agree(5);
}

/// Two validators of four come back from a crash with votes on record
/// (`vote_guard`) that their engines lost: at the height they resume, their
/// engines would vote otherwise in round 0. Those votes went out unsigned,
/// which left too few for any of round 0's timeouts to fire: the chain
/// halted for good (a whole Docker testnet restarted at once did). Their
/// earlier votes go out again instead, and the round ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn validators_whose_engines_lost_their_votes_send_them_again_and_the_chain_goes_on() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let client = Keypair::from_label("client");
    let sink = Keypair::from_label("sink");
    let mut net = Testnet::running(4, &[&client]).await;
    let mut nonce = 0;
    finalized_transfers(&net, 0, &client, &mut nonce, 2, &sink).await;
    let mut heights = Vec::new();
    for i in 0..4 {
        heights.push(net.kill(i).await);
    }
    // The height the network resumes at, where validators 1 and 2 signed a
    // prevote and a precommit in round 0 for a block no one will propose.
    let resumed = heights.iter().max().unwrap() + 1;
    for i in [1, 2] {
        let mut record = String::new();
        for kind in [VoteKind::Prevote, VoteKind::Precommit] {
            let vote = gpunet_primitives::Vote {
                kind,
                height: resumed,
                round: 0,
                block: Some(Hash([9; 32])),
                validator: net.validators[i].key.address(),
            };
            record += &serde_json::to_string(&vote).unwrap();
            record.push('\n');
        }
        // The guard's record (`vote_guard::FILE`).
        let path = net.validators[i].config.home.join("signed-votes.jsonl");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .unwrap();
        std::io::Write::write_all(&mut file, record.as_bytes()).unwrap();
    }
    for i in 0..4 {
        net.start(i).await;
    }
    let top = finalized_transfers(&net, 0, &client, &mut nonce, 2, &sink).await;
    assert!(top > resumed);
    net.assert_agree(top);
}

/// A node cut off from the chain still answers, from a ledger that no longer
/// moves. A client that must see a block (a provider agent reading the lease
/// an event at that block granted it, from the node it moved on to when the
/// event's node went down) waits for it, then moves on to a node that has
/// it; with none, it says which node is behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_that_must_see_a_block_moves_on_from_a_node_behind() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let client = Keypair::from_label("client");
    let sink = Keypair::from_label("sink");
    let mut net = Testnet::new(4, &[&client]);
    let tip = net.start_with_api(0, BlobReplication::default()).await;
    net.start(1).await;
    net.start(2).await;
    let behind = net.start_with_api(3, BlobReplication::default()).await;
    net.wait_for_height(2).await;
    // Validator 3's engine stops; its API goes on answering.
    net.node(3).consensus.stop().await;
    let frozen = net.height(3);
    let top = transfers(&net, 0, &client, 0, 1, &sink).await;
    assert!(top > frozen);

    let alone = NodeClient::new(&behind).unwrap();
    match alone.caught_up_to(top, Duration::from_secs(2)).await {
        Err(e @ ClientError::Behind { at, wanted, .. }) => {
            assert_eq!((at, wanted), (frozen, top));
            assert_eq!(e.stable_code(), "behind");
        }
        other => panic!("a lone node behind: {other:?}"),
    }

    let both = NodeClient::new(&format!("{behind},{tip}")).unwrap();
    both.caught_up_to(top, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(both.address(), tip.parse().unwrap(), "moved on to the tip");
    let account = both.account(&sink.address()).await.unwrap().account;
    assert_eq!(account.balance, UNIT, "the read sees the transfer");
}

/// A provider agent hears of its leases from one node's event stream. That
/// node's consensus stops (the 30-minute chaos soak's full-disk validator),
/// its API still answering: its stream stays open and silent. The agent sees
/// its node no longer move while another does, follows that one, and runs
/// the job the chain leased it (left on the stalled node's stream, the lease
/// timed out and the provider was slashed). A client following its job
/// from that node moves on the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_whose_node_stalls_follows_another_and_runs_its_lease() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let client = Keypair::from_label("client");
    let provider = Keypair::from_label("provider");
    let mut net = Testnet::new(4, &[&client, &provider]);
    // A small proof of compute: the machine is verified in seconds.
    net.genesis.params.challenge_work_ms = 100;
    net.genesis.params.challenge_latency_ms = 10_000;
    net.genesis.params.challenge_open_ms = 10_000;
    let tip = net.start_with_api(0, BlobReplication::default()).await;
    net.start(1).await;
    net.start(2).await;
    let stalls = net.start_with_api(3, BlobReplication::default()).await;
    net.wait_for_height(2).await;

    let dir = TempDir::new().unwrap();
    let config = AgentConfig {
        // The node that will stall first: the agent streams its events.
        node: format!("{stalls},{tip}"),
        data_dir: dir.path().join("provider"),
        region: "local".into(),
        price_per_hour: UNIT,
        resource_prices: Default::default(),
        public_host: "127.0.0.1".into(),
        unproven_gpus: UnprovenGpus::OfferCpuOnly,
        peer: None,
    };
    let agent = Agent::register(provider, config, Arc::new(ProcessExecutor))
        .await
        .unwrap();
    let agent_task = tokio::spawn(agent.clone().run());
    let node = NodeClient::new(&tip).unwrap();
    tokio::time::timeout(Duration::from_secs(90), async {
        while !node
            .machines()
            .await
            .unwrap()
            .iter()
            .any(|m| m.hardware == HardwareStatus::Verified)
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the provider's machine passes its hardware challenge");

    net.node(3).consensus.stop().await;
    let job_file = dir.path().join("job.toml");
    std::fs::write(
        &job_file,
        "name = \"stalled\"\nimage = \"gpunet/busybox\"\n\
         command = [\"sh\", \"-c\", \"echo done > $GPUNET_OUTPUT_DIR/done.txt\"]\n\
         timeout_secs = 60\n[resources]\ncpu = 1\nmemory_mb = 64\ndisk_mb = 10\n\
         [price]\nmax_per_hour = \"50\"\n",
    )
    .unwrap();
    let wallet = Wallet::new(client, node.clone());
    let id = submit_job(&wallet, &JobFile::load(&job_file).unwrap())
        .await
        .unwrap();
    // The client follows its job from the stalled node first, and moves on
    // too. Well before the lease's deadline (its 60 s and the report's grace).
    let follower = NodeClient::new(&format!("{stalls},{tip}")).unwrap();
    let order = wait_for_order(
        &follower,
        id,
        Duration::from_secs(60),
        |o| o.report.is_some(),
        |_| {},
    )
    .await
    .unwrap_or_else(|e| panic!("the provider did not run its lease: {e}"));
    assert_eq!(follower.address(), tip.parse().unwrap(), "followed the tip");
    assert!(
        matches!(
            order.report.map(|r| r.outcome),
            Some(JobOutcome::Completed { .. })
        ),
        "the job ran to completion"
    );
    assert!(net.height(0) > net.height(3), "the node stayed stalled");
    agent_task.abort();
    agent.stop_runs().await;
    agent.close().await;
}

/// Sockets listening on TCP `port` on this machine (Linux's /proc/net/tcp).
fn listeners_on(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("Linux's TCP table");
    let port = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(1).is_some_and(|local| local.ends_with(&port))
                && fields.get(3) == Some(&"0A")
        })
        .count()
}

/// An engine restarted by its supervisor stops the old one's network first:
/// killed with it, the old swarm kept listening on the consensus port (port
/// reuse lets a new one bind beside it) and peers' connections landed on
/// swarms no consensus read, which left the chain stalled for minutes after
/// a split.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_engine_leaves_no_listener_of_the_old_one_behind() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let mut net = Testnet::new(4, &[]);
    net.validators[3].config.restart_after_stall = Duration::from_secs(1);
    let port = net.validators[3]
        .config
        .consensus_listen
        .iter()
        .find_map(|p| match p {
            libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
            _ => None,
        })
        .expect("a TCP consensus address");
    net.start(3).await;
    // Alone, it cannot finalize: its engine restarts after 1-1.5 s, then
    // 2-2.5 s later, then 4-4.5 s later (without the fix, three restarts
    // left four listeners).
    tokio::time::timeout(Duration::from_secs(30), async {
        while net.node(3).consensus.engine_restarts() < 3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("a validator alone restarts its engine");
    assert_eq!(net.height(3), 0, "one validator of four cannot finalize");
    // The new engine may still be binding its port.
    let listening = tokio::time::timeout(Duration::from_secs(5), async {
        while listeners_on(port) != 1 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        listening.is_ok(),
        "{} listening on the consensus port",
        listeners_on(port)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn all_validators_restarted_keep_every_finalized_transaction() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let client = Keypair::from_label("client");
    let sink = Keypair::from_label("sink");
    let mut net = Testnet::running(4, &[&client]).await;
    let top = transfers(&net, 2, &client, 0, 4, &sink).await;
    net.wait_for_height(top).await;
    for i in 0..4 {
        net.kill(i).await;
    }
    for i in 0..4 {
        // Started one after another, a node may give up dialing peers not yet
        // up (once, under CI load); its supervisor restarts it after a stall,
        // well inside the transfers' timeout. Not sooner than rounds 0 and 1
        // take (3 + 4 s): the interrupted height's round 0 is lost when its
        // proposer, restarted, proposes a new block that the others' recorded
        // votes forbid them to vote for (`bft::vote_guard`), and a restart
        // within round 1 would cut it short too.
        net.validators[i].config.restart_after_stall = Duration::from_secs(10);
        net.start(i).await;
    }
    // Each node resumes from its own storage with the same state at `top`...
    net.assert_agree(top);
    // ...and the restarted network goes on finalizing.
    let after = transfers(&net, 3, &client, 4, 2, &sink).await;
    net.wait_for_height(after).await;
    net.assert_agree(after);
    for i in 0..4 {
        let ledger = net.node(i).base.ledger.read().unwrap();
        assert_eq!(ledger.account(&sink.address()).balance, 6 * UNIT);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_double_signing_validator_is_slashed_and_no_conflicting_blocks_are_finalized() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let client = Keypair::from_label("client");
    let sink = Keypair::from_label("sink");
    let mut net = Testnet::running(4, &[&client]).await;
    let byzantine = net.validators[3].key.address();
    let mut events = net.node(0).base.events.subscribe();
    net.start_twin(3).await;
    // Whenever validator 3 proposes, its two nodes propose and vote for two
    // different blocks; the honest nodes witness it and report it.
    let mut nonce = 0;
    // Usually seconds; generous because on a loaded 2-core CI machine the
    // rounds in which validator 3 proposes can take minutes to come.
    let punished = tokio::time::timeout(Duration::from_secs(240), async {
        loop {
            let top = transfers(&net, 0, &client, nonce, 1, &sink).await;
            nonce += 1;
            // Back-to-back transfers make blocks faster than a node that fell
            // behind can sync; the twin must be at the chain's height for its
            // votes to conflict with the original's.
            net.wait_for_height(top).await;
            while let Ok(e) = events.try_recv() {
                if let gpunet_types::Event::DoubleSignPunished {
                    validator, slashed, ..
                } = e.event
                {
                    return (validator, slashed, e.height);
                }
            }
        }
    })
    .await
    .expect("the double-signing is punished");
    assert_eq!(punished.0, byzantine);
    let stake = Params::default().stake_per_vote;
    assert_eq!(punished.1, stake / 10, "slash_double_sign_bps of its stake");
    // The honest validators decided one chain, and went on without validator 3.
    let top = transfers(&net, 1, &client, nonce, 2, &sink).await;
    net.wait_for_height(top).await;
    net.assert_agree_among(1..=top, 0..3);
    let ledger = net.node(0).base.ledger.read().unwrap();
    let next = ledger.validator_set(ledger.head().height + 1);
    assert_eq!(next.len(), 3);
    assert!(next.iter().all(|(v, _)| *v != byzantine));
    assert!(ledger
        .validator_set(punished.2)
        .iter()
        .any(|(v, _)| *v == byzantine));
    let account = ledger.account(&byzantine);
    assert_eq!(account.validator_bonded, 0);
    assert_eq!(
        account.unbonding_total(),
        stake - stake / 10,
        "the rest unbonds"
    );
    assert!(ledger.check_invariants().is_ok());
}

/// Copies directory `from` to `to` (which must not exist), files only.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Where a validator keeps its ledger and its commit certificates: what an
/// operator backs up and restores.
fn stores(v: &Validator) -> (PathBuf, PathBuf) {
    (v.base_dir.clone(), v.config.home.join("certificates.redb"))
}

/// Copies a stopped validator's stores to `to`.
fn back_up(v: &Validator, to: &std::path::Path) {
    let (ledger, certificates) = stores(v);
    copy_dir(&ledger, &to.join("node"));
    std::fs::copy(&certificates, to.join("certificates.redb")).unwrap();
}

/// Replaces a stopped validator's stores by those copied to `from`.
fn restore(v: &Validator, from: &std::path::Path) {
    let (ledger, certificates) = stores(v);
    std::fs::remove_dir_all(&ledger).unwrap();
    copy_dir(&from.join("node"), &ledger);
    std::fs::copy(from.join("certificates.redb"), &certificates).unwrap();
}

/// An operator restores a validator's ledger and certificate stores from a
/// backup some blocks old: the validator comes back at heights it already
/// voted on, and once voted again there, with nil where it had voted for a
/// block, and was slashed. Its own record of what it signed stops it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_validator_restored_from_a_stale_backup_does_not_sign_twice() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let client = Keypair::from_label("client");
    let sink = Keypair::from_label("sink");
    let mut net = Testnet::running(4, &[&client]).await;
    let mut events = net.node(0).base.events.subscribe();
    let mut nonce = 0;
    finalized_transfers(&net, 0, &client, &mut nonce, 3, &sink).await;
    // The backup.
    net.kill(3).await;
    let backup = net.dir.path().join("backup");
    back_up(&net.validators[3], &backup);
    let backed_up = {
        net.start(3).await;
        net.height(3)
    };
    // Validator 3 votes on a dozen more blocks...
    finalized_transfers(&net, 0, &client, &mut nonce, 12, &sink).await;
    // ...then is restored from the backup.
    net.kill(3).await;
    restore(&net.validators[3], &backup);
    net.start(3).await;
    assert_eq!(net.height(3), backed_up, "the backup was restored");
    // It catches up, and the chain goes on with it.
    let top = transfers(&net, 0, &client, nonce, 6, &sink).await;
    net.wait_for_height(top).await;
    net.assert_agree(top);
    while let Ok(e) = events.try_recv() {
        assert!(
            !matches!(e.event, gpunet_types::Event::DoubleSignPunished { .. }),
            "a double-sign was punished at height {}: {:?}",
            e.height,
            e.event
        );
    }
    let ledger = net.node(0).base.ledger.read().unwrap();
    let validator = net.validators[3].key.address();
    assert!(ledger
        .validator_set(ledger.head().height + 1)
        .iter()
        .any(|(v, _)| *v == validator));
    assert_eq!(
        ledger.account(&validator).validator_bonded,
        Params::default().stake_per_vote,
        "nothing slashed"
    );
}

/// The sequel of the stale backup in the Docker testnet: the operator stops
/// the validator again and puts back the stores it had before the restore,
/// while the chain goes on without it. It stayed at that height for half an
/// hour, its peers far ahead; it must sync to the tip.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_validator_whose_newer_stores_are_put_back_syncs_to_the_tip() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let client = Keypair::from_label("client");
    let sink = Keypair::from_label("sink");
    let mut net = Testnet::running(4, &[&client]).await;
    let dir = net.dir.path().to_path_buf();
    let mut nonce = 0;
    finalized_transfers(&net, 0, &client, &mut nonce, 2, &sink).await;
    net.kill(3).await;
    back_up(&net.validators[3], &dir.join("older"));
    net.start(3).await;
    finalized_transfers(&net, 0, &client, &mut nonce, 6, &sink).await;
    // The stores it runs on now, kept aside; the older ones restored.
    // Its own height, not validator 0's: the others finalize empty blocks
    // while its engine stops.
    let newer = net.kill(3).await;
    back_up(&net.validators[3], &dir.join("newer"));
    restore(&net.validators[3], &dir.join("older"));
    net.start(3).await;
    finalized_transfers(&net, 0, &client, &mut nonce, 6, &sink).await;
    // Put back; the chain goes on while it is down, and after.
    net.kill(3).await;
    restore(&net.validators[3], &dir.join("newer"));
    transfers(&net, 0, &client, nonce, 6, &sink).await;
    nonce += 6;
    net.start(3).await;
    assert_eq!(net.height(3), newer, "the newer stores were put back");
    let top = transfers(&net, 0, &client, nonce, 2, &sink).await;
    net.wait_for_height(top).await;
    net.assert_agree(top);
}

/// Half a restore: the ledger is current, the certificate store a copy from
/// blocks ago. The node would serve peers blocks without their certificates;
/// it refuses to start and says why. Its stores set aside, it rebuilds them
/// from its peers, keeping its record of signed votes: nothing is slashed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_validator_whose_stores_disagree_refuses_to_start_and_is_rebuilt_from_peers() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let client = Keypair::from_label("client");
    let sink = Keypair::from_label("sink");
    let mut net = Testnet::running(4, &[&client]).await;
    let mut events = net.node(0).base.events.subscribe();
    let dir = net.dir.path().to_path_buf();
    let top = transfers(&net, 0, &client, 0, 2, &sink).await;
    net.wait_for_height(top).await;
    net.kill(3).await;
    back_up(&net.validators[3], &dir.join("older"));
    net.start(3).await;
    let top = transfers(&net, 0, &client, 2, 4, &sink).await;
    net.wait_for_height(top).await;
    net.kill(3).await;
    let v3 = &net.validators[3];
    let (ledger_dir, certificates) = stores(v3);
    std::fs::copy(dir.join("older/certificates.redb"), &certificates).unwrap();
    let base = NodeBuilder::new(&ledger_dir, net.genesis.clone())
        .max_blob_bytes(1 << 20)
        .open()
        .unwrap();
    let refused = gpunet_bft::start(
        base.ledger.clone(),
        v3.key.clone(),
        v3.config.clone(),
        base.events.clone(),
    )
    .await
    .err()
    .expect("a node whose stores disagree does not start");
    let message = refused.to_string();
    assert!(
        matches!(refused, gpunet_bft::BftError::StoresDisagree { .. })
            && message.contains(&format!("the ledger is at height {top}"))
            && message.contains("no certificate for it"),
        "{message}"
    );
    drop(base);
    // Set aside, as `gpunet node --resync` does: the node starts from genesis.
    gpunet_bft::set_aside_rebuilt_stores(&v3.config.home, &dir.join("aside")).unwrap();
    std::fs::remove_dir_all(&ledger_dir).unwrap();
    net.start(3).await;
    assert_eq!(net.height(3), 0);
    let top = transfers(&net, 0, &client, 6, 3, &sink).await;
    net.wait_for_height(top).await;
    net.assert_agree(top);
    while let Ok(e) = events.try_recv() {
        assert!(
            !matches!(e.event, gpunet_types::Event::DoubleSignPunished { .. }),
            "a double-sign was punished at height {}",
            e.height
        );
    }
}

/// A node's API that prunes the snapshot a restore fetches from it when
/// the first chunk is asked for, as a validator whose few kept snapshots
/// turn over during a long download does.
struct PrunesUnderFetch {
    peer: NodeClient,
    /// The validator's snapshot directory.
    snapshots: PathBuf,
    /// The snapshot it pruned.
    pruned: std::sync::Mutex<Option<u64>>,
}

impl gpunet_bft::SnapshotPeer for PrunesUnderFetch {
    fn snapshots(
        &self,
    ) -> impl std::future::Future<
        Output = Result<Vec<gpunet_types::api::SnapshotInfo>, gpunet_client::ClientError>,
    > + Send {
        self.peer.snapshots()
    }

    fn snapshot_file(
        &self,
        height: u64,
        file: &str,
        max_bytes: usize,
    ) -> impl std::future::Future<Output = Result<Vec<u8>, gpunet_client::ClientError>> + Send {
        let mut pruned = self.pruned.lock().unwrap();
        if pruned.is_none() && file.starts_with("chunk") {
            // The node may have pruned it itself meanwhile: gone either way.
            let _ = std::fs::remove_dir_all(self.snapshots.join(height.to_string()));
            *pruned = Some(height);
        }
        drop(pruned);
        self.peer.snapshot_file(height, file, max_bytes)
    }

    fn name(&self) -> String {
        "a peer that prunes".into()
    }
}

/// A node joins a running chain from a validator's state snapshot: it
/// fetches the state at the snapshot's block over the validator's API,
/// checks it against that block's certificate, and follows the chain from
/// there without replaying a block before it. The snapshot it first fetches
/// is pruned under it: it starts over at the validator's newest.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_joins_from_a_snapshot_without_replaying_the_chain() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let client = Keypair::from_label("client");
    let sink = Keypair::from_label("sink");
    let mut net = Testnet::new(4, &[&client]);
    net.snapshot_every = 10;
    let api = net.start_with_api(0, BlobReplication::default()).await;
    for i in 1..4 {
        net.start(i).await;
    }
    let mut nonce = 0;
    finalized_transfers(&net, 0, &client, &mut nonce, 4, &sink).await;
    net.wait_for_height(21).await;
    let peer = NodeClient::new(&api).unwrap();
    let snapshot = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Some(s) = peer.snapshots().await.unwrap().first().cloned() {
                if s.height >= 20 {
                    return s;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("validator 0 serves a snapshot past height 20");
    assert!(snapshot.height.is_multiple_of(10));
    assert!(snapshot.chunks >= 1);

    let joiner = net.add_node(Keypair::from_label("joiner"), "joiner");
    let (ledger_path, home) = {
        let v = &net.validators[joiner];
        (
            v.base_dir.join(gpunet_node::LEDGER_FILE),
            v.config.home.clone(),
        )
    };
    let pruning = PrunesUnderFetch {
        peer,
        snapshots: net.validators[0].base_dir.join(gpunet_node::SNAPSHOTS_DIR),
        pruned: Default::default(),
    };
    let restored = gpunet_bft::restore_from_snapshot(&pruning, &net.genesis, &ledger_path, &home)
        .await
        .unwrap();
    let pruned = pruning
        .pruned
        .lock()
        .unwrap()
        .expect("a snapshot was pruned");
    assert!(pruned >= snapshot.height);
    assert_ne!(restored.height, pruned, "started over at another snapshot");
    assert!(restored.height.is_multiple_of(10));
    net.start(joiner).await;
    {
        let ledger = net.node(joiner).base.ledger.read().unwrap();
        assert!(ledger.head().height >= restored.height);
        assert_eq!(
            ledger.block(restored.height - 1).unwrap(),
            None,
            "not replayed"
        );
        assert_eq!(ledger.block(1).unwrap(), None, "not replayed");
    }
    let top = transfers(&net, 0, &client, nonce, 4, &sink).await;
    net.wait_for_height(top).await;
    // Block headers carry state roots: agreeing on them is agreeing on state.
    net.assert_agree_among(restored.height..=top, 0..net.running.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_that_bonds_validator_stake_votes_from_the_next_height() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let client = Keypair::from_label("client");
    let sink = Keypair::from_label("sink");
    let mut net = Testnet::new(5, &[&client]);
    // The fifth node follows the chain without a vote until it bonds stake.
    net.genesis.validators.truncate(4);
    for i in 0..5 {
        net.start(i).await;
    }
    let joiner = net.validators[4].key.clone();
    let bond = Tx {
        chain_id: CHAIN.into(),
        sender: joiner.address(),
        nonce: 0,
        fee: Params::default().min_fee,
        body: TxBody::BondValidator {
            amount: Params::default().stake_per_vote,
        },
    }
    .sign(&joiner);
    let included = net.node(4).consensus.submit(bond).await.unwrap();
    net.wait_for_height(included.height).await;
    {
        let ledger = net.node(0).base.ledger.read().unwrap();
        assert_eq!(ledger.validator_set(included.height).len(), 4);
        assert_eq!(ledger.validator_set(included.height + 1).len(), 5);
    }
    net.wait_for_height(included.height + 1).await;
    // Four of five votes are needed now: without the joiner's the chain would stop.
    net.kill(0).await;
    let top = transfers(&net, 1, &client, 0, 3, &sink).await;
    net.wait_for_height(top).await;
    net.assert_agree_among(1..=top, 1..5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn job_inputs_are_copied_to_their_holders_and_outlive_the_node_they_were_uploaded_to() {
    let _serial = ONE_NETWORK_AT_A_TIME.lock().await;
    let client = Keypair::from_label("client");
    let mut net = Testnet::new(4, &[&client]);
    let replication = BlobReplication {
        replicas: 2,
        sweep_every: Duration::from_secs(3600),
    };
    let mut apis = Vec::new();
    for i in 0..4 {
        apis.push(net.start_with_api(i, replication).await);
    }
    tokio::time::timeout(Duration::from_secs(60), async {
        while (0..4).any(|i| net.node(i).consensus.peer_apis().len() < 3) {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the nodes learn each other's APIs");

    // An input whose two holders are not node 0, the node it is uploaded to.
    let validators: Vec<Address> = net.validators.iter().map(|v| v.key.address()).collect();
    let (words, held_by) = (0..)
        .map(|take| format!("words worth keeping, take {take}\n"))
        .map(|words| {
            let held_by = holders(&Hash::digest(words.as_bytes()), &validators, 2);
            (words, held_by)
        })
        .find(|(_, held_by)| !held_by.contains(&validators[0]))
        .unwrap();
    let dir = net.dir.path().join("job");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("words.txt"), &words).unwrap();
    std::fs::write(
        dir.join("job.toml"),
        "name = \"kept\"\nimage = \"gpunet/busybox\"\ncommand = [\"true\"]\ntimeout_secs = 60\n\
         [[inputs]]\npath = \"words.txt\"\nsource = \"words.txt\"\n\
         [price]\nmax_per_hour = \"5\"\n",
    )
    .unwrap();
    let wallet = Wallet::new(client, NodeClient::new(&apis[0]).unwrap());
    let id = submit_job(&wallet, &JobFile::load(&dir.join("job.toml")).unwrap())
        .await
        .unwrap();
    let read = wallet.blob_read(id).await.unwrap();

    // No machine takes the order, nobody reads the input: its holders copy
    // it anyway, and only they do.
    let hash = Hash::digest(words.as_bytes());
    let holder_nodes: Vec<usize> = (0..4)
        .filter(|i| held_by.contains(&validators[*i]))
        .collect();
    tokio::time::timeout(Duration::from_secs(30), async {
        while !holder_nodes
            .iter()
            .all(|i| net.node(*i).base.blobs.contains(&hash))
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("its holders copy the input ahead of any read");
    let other = (1..4).find(|i| !holder_nodes.contains(i)).unwrap();
    assert!(
        !net.node(other).base.blobs.contains(&hash),
        "a node that is not a holder copies a blob only when it is read"
    );

    // The node it was uploaded to dies: the input is still read from every other.
    net.kill(0).await;
    for api in &apis[1..] {
        let bytes = NodeClient::new(api)
            .unwrap()
            .get_blob(&hash, &read)
            .await
            .unwrap();
        assert_eq!(bytes, words.as_bytes());
    }
}
