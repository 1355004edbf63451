//! Peers on loopback sockets, each with its own store on disk: blobs move
//! between them verified, only to readers the holder's gate allows, and a
//! cut transfer resumes where it stopped.

use gpunet_p2p::{AllowList, P2pError, Peer, PeerAddr, PeerConfig, Reach, Relay};
use gpunet_primitives::{Hash, Keypair};
use std::path::Path;
use std::sync::Arc;

/// Deterministic bytes that do not compress: BLAKE3's output stream.
fn content(label: &str, len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    blake3::Hasher::new()
        .update(label.as_bytes())
        .finalize_xof()
        .fill(&mut bytes);
    bytes
}

async fn peer(label: &str, dir: &Path, gate: &AllowList) -> Peer {
    let mut config = PeerConfig::new(dir.join(label), "127.0.0.1:0".parse().unwrap());
    // Loopback answers at once; a gone peer should not hold the test long.
    config.connect_timeout = std::time::Duration::from_secs(2);
    Peer::start(&Keypair::from_label(label), config, Arc::new(gate.clone()))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_the_gate_allows_fetches_a_blob_verified_and_a_stranger_gets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let gate = AllowList::default();
    let holder = peer("holder", dir.path(), &gate).await;
    let reader = peer("reader", dir.path(), &AllowList::default()).await;
    let stranger = peer("stranger", dir.path(), &AllowList::default()).await;
    assert_eq!(holder.account(), Keypair::from_label("holder").address());
    assert_eq!(holder.addr().account, holder.account());
    assert!(!holder.addr().direct.is_empty(), "{:?}", holder.addr());

    let bytes = content("dataset", 8 << 20);
    let file = dir.path().join("dataset.bin");
    std::fs::write(&file, &bytes).unwrap();
    let (hash, size) = holder.add_file(&file).await.unwrap();
    // The data plane's hash is the chain's: plain BLAKE3 of the content.
    assert_eq!(hash, Hash::digest(&bytes));
    assert_eq!(size, bytes.len() as u64);
    gate.allow(reader.account(), hash);

    let fetched = reader.fetch(hash, &[holder.addr()], |_| {}).await.unwrap();
    assert_eq!(fetched.size, size);
    assert_eq!(fetched.received, size);
    let copy = dir.path().join("copy.bin");
    assert_eq!(reader.export(hash, &copy).await.unwrap(), size);
    assert_eq!(std::fs::read(&copy).unwrap(), bytes);
    // Held now: fetching again receives nothing.
    let again = reader.fetch(hash, &[holder.addr()], |_| {}).await.unwrap();
    assert_eq!(again.received, 0);

    // The same blob, asked for by an account the gate does not know.
    let refused = stranger.fetch(hash, &[holder.addr()], |_| {}).await;
    assert!(
        matches!(refused, Err(P2pError::Fetch { account, .. }) if account == holder.account()),
        "{refused:?}"
    );
    assert_eq!(stranger.local_bytes(hash).await.unwrap(), 0);
    assert_eq!(stranger.size(hash).await.unwrap(), None);
    // A reader allowed one blob reads no other.
    let other = dir.path().join("other.bin");
    std::fs::write(&other, content("other", 1 << 20)).unwrap();
    let (other_hash, _) = holder.add_file(&other).await.unwrap();
    assert!(reader
        .fetch(other_hash, &[holder.addr()], |_| {})
        .await
        .is_err());

    // A peer listed first that does not answer is given up on after the
    // connect timeout, and the next one serves.
    let gone = peer("gone", dir.path(), &AllowList::default()).await;
    let gone_addr = gone.addr();
    gone.shutdown().await;
    let late = peer("late", dir.path(), &AllowList::default()).await;
    gate.allow(late.account(), hash);
    let fetched = late
        .fetch(hash, &[gone_addr, holder.addr()], |_| {})
        .await
        .unwrap();
    assert_eq!(fetched.size, size);

    for peer in [holder, reader, stranger, late] {
        peer.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_transfer_resumes_where_it_stopped_and_the_copy_is_whole() {
    let dir = tempfile::tempdir().unwrap();
    let gate = AllowList::default();
    let holder = peer("holder", dir.path(), &gate).await;
    let reader_dir = dir.path().join("reader-store");
    let reader = peer("reader", &reader_dir, &AllowList::default()).await;

    let bytes = content("image", 64 << 20);
    let file = dir.path().join("image.tar");
    std::fs::write(&file, &bytes).unwrap();
    let (hash, size) = holder.add_file(&file).await.unwrap();
    gate.allow(reader.account(), hash);

    // Cut the transfer once 8 MiB have arrived: the fetch is dropped
    // mid-stream, as when a connection breaks or the process stops.
    let (seen, mut watch) = tokio::sync::watch::channel(0u64);
    let cut = 8 << 20;
    let from = [holder.addr()];
    tokio::select! {
        done = reader.fetch(hash, &from, |bytes| { seen.send_replace(bytes); }) => {
            panic!("the transfer finished before the cut: {done:?}")
        }
        _ = watch.wait_for(|bytes| *bytes >= cut) => {}
    }
    // What arrived verified is kept (the chunks in flight at the cut are not).
    let kept = reader.local_bytes(hash).await.unwrap();
    assert!(kept >= cut / 2 && kept < size, "kept {kept} of {size}");
    assert_eq!(reader.size(hash).await.unwrap(), None, "not whole yet");

    // The reader restarts (same store) and fetches again: only the rest
    // travels.
    reader.shutdown().await;
    let reader = peer("reader", &reader_dir, &AllowList::default()).await;
    // Kept across the restart (chunks being written at the cut may have
    // landed since).
    let kept = reader.local_bytes(hash).await.unwrap().max(kept);
    assert!(kept < size, "kept {kept} of {size} across a restart");
    let fetched = reader.fetch(hash, &[holder.addr()], |_| {}).await.unwrap();
    assert_eq!(fetched.size, size);
    assert!(
        fetched.received + kept >= size && fetched.received <= size - kept + (1 << 20),
        "received {} of {size} after keeping {kept}: the rest, not the whole",
        fetched.received
    );
    let copy = dir.path().join("copy.tar");
    reader.export(hash, &copy).await.unwrap();
    assert!(std::fs::read(&copy).unwrap() == bytes, "the copy is whole");

    holder.shutdown().await;
    reader.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_accepts_no_connection_serves_through_its_relay() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let config = |label: &str, reach: Reach| {
        let mut config = PeerConfig::new(dir.path().join(label), "127.0.0.1:0".parse().unwrap());
        config.reach = reach;
        (Keypair::from_label(label), config)
    };
    // The holder opens no socket of its own: nothing can connect to it, and
    // it sends nothing directly; all it has is its connection to the relay.
    let gate = AllowList::default();
    let (key, holder_config) = config("holder", Reach::RelayOnly { relay: relay.url() });
    let holder = Peer::start(&key, holder_config, Arc::new(gate.clone()))
        .await
        .unwrap();
    let (key, reader_config) = config(
        "reader",
        Reach::Direct {
            bind: "127.0.0.1:0".parse().unwrap(),
            relay: Some(relay.url()),
        },
    );
    let reader = Peer::start(&key, reader_config, Arc::new(AllowList::default()))
        .await
        .unwrap();
    let advertised = holder.addr();
    assert!(advertised.direct.is_empty(), "{advertised:?}");
    assert_eq!(
        advertised.relay.as_deref(),
        Some(relay.url().as_str()),
        "{advertised:?}"
    );

    let bytes = content("behind a relay", 4 << 20);
    let file = dir.path().join("result.bin");
    std::fs::write(&file, &bytes).unwrap();
    let (hash, size) = holder.add_file(&file).await.unwrap();
    gate.allow(reader.account(), hash);

    let fetched = reader.fetch(hash, &[advertised], |_| {}).await.unwrap();
    assert_eq!(fetched.size, size);
    let copy = dir.path().join("copy.bin");
    reader.export(hash, &copy).await.unwrap();
    assert!(std::fs::read(&copy).unwrap() == bytes);

    // A peer without the relay has no way to it.
    let (key, lone_config) = config(
        "lone",
        Reach::Direct {
            bind: "127.0.0.1:0".parse().unwrap(),
            relay: None,
        },
    );
    let lone = Peer::start(&key, lone_config, Arc::new(AllowList::default()))
        .await
        .unwrap();
    gate.allow(lone.account(), hash);
    let unreachable = PeerAddr {
        relay: None,
        ..holder.addr()
    };
    assert!(lone.fetch(hash, &[unreachable], |_| {}).await.is_err());

    for peer in [holder, reader, lone] {
        peer.shutdown().await;
    }
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_relay_does_not_answer_fails_to_start_instead_of_waiting() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on: bound, then let go.
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = PeerConfig::new(dir.path().join("peer"), "127.0.0.1:0".parse().unwrap());
    config.reach = Reach::RelayOnly {
        relay: format!("http://{gone}/"),
    };
    config.connect_timeout = std::time::Duration::from_secs(1);
    let started = Peer::start(
        &Keypair::from_label("peer"),
        config,
        Arc::new(AllowList::default()),
    )
    .await;
    assert!(
        matches!(&started, Err(P2pError::Start(why)) if why.contains("did not answer")),
        "{:?}",
        started.as_ref().err()
    );
}
