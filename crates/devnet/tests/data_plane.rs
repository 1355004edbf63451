//! Results that providers keep and serve peer to peer: a devnet whose
//! providers run with `Outputs::Keep`, driven through the client
//! library, with a stranger's peer knocking on the provider's door.

use gpunet_client::images::ImageGate;
use gpunet_client::jobfile::{JobFile, PreparedJob};
use gpunet_client::jobs::{fetch_outputs, read_output, submit_job};
use gpunet_client::served::OwnOrdersGate;
use gpunet_client::Wallet;
use gpunet_devnet::provider_key;
use gpunet_devnet::Devnet;
use gpunet_p2p::{AllowList, Peer, PeerConfig, Reach};
use gpunet_primitives::{
    BlobHasher, ImageBlob, InputRef, InputSource, Keypair, OutputHolder, TxBody,
};
use gpunet_provider::data_plane::{DataPlaneConfig, Retention};
use gpunet_provider::Outputs;
use gpunet_types::OrderStatus;
use std::sync::Arc;
use std::time::Duration;

mod common;
use common::*;

/// A devnet of `providers` that keep their results for `keep_for` and
/// serve them from peers on loopback.
async fn serving_devnet(dir: &std::path::Path, providers: usize, keep_for: Duration) -> Devnet {
    let mut config = config(dir, providers);
    config.provider_peer = Some(DataPlaneConfig {
        outputs: Outputs::Keep(Retention {
            keep_for,
            sweep_every: Duration::from_millis(500),
        }),
        ..DataPlaneConfig::new(Reach::Direct {
            bind: "127.0.0.1:0".parse().unwrap(),
            relay: None,
        })
    });
    Devnet::start(config).await.expect("devnet starts")
}

/// The provider of `net` other than `provider`, of two.
fn net_other(net: &Devnet, provider: gpunet_primitives::Address) -> gpunet_primitives::Address {
    let other = [provider_key(0).address(), provider_key(1).address()];
    assert_eq!(net.config.providers, 2);
    *other.iter().find(|p| **p != provider).unwrap()
}

/// A peer of `key`'s account, as a reader would run one.
async fn reader_peer(dir: &std::path::Path, key: &Keypair) -> Peer {
    let config = PeerConfig::new(dir.to_path_buf(), "127.0.0.1:0".parse().unwrap());
    Peer::start(key, config, Arc::new(AllowList::default()))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_kept_by_its_provider_reaches_its_readers_and_nobody_else() {
    let dir = tempfile::tempdir().unwrap();
    let net = serving_devnet(dir.path(), 2, Retention::KEEP_FOR).await;
    let node = net.client();
    let wallet = net.client_wallet();
    let job = job_file(
        dir.path(),
        "kept",
        "echo kept by the provider; head -c 3000000 /dev/urandom > $GPUNET_OUTPUT_DIR/big.bin",
        60,
    );
    let id = submit_job(&wallet, &job).await.unwrap();
    let order = wait_final(&node, id).await;
    assert_eq!(order.status, OrderStatus::Settled, "{order:?}");
    let report = order.report.as_ref().unwrap();
    assert_eq!(report.files_held_by(), Some(OutputHolder::Provider));
    let provider = order.lease.as_ref().unwrap().provider;
    let announced = node.peer(&provider).await.unwrap().expect("announced");
    assert!(!announced.direct.is_empty(), "{announced:?}");

    // The client gets every file, verified, from the provider's peer.
    let out = dir.path().join("out");
    let manifest = fetch_outputs(&wallet, &order, &out).await.unwrap();
    let big = manifest.get("outputs/big.bin").unwrap();
    assert_eq!(big.size, 3_000_000);
    assert_eq!(
        std::fs::metadata(out.join("outputs/big.bin"))
            .unwrap()
            .len(),
        3_000_000
    );
    let stdout = read_output(&wallet, &order, "logs/stdout.log")
        .await
        .unwrap();
    assert_eq!(String::from_utf8(stdout).unwrap(), "kept by the provider\n");
    assert!(
        !out.join(gpunet_client::peer_fetch::DOWNLOAD_STORE).exists(),
        "the download store goes once the result is whole"
    );

    // Chained into later jobs of the client's, the file goes from the
    // provider that keeps it to each job's provider: first the other one
    // (machines of one load and price take work in turn), through the
    // keeping provider's gate, then the same one, out of its own store.
    let chained = dir.path().join("chained.toml");
    std::fs::write(
        &chained,
        format!(
            "name = \"chained\"\nimage = \"gpunet/busybox\"\n\
             command = [\"sh\", \"-c\", \"md5sum < $GPUNET_INPUT_DIR/big.bin\"]\ntimeout_secs = 60\n\
             [[inputs]]\npath = \"big.bin\"\nfrom_order = {id}\nfrom_output = \"outputs/big.bin\"\n\
             [price]\nmax_per_hour = \"50\"\n"
        ),
    )
    .unwrap();
    let chained = JobFile::load(&chained).unwrap();
    let prepared = chained.prepare(&wallet).await.unwrap();
    assert_eq!(
        prepared.spec.inputs[0].source,
        InputSource::KeptResult { order: id }
    );
    let md5 = std::process::Command::new("md5sum")
        .stdin(std::fs::File::open(out.join("outputs/big.bin")).unwrap())
        .output()
        .unwrap();
    let mut ran_on = Vec::new();
    for _ in 0..2 {
        let next = submit_job(&wallet, &chained).await.unwrap();
        let done = wait_final(&node, next).await;
        assert_eq!(done.status, OrderStatus::Settled, "{done:?}");
        let stdout = read_output(&wallet, &done, "logs/stdout.log")
            .await
            .unwrap();
        assert_eq!(stdout, md5.stdout);
        ran_on.push(done.lease.unwrap().provider);
    }
    assert_eq!(ran_on, [net_other(&net, provider), provider]);
    // Nobody else's order may name it so: the ledger refuses a stranger's.
    let stranger = Keypair::from_label("stranger");
    wallet
        .send(TxBody::Transfer {
            to: stranger.address(),
            amount: 100 * gpunet_primitives::UNIT,
        })
        .await
        .unwrap();
    let copycat = Wallet::new(stranger.clone(), node.clone());
    let refused = place(&copycat, &prepared).await.unwrap_err();
    assert_eq!(refused.stable_code(), "not_your_order", "{refused}");

    // The node keeps the manifest and none of the files.
    let root = order.output_root().unwrap();
    assert!(net.node.blobs.contains(&root));
    for file in &manifest.files {
        assert!(
            !net.node.blobs.contains(&file.hash),
            "{} on the node",
            file.path
        );
    }

    // A stranger that knows the hash (it is on chain) is refused by the
    // provider's gate, until the client shares the result with it.
    let peer = reader_peer(&dir.path().join("stranger"), &stranger).await;
    let refused = peer
        .fetch(big.hash, std::slice::from_ref(&announced), |_| {})
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(peer.local_bytes(big.hash).await.unwrap(), 0);
    wallet
        .send(TxBody::ShareResult {
            order: id,
            reader: stranger.address(),
            shared: true,
        })
        .await
        .unwrap();
    let fetched = peer.fetch(big.hash, &[announced], |_| {}).await.unwrap();
    assert_eq!(fetched.size, 3_000_000);
    peer.shutdown().await;

    // The stranger, now a reader, fetches the whole result as the client
    // does: the manifest from the node, the files from the provider.
    let reader = Wallet::new(stranger, node.clone());
    let shared = dir.path().join("shared");
    assert_eq!(
        fetch_outputs(&reader, &order, &shared).await.unwrap(),
        manifest
    );
    assert_eq!(
        std::fs::read(shared.join("outputs/big.bin")).unwrap(),
        std::fs::read(out.join("outputs/big.bin")).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_drops_a_result_it_kept_past_its_time() {
    let dir = tempfile::tempdir().unwrap();
    // Long enough for the first fetch below on a loaded 2-core machine (at
    // 2 s, CI once saw the result dropped before the client had it all).
    let net = serving_devnet(dir.path(), 1, Duration::from_secs(10)).await;
    let node = net.client();
    let wallet = net.client_wallet();
    let job = job_file(
        dir.path(),
        "brief",
        "head -c 1000000 /dev/urandom > $GPUNET_OUTPUT_DIR/big.bin",
        60,
    );
    let id = submit_job(&wallet, &job).await.unwrap();
    let order = wait_final(&node, id).await;
    let manifest = fetch_outputs(&wallet, &order, &dir.path().join("first"))
        .await
        .unwrap();
    let big = manifest.get("outputs/big.bin").unwrap().hash;
    let p2p = net.provider_dir(0).join("p2p");
    // iroh's store names a blob's file by its hash in hex, as we write it.
    let stored = p2p.join(format!("store/data/{big}.data"));
    assert!(stored.exists(), "{} is kept", stored.display());

    // Past its time, its record, its files and its service go.
    let gone = tokio::time::timeout(Duration::from_secs(60), async {
        while stored.exists() || p2p.join("results").join(id.to_string()).exists() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "{} was deleted", stored.display());
    let refused = fetch_outputs(&wallet, &order, &dir.path().join("later"))
        .await
        .unwrap_err();
    assert_eq!(refused.stable_code(), "data_plane", "{refused}");
}

/// Places `prepared` as `wallet`'s order, as its spec stands (tests change
/// it first); the order's id.
async fn place(
    wallet: &Wallet,
    prepared: &PreparedJob,
) -> Result<gpunet_primitives::OrderId, gpunet_client::ClientError> {
    let included = wallet
        .send(TxBody::SubmitOrder {
            spec: prepared.spec.clone(),
            max_price_per_hour: prepared.max_price_per_hour,
            deposit: prepared.deposit,
        })
        .await?;
    Ok(submitted_order(&included))
}

/// Submits, as `wallet`, a job that sleeps a while, its spec changed by
/// `change`, and waits until it runs.
async fn running_with(
    dir: &std::path::Path,
    wallet: &Wallet,
    change: impl FnOnce(&mut gpunet_primitives::JobSpec),
) -> gpunet_primitives::OrderId {
    let mut prepared = job_file(dir, "pushed", "sleep 30", 60)
        .prepare(wallet)
        .await
        .unwrap();
    change(&mut prepared.spec);
    let id = place(wallet, &prepared).await.unwrap();
    let node = wallet.node();
    for _ in 0..200 {
        if node.order(id).await.unwrap().status == OrderStatus::Running {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("order {id} did not start");
}

/// As [`running_with`], a job whose image is pushed as `blob` (the process
/// executor runs it without loading any image).
async fn running_with_image(
    dir: &std::path::Path,
    wallet: &Wallet,
    blob: ImageBlob,
) -> gpunet_primitives::OrderId {
    running_with(dir, wallet, |spec| {
        spec.image = format!("sha256:{}", "ab".repeat(32));
        spec.image_blob = Some(blob);
    })
    .await
}

/// A pushed image's archive is served (`ImageGate`) to a provider only while
/// it runs a lease whose spec names the archive with a holder proof that
/// holds for the lease's client. Its root and the victim's proof are on
/// chain for anyone to copy: an attacker's order that names them gets its
/// provider nothing, nor does a stranger; the victim's own order does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_archive_is_served_only_for_a_lease_that_proves_its_client_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), 1);
    config.provider_peer = Some(DataPlaneConfig::new(Reach::Direct {
        bind: "127.0.0.1:0".parse().unwrap(),
        relay: None,
    }));
    let net = Devnet::start(config).await.expect("devnet starts");
    let node = net.client();
    let victim = net.client_wallet();
    let attacker = Wallet::new(Keypair::from_label("attacker"), node.clone());
    victim
        .send(TxBody::Transfer {
            to: attacker.address(),
            amount: 100 * gpunet_primitives::UNIT,
        })
        .await
        .unwrap();

    // The victim's archive, served as a provider that loaded it serves it.
    let archive = dir.path().join("image.tar");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&archive, &bytes).unwrap();
    let (root, secret, size) = BlobHasher::of_file(&archive).unwrap();
    let gate = ImageGate::new(node.clone());
    let holder_config = PeerConfig::new(dir.path().join("victim"), "127.0.0.1:0".parse().unwrap());
    let holder = Peer::start(victim.key(), holder_config, Arc::new(gate.clone()))
        .await
        .unwrap();
    assert_eq!(
        holder.add_file_in_place(&archive, "image").await.unwrap(),
        (root, size)
    );
    gate.allow(root, secret);
    let from = [holder.addr()];

    // The provider, reading as its account does.
    let provider = reader_peer(&dir.path().join("provider"), &provider_key(0)).await;
    let stranger = reader_peer(
        &dir.path().join("stranger"),
        &Keypair::from_label("stranger"),
    )
    .await;

    // The attacker names the victim's archive with the victim's proof.
    let copied = ImageBlob {
        hash: root,
        size,
        holder_proof: secret.proof_for(&victim.address()),
    };
    running_with_image(dir.path(), &attacker, copied).await;
    assert!(provider.fetch(root, &from, |_| {}).await.is_err());
    assert!(stranger.fetch(root, &from, |_| {}).await.is_err());
    assert_eq!(provider.local_bytes(root).await.unwrap(), 0);

    // The victim's own order: its provider gets the archive, verified.
    running_with_image(dir.path(), &victim, copied).await;
    let fetched = provider.fetch(root, &from, |_| {}).await.unwrap();
    assert_eq!(fetched.size, size);
    let copy = dir.path().join("fetched.tar");
    provider.export(root, &copy).await.unwrap();
    assert_eq!(std::fs::read(&copy).unwrap(), bytes);
    // The stranger still gets nothing.
    assert!(stranger.fetch(root, &from, |_| {}).await.is_err());
    holder.shutdown().await;
}

/// An input its client serves from its own peer (`gpunet serve`,
/// `OwnOrdersGate`) reaches the provider of the client's own order, which
/// runs the job on it without any node holding it; an attacker's order that
/// copies its hash and proof from chain gets its provider nothing, nor does
/// a stranger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_served_input_reaches_only_the_provider_of_its_clients_own_order() {
    let dir = tempfile::tempdir().unwrap();
    let net = devnet(dir.path(), 1).await;
    let node = net.client();
    let victim = net.client_wallet();
    let attacker = Wallet::new(Keypair::from_label("attacker"), node.clone());
    victim
        .send(TxBody::Transfer {
            to: attacker.address(),
            amount: 100 * gpunet_primitives::UNIT,
        })
        .await
        .unwrap();

    // The victim serves a file, announced on chain, as `gpunet serve` does.
    let data = dir.path().join("data.bin");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(&data, &bytes).unwrap();
    let (hash, secret, size) = BlobHasher::of_file(&data).unwrap();
    let gate = OwnOrdersGate::new(node.clone(), victim.address());
    let holder_config = PeerConfig::new(dir.path().join("victim"), "127.0.0.1:0".parse().unwrap());
    let holder = Peer::start(victim.key(), holder_config, Arc::new(gate))
        .await
        .unwrap();
    assert_eq!(
        holder.add_file_in_place(&data, "input").await.unwrap(),
        (hash, size)
    );
    victim.announce_peer(holder.addr()).await.unwrap();
    let from = [holder.addr()];
    let input = InputRef {
        path: "data.bin".into(),
        hash,
        size,
        source: InputSource::Held {
            holder_proof: secret.proof_for(&victim.address()),
        },
    };

    // The provider's account and a stranger, reading as their peers would.
    let provider = reader_peer(&dir.path().join("provider"), &provider_key(0)).await;
    let stranger = reader_peer(
        &dir.path().join("stranger"),
        &Keypair::from_label("stranger"),
    )
    .await;

    // The attacker's order names the victim's input, proof and all.
    let copied = input.clone();
    let attack = running_with(dir.path(), &attacker, |spec| spec.inputs = vec![copied]).await;
    assert!(provider.fetch(hash, &from, |_| {}).await.is_err());
    assert!(stranger.fetch(hash, &from, |_| {}).await.is_err());
    assert_eq!(provider.local_bytes(hash).await.unwrap(), 0);
    attacker
        .send(TxBody::StopJob { order: attack })
        .await
        .unwrap();

    // The victim's own job reads it: its provider fetched it from the
    // victim's peer, for no node has it.
    let job = job_file(
        dir.path(),
        "served",
        "wc -c < $GPUNET_INPUT_DIR/data.bin; md5sum < $GPUNET_INPUT_DIR/data.bin",
        60,
    );
    let mut prepared = job.prepare(&victim).await.unwrap();
    prepared.spec.inputs = vec![input];
    let id = place(&victim, &prepared).await.unwrap();
    let done = wait_final(&node, id).await;
    assert_eq!(done.status, OrderStatus::Settled, "{done:?}");
    let stdout = read_output(&victim, &done, "logs/stdout.log")
        .await
        .unwrap();
    let md5 = std::process::Command::new("md5sum")
        .stdin(std::fs::File::open(&data).unwrap())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&stdout),
        format!("{size}\n{}", String::from_utf8_lossy(&md5.stdout)),
    );
    // No node has it, nor finds a peer that has (a node asks its peers for
    // a blob it lacks): the client reads nothing of it from the nodes.
    let read = victim.blob_read(id).await.unwrap();
    let missing = node.get_blob(&hash, &read).await.unwrap_err();
    assert_eq!(missing.stable_code(), "not_found", "{missing}");
    // The stranger still gets nothing.
    assert!(stranger.fetch(hash, &from, |_| {}).await.is_err());
    holder.shutdown().await;
}
