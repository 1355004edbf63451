//! A node stopped while the four validators decide 10,000 blocks (see
//! `missed_blocks`), then started again as it was: it syncs the blocks it
//! missed, reaches the tip and follows the chain. While it is down the
//! validators propose without waiting for transactions (`HEARTBEAT=0s`),
//! so the blocks pile up as fast as consensus decides them; then they go
//! back to a block a second. (A stopped validator would be a proposer
//! every fourth height, and each of its turns would wait out a round's
//! timeout: the chain would crawl.)

use super::*;
use std::time::Instant;

/// Blocks the stopped node misses: 10,000, or `GPUNET_STOPPED_BLOCKS`
/// (`.ci/run` sets 1,000: at the 25 blocks a second a debug build's
/// testnet decides on two cores, 10,000 take about 12 minutes with the
/// catch-up).
fn missed_blocks() -> u64 {
    std::env::var("GPUNET_STOPPED_BLOCKS")
        .map(|n| {
            n.parse()
                .expect("GPUNET_STOPPED_BLOCKS is a number of blocks")
        })
        .unwrap_or(10_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopped_for_10000_blocks_catches_up_when_started_again() {
    let missed_blocks = missed_blocks();
    if gpunet_provider::testing::docker_or_skip(Default::default())
        .await
        .is_none()
    {
        return;
    }
    let net = Testnet::up_with(&[
        ("HEARTBEAT".to_string(), "0s".to_string()),
        // No snapshot while it is down: it syncs blocks, as a node does
        // that is not told to join from a snapshot.
        ("SNAPSHOT_EVERY".to_string(), "0".to_string()),
    ]);
    let key = net.dir.path().join("follower.key");
    let made = Command::new(env!("CARGO_BIN_EXE_gpunet"))
        .args(["--keystore", &key.to_string_lossy(), "wallet", "new"])
        .arg("--plaintext")
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let node = net.start_node("172.29.0.17", "follower.key", &[]);
    let tip = net.height(0).await.unwrap();
    reach_height(&node, tip, Duration::from_secs(120)).await;

    docker(&["stop", &node]);
    let stopped_at = net.height(0).await.unwrap();
    let produced = {
        let start = Instant::now();
        let limit = Duration::from_secs(20 * 60);
        net.wait_height_within(0, stopped_at + missed_blocks, limit)
            .await;
        start.elapsed()
    };
    let produce_rate = missed_blocks as f64 / produced.as_secs_f64();
    // Back to an idle chain's pace, a block a second, one validator at a
    // time (its stores kept): the node then catches up with a chain that
    // moves as a real one does, not with empty blocks made as fast as a
    // loaded two-core machine can, which it only about keeps pace with.
    for v in 0..4 {
        net.apply(&format!("validator{}", v + 1), "HEARTBEAT", "1s");
        net.wait_height(v, stopped_at + missed_blocks).await;
    }

    docker(&["start", &node]);
    let restarted = Instant::now();
    let missed = net.height(0).await.unwrap() - stopped_at;
    // The blocks it missed, then the chain that grew while it synced them.
    let synced = reach_height(&node, stopped_at + missed, Duration::from_secs(15 * 60)).await;
    let caught_up = tokio::time::timeout(Duration::from_secs(10 * 60), async {
        loop {
            let tip = net.height(0).await.unwrap();
            if exec_height(&node).is_some_and(|h| h >= tip) {
                return tip;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the node synced what it missed but never reached the tip");
    let to_tip = restarted.elapsed();
    let sync_rate = missed as f64 / synced.as_secs_f64();
    eprintln!(
        "the chain grew {missed_blocks} blocks in {:.1} s ({produce_rate:.1} blocks/s) while the node \
         was stopped; started again, it synced the {missed} it missed in {:.1} s ({sync_rate:.1} \
         blocks/s, {:.2}x the chain's rate) and reached the tip, {caught_up}, {:.1} s after \
         it started",
        produced.as_secs_f64(),
        synced.as_secs_f64(),
        sync_rate / produce_rate,
        to_tip.as_secs_f64(),
    );
    net.assert_same_block(&[0, 1, 2, 3], caught_up).await;
    let block = Command::new("docker")
        .args(["exec", &node, "sh", "-c"])
        .arg(format!(
            "gpunet --node \"$(cat /data/api-url)\" --output json block {caught_up}"
        ))
        .output()
        .unwrap();
    let block: serde_json::Value = serde_json::from_slice(&block.stdout).unwrap();
    let validators = net.client(0).block(caught_up).await.unwrap();
    assert_eq!(
        block["hash"],
        serde_json::to_value(validators.hash).unwrap(),
        "the node holds another block at {caught_up} than the validators"
    );

    // Back at the tip it follows the live chain, not only the blocks it
    // missed; and it said what it was doing in a few lines, not a warning
    // for every block it was behind.
    reach_height(&node, caught_up + 50, Duration::from_secs(120)).await;
    let restarted_at = docker(&["inspect", "--format", "{{.State.StartedAt}}", &node]);
    let log = Command::new("docker")
        .args(["logs", "--since", &restarted_at, &node])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&log.stderr);
    assert!(
        log.lines().count() < 200,
        "the node logged {} lines while catching up:\n{log}",
        log.lines().count()
    );
    docker(&["rm", "-f", &node]);
    net.down();
}
