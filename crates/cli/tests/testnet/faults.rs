//! Faults one at a time, each checked as it happens: a validator's container
//! is cut off the network and reconnected, killed and started again, its
//! stores restored from an old backup, all four restarted at once, a second
//! copy of one validator started to make it double-sign; then a real job,
//! its result held by three validators, live logs across nodes, and a new
//! node with nothing on disk joining from a validator's state snapshot.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_testnet_rides_out_faults_and_a_byzantine_validator_and_runs_a_job_across_nodes() {
    if gpunet_provider::testing::docker_or_skip(Default::default())
        .await
        .is_none()
    {
        return;
    }
    let net = Testnet::up();
    for v in 0..4 {
        net.wait_height(v, 3).await;
    }
    net.assert_same_block(&[0, 1, 2, 3], 3).await;

    // Validator 4 is cut off: the other three (three quarters of the power) go on.
    let v4 = net.container("validator4");
    docker(&["network", "disconnect", &net.network(), &v4]);
    // Its own height, not validator 1's: on a loaded machine validator 1 may
    // apply a block later than validator 4 does.
    let at_cut = net.height_inside(&v4, 3);
    net.wait_height(0, at_cut + 5).await;
    let stalled = net.height_inside(&v4, 3);
    assert!(
        stalled <= at_cut + 1,
        "a partitioned validator cannot finalize alone: validator 4 is at {stalled}, \
         it was at {at_cut} when it was cut off and the others went 5 blocks on"
    );
    // Healed, it syncs the blocks it missed and agrees with the rest.
    docker(&[
        "network",
        "connect",
        "--ip",
        "172.29.0.14",
        &net.network(),
        &v4,
    ]);
    let now = net.height(0).await.unwrap();
    net.assert_same_block(&[0, 1, 2, 3], now).await;
    // And it follows the live chain again, not only the blocks it missed:
    // the next fault leaves the chain its votes.
    net.wait_height(3, now + 2).await;

    // Validator 2 dies; the chain keeps finalizing; restarted, it catches up.
    let v2 = net.container("validator2");
    docker(&["kill", &v2]);
    let killed_at = net.height(0).await.unwrap();
    net.wait_height(0, killed_at + 5).await;
    docker(&["start", &v2]);
    let now = net.height(0).await.unwrap();
    net.assert_same_block(&[0, 1, 2, 3], now).await;

    // Validator 3's operator restores its ledger and certificate stores
    // from a backup some blocks old (its record of signed votes is kept
    // apart, and stays): it comes back at heights it already voted on,
    // signs nothing twice, is not slashed, and catches up.
    let v3 = net.container("validator3");
    let v3_address = Keystore::load(&net.dir.path().join("validator3.key"))
        .unwrap()
        .address();
    let backup = tempfile::tempdir().unwrap();
    let (ledger, certificates) = (
        backup.path().join("ledger.redb"),
        backup.path().join("certificates.redb"),
    );
    let stores = [
        ("/data/ledger.redb", &ledger),
        ("/data/consensus/certificates.redb", &certificates),
    ];
    docker(&["stop", &v3]);
    for (inside, copy) in stores {
        docker(&["cp", &format!("{v3}:{inside}"), &copy.to_string_lossy()]);
    }
    docker(&["start", &v3]);
    let backed_up_at = net.height(0).await.unwrap();
    net.assert_same_block(&[0, 1, 2, 3], backed_up_at + 10)
        .await;
    docker(&["stop", &v3]);
    for (inside, copy) in stores {
        docker(&["cp", &copy.to_string_lossy(), &format!("{v3}:{inside}")]);
    }
    docker(&["start", &v3]);
    let now = net.height(0).await.unwrap();
    net.assert_same_block(&[0, 1, 2, 3], now + 3).await;
    let status = net.client(0).status().await.unwrap();
    assert!(
        status.validators.contains(&v3_address),
        "validator 3 still votes"
    );
    let account = net.client(0).account(&v3_address).await.unwrap().account;
    assert_eq!(
        account.validator_bonded,
        gpunet_types::Params::default().stake_per_vote,
        "no double-sign was found: nothing slashed"
    );

    // Its operator then puts back only the old certificate store: the
    // ledger's head has no certificate there, so the stores disagree and
    // the node refuses to start, saying what to do...
    docker(&["stop", &v3]);
    docker(&[
        "cp",
        &certificates.to_string_lossy(),
        &format!("{v3}:/data/consensus/certificates.redb"),
    ]);
    docker(&["start", &v3]);
    let exit_code = docker(&["wait", &v3]);
    let log = node_log(&v3);
    assert_ne!(
        exit_code, "0",
        "a node whose stores disagree started: {log}"
    );
    assert!(
        log.contains("Start it once with --resync"),
        "no way out was offered: {log}"
    );
    // ...and started once with --resync it moves its stores aside, rebuilds
    // them from its peers, and reaches the tip; then it runs as before.
    let resync = net.run_once_as(&v3, "172.29.0.13", &["--resync"]);
    let tip = net.height(0).await.unwrap();
    reach_height(&resync, tip + 1, Duration::from_secs(120)).await;
    let log = node_log(&resync);
    assert!(
        log.contains("resync: the ledger and consensus stores were moved to"),
        "{log}"
    );
    docker(&["rm", "-f", &resync]);
    docker(&["start", &v3]);
    let now = net.height(0).await.unwrap();
    net.assert_same_block(&[0, 1, 2, 3], now + 3).await;

    // All four restart at once: each resumes from its own storage, they agree
    // on what was final, and go on finalizing.
    let before = net.height(0).await.unwrap();
    let all: Vec<String> = (1..=4)
        .map(|i| net.container(&format!("validator{i}")))
        .collect();
    docker(
        &[
            &["restart"][..],
            &all.iter().map(String::as_str).collect::<Vec<_>>(),
        ]
        .concat(),
    );
    net.assert_same_block(&[0, 1, 2, 3], before + 2).await;

    // Validator 4's key is run a second time, by a Byzantine operator: when
    // it proposes, its two nodes sign conflicting votes. The others record
    // the evidence, slash it and drop it from the set; the chain goes on.
    let v4_key = net.dir.path().join("validator4.key");
    let v4_address = {
        let key = Keystore::load(&v4_key).unwrap();
        key.address()
    };
    let twin = net.start_node("172.29.0.15", "validator4.key", &[]);
    let punished = tokio::time::timeout(Duration::from_secs(180), async {
        loop {
            if let Ok(status) = net.client(0).status().await {
                if !status.validators.contains(&v4_address) {
                    return status.height;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await
    .expect("the double-signing validator is punished");
    docker(&["rm", "-f", &twin]);
    let account = net.client(0).account(&v4_address).await.unwrap().account;
    assert_eq!(account.validator_bonded, 0, "tombstoned, its stake unbonds");
    let stake = gpunet_types::Params::default().stake_per_vote;
    assert_eq!(
        account.unbonding_total(),
        stake - stake / 10,
        "a tenth was slashed"
    );
    net.assert_same_block(&[0, 1, 2], punished + 2).await;
    // The punished validator's own node, no longer voting, still follows the
    // chain (one left behind like this once stayed at its height for good).
    let now = net.height(0).await.unwrap();
    net.assert_same_block(&[0, 3], now).await;

    // Validator 1 knows the other three's APIs (announced over the gossip
    // network), so a client that starts from it can turn to them.
    let discovered = tokio::time::timeout(Duration::from_secs(60), async {
        while net.client(0).discover().await.unwrap_or(0) < 3 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await;
    assert!(
        discovered.is_ok(),
        "validator 1 learns the other nodes' APIs"
    );
    // A client whose node is down moves on to the next it knows.
    docker(&["stop", &v2]);
    let failover = NodeClient::new(&format!("{},{}", net.address(1), net.address(0))).unwrap();
    failover.status().await.expect("the second node answers");
    assert_eq!(failover.address(), net.address(0));
    docker(&["start", &v2]);
    let key = Keystore::load(&net.dir.path().join("client.key")).unwrap();
    let wallet = Wallet::new(key, net.client(0));

    // A real job across nodes: the client talks to validator 1, the providers
    // to validators 3 and 4; inputs and outputs cross between nodes' stores.
    let out = Command::new(env!("CARGO_BIN_EXE_gpunet"))
        .args(["--node", &net.address(0).to_string()])
        .args([
            "--keystore",
            &net.dir.path().join("client.key").to_string_lossy(),
        ])
        .args(["job", "run", &format!("{ROOT}/examples/hello.toml")])
        .args(["--wait", "--wait-secs", "240"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("sum: 500000500000"),
        "job run: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Its result lives on more than the provider's node: every validator
    // left (three, the default number of copies) holds the manifest and its
    // files itself, copied ahead of any read.
    let order = wallet
        .node()
        .orders_of(&wallet.address(), &Default::default())
        .await
        .unwrap()
        .remove(0);
    let root = order.output_root().expect("the job completed");
    let read = wallet.blob_read(order.id).await.unwrap();
    let manifest = net.client(0).manifest(&root, &read).await.unwrap();
    let read = gpunet_types::api::header_value(&read);
    let blobs: Vec<_> = std::iter::once(root)
        .chain(manifest.files.iter().map(|f| f.hash))
        .collect();
    let addresses: Vec<NodeAddress> = (0..3).map(|v| net.address(v)).collect();
    let http = gpunet_client::tls::http_client_for(&addresses);
    let held = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let mut all = true;
            for (node, blob) in addresses
                .iter()
                .flat_map(|a| blobs.iter().map(move |b| (a, b)))
            {
                let local = http
                    .get(format!("{}/v1/blobs/{blob}", node.url))
                    .header(gpunet_types::api::LOCAL_ONLY_HEADER, "1")
                    .header(gpunet_types::api::BLOB_READ_HEADER, &read)
                    .send()
                    .await;
                all &= local.is_ok_and(|r| r.status().is_success());
            }
            if all {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await;
    assert!(held.is_ok(), "validators 1-3 each hold the result");

    // Live logs cross nodes too: a provider pushes them to its node (3 or 4),
    // the client reads them from validator 1 while the job runs.
    let spec = net.dir.path().join("live.toml");
    std::fs::write(
        &spec,
        "name = \"live\"\nimage = \"gpunet/busybox\"\ncommand = [\"sh\", \"-c\", \"echo started; sleep 20; echo done\"]\n\
         timeout_secs = 120\n[price]\nmax_per_hour = \"50\"\n",
    )
    .unwrap();
    let id = submit_job(&wallet, &JobFile::load(&spec).unwrap())
        .await
        .unwrap();
    let mut seen = None;
    for _ in 0..600 {
        let order = wallet.node().order(id).await.unwrap();
        if order.status == OrderStatus::Running
            && current_logs(&wallet, &order).await.unwrap().stdout == b"started\n"
        {
            seen = Some(wallet.node().order(id).await.unwrap().status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen,
        Some(OrderStatus::Running),
        "the live log never reached validator 1"
    );

    // A new node, nothing on disk, joins from validator 1's newest snapshot
    // and follows the chain from there, without the blocks before it.
    let out = Command::new(env!("CARGO_BIN_EXE_gpunet"))
        .args([
            "--keystore",
            &net.dir.path().join("joiner.key").to_string_lossy(),
        ])
        .args(["wallet", "new", "--plaintext"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let joiner = net.start_node(
        "172.29.0.16",
        "joiner.key",
        &[&format!(
            "--from-snapshot=https://172.29.0.11:8645#{}",
            net.api_key(0)
        )],
    );
    let tip = net.height(0).await.unwrap();
    reach_height(&joiner, tip + 1, Duration::from_secs(120)).await;
    let log = node_log(&joiner);
    assert!(log.contains("joined from the snapshot at height"), "{log}");
    let first_block = Command::new("docker")
        .args(["exec", &joiner, "sh", "-c"])
        .arg("gpunet --node \"$(cat /data/api-url)\" block 1")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&first_block.stderr).contains("no block at height 1"),
        "the new node replayed the chain: {}",
        String::from_utf8_lossy(&first_block.stderr)
    );
    docker(&["rm", "-f", &joiner]);
}
