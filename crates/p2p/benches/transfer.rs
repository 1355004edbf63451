//! The data plane's transfer of one large blob on loopback, from the peer
//! that holds it to one that fetches it (BLAKE3-verified into its store),
//! directly and through a relay, against a plain TCP copy of the same file
//! in the same run (the baseline).
//!
//!     cargo bench -p gpunet-p2p --bench transfer -- [--mib 1024] [--rounds 3]

use gpunet_p2p::{AllowList, Peer, PeerConfig, Reach, Relay};
use gpunet_primitives::Keypair;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

/// `mib` MiB that do not compress, written in 1 MiB pieces.
fn write_content(path: &Path, mib: u64) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut stream = blake3::Hasher::new().update(b"bench").finalize_xof();
    let mut piece = vec![0; 1 << 20];
    for _ in 0..mib {
        stream.fill(&mut piece);
        file.write_all(&piece).unwrap();
    }
    file.flush().unwrap();
}

/// Seconds a plain TCP copy of `file` into `to` takes on loopback: the
/// kernel's copies (sendfile out, splice in where std uses them), no
/// hashing, no fsync, as iroh's store does not sync each write either.
fn tcp_copy(file: &Path, to: &Path) -> f64 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let source = file.to_path_buf();
    let sender = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut file = std::fs::File::open(source).unwrap();
        std::io::copy(&mut file, &mut socket).unwrap();
    });
    let started = Instant::now();
    let mut socket = std::net::TcpStream::connect(addr).unwrap();
    let mut copy = std::fs::File::create(to).unwrap();
    std::io::copy(&mut socket, &mut copy).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    sender.join().unwrap();
    seconds
}

async fn peer(key: &Keypair, dir: &Path, reach: Reach, gate: &AllowList) -> Peer {
    let mut config = PeerConfig::new(dir.to_path_buf(), "127.0.0.1:0".parse().unwrap());
    config.reach = reach;
    Peer::start(key, config, Arc::new(gate.clone()))
        .await
        .unwrap()
}

fn direct() -> Reach {
    Reach::Direct {
        bind: "127.0.0.1:0".parse().unwrap(),
        relay: None,
    }
}

/// Seconds a fresh reader, reaching out as `reach` says, takes to fetch
/// `hash` from `holder` into its store.
async fn fetch(
    dir: &Path,
    reader: &Keypair,
    reach: Reach,
    hash: gpunet_primitives::Hash,
    holder: &Peer,
) -> f64 {
    let store = dir.join("reader");
    let reader = peer(reader, &store, reach, &AllowList::default()).await;
    let from = holder.addr();
    let started = Instant::now();
    reader.fetch(hash, &[from], |_| {}).await.unwrap();
    let seconds = started.elapsed().as_secs_f64();
    reader.shutdown().await;
    std::fs::remove_dir_all(store).unwrap();
    seconds
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mib = arg("--mib", 1024);
    let rounds = arg("--rounds", 3) as usize;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blob");
    write_content(&file, mib);

    // The same file held by a peer that listens, and by one reached only
    // through a relay (it accepts no connection).
    let relay = Relay::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let gate = AllowList::default();
    let reader_key = Keypair::from_label("reader");
    let holder = peer(
        &Keypair::from_label("holder"),
        &dir.path().join("holder"),
        direct(),
        &gate,
    )
    .await;
    let relay_only = Reach::RelayOnly { relay: relay.url() };
    let hidden = peer(
        &Keypair::from_label("hidden"),
        &dir.path().join("hidden"),
        relay_only,
        &gate,
    )
    .await;
    let (hash, size) = holder.add_file(&file).await.unwrap();
    hidden.add_file(&file).await.unwrap();
    gate.allow(reader_key.address(), hash);

    let (mut tcp, mut p2p, mut via_relay) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let copy = dir.path().join("copy");
        tcp.push(tcp_copy(&file, &copy));
        std::fs::remove_file(copy).unwrap();
        p2p.push(fetch(dir.path(), &reader_key, direct(), hash, &holder).await);
        // A reader that can use the relay (it dials no relay otherwise).
        let with_relay = Reach::Direct {
            bind: "127.0.0.1:0".parse().unwrap(),
            relay: Some(relay.url()),
        };
        via_relay.push(fetch(dir.path(), &reader_key, with_relay, hash, &hidden).await);
    }
    holder.shutdown().await;
    hidden.shutdown().await;
    relay.shutdown().await;

    let mb = size as f64 / 1e6;
    let (tcp, p2p, via_relay) = (median(tcp), median(p2p), median(via_relay));
    println!("{mib} MiB on loopback, {rounds} rounds (median):");
    println!(
        "  plain TCP copy to a file      {tcp:>7.2} s  {:>7.0} MB/s",
        mb / tcp
    );
    println!(
        "  peer to peer, direct          {p2p:>7.2} s  {:>7.0} MB/s  (TCP/p2p {:.2})",
        mb / p2p,
        tcp / p2p
    );
    println!(
        "  peer to peer, through relay   {via_relay:>7.2} s  {:>7.0} MB/s  (TCP/relay {:.2})",
        mb / via_relay,
        tcp / via_relay
    );
}
