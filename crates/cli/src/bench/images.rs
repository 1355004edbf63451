//! `gpunet bench images`: a pushed image's archive moved between peers as
//! providers fetch it (`provider::images`), against a raw TCP copy of the
//! same bytes on loopback in the same run:
//! - one provider fetching it from the client's peer, reached directly and
//!   through a relay (the client accepts no inbound connection);
//! - three providers fetching it at once, each asking the others before the
//!   client, as providers of one client's orders do.
//!
//! Every fetch is BLAKE3-verified as it streams into the fetcher's store; the
//! client's archive is served in place, as `gpunet serve` does. Gates
//! let the fetchers' accounts read it (the chain lookup `ImageGate` makes
//! per request is not timed).

use crate::output::Output;
use gpunet_p2p::{AllowList, Peer, PeerAddr, PeerConfig, Reach, Relay};
use gpunet_primitives::{Hash, Keypair};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// One way the archive travelled.
#[derive(serde::Serialize)]
struct Way {
    /// "tcp (loopback)", "direct", "relayed" or "3 providers".
    way: &'static str,
    ms: u64,
    /// The archive's MiB over the time, for each provider that got it.
    mib_per_s: String,
    /// Its time over the raw TCP copy's.
    vs_tcp: String,
}

#[derive(serde::Serialize)]
struct ImagesBench {
    mib: u64,
    ways: Vec<Way>,
}

pub(super) async fn run(mib: u64, output: Output) -> anyhow::Result<()> {
    anyhow::ensure!(mib > 0, "--mib must be positive");
    let dir = tempfile::tempdir()?;
    let archive = dir.path().join("image.tar");
    super::rentals::write_payload(&archive, mib)?;
    let tcp_ms = tcp_copy(&archive).await?;

    let client = Keypair::from_label("bench images: client");
    let providers: Vec<Keypair> = (0..3)
        .map(|i| Keypair::from_label(&format!("bench images: provider {i}")))
        .collect();
    let relay = Relay::start("127.0.0.1:0".parse()?).await?;
    let loopback = || Reach::Direct {
        bind: "127.0.0.1:0".parse().expect("an address"),
        relay: None,
    };
    let mut timed = vec![("tcp (loopback)", tcp_ms, 1)];
    let through_relay = Reach::Direct {
        bind: "127.0.0.1:0".parse()?,
        relay: Some(relay.url()),
    };
    for (way, reach, fetcher_reach) in [
        ("direct", loopback(), loopback()),
        (
            "relayed",
            Reach::RelayOnly { relay: relay.url() },
            through_relay,
        ),
    ] {
        let holder = serving(&dir.path().join(way), &client, reach, &archive, &providers).await?;
        let root = holder.1;
        // A relay-only peer is reached at its relay, as its announcement says.
        let addr = match way {
            "relayed" => PeerAddr {
                account: client.address(),
                direct: Vec::new(),
                relay: Some(relay.url()),
            },
            _ => holder.0.addr(),
        };
        let provider_dir = dir.path().join(way).join("provider");
        let fetcher = peer(&provider_dir, &providers[0], fetcher_reach).await?;
        let started = Instant::now();
        fetcher.fetch(root, &[addr], |_| {}).await?;
        timed.push((way, started.elapsed().as_millis() as u64, 1));
        fetcher.shutdown().await;
        holder.0.shutdown().await;
    }
    relay.shutdown().await;

    // Three providers at once, each serving what it has to the others.
    let base = dir.path().join("three");
    let (holder, root) = serving(&base, &client, loopback(), &archive, &providers).await?;
    let gate = AllowList::default();
    for reader in &providers {
        gate.allow(reader.address(), root);
    }
    let mut fetchers = Vec::new();
    for (i, key) in providers.iter().enumerate() {
        let config = PeerConfig {
            dir: base.join(format!("provider-{i}")),
            reach: loopback(),
            connect_timeout: PeerConfig::CONNECT_TIMEOUT,
            collect_every: None,
        };
        fetchers.push(Peer::start(key, config, Arc::new(gate.clone())).await?);
    }
    let addrs: Vec<PeerAddr> = fetchers.iter().map(Peer::addr).collect();
    let started = Instant::now();
    let fetches = fetchers.iter().enumerate().map(|(i, fetcher)| {
        // The others first, then the client, as `provider::images` asks.
        let mut from: Vec<PeerAddr> = addrs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, a)| a.clone())
            .collect();
        from.push(holder.addr());
        async move { fetcher.fetch(root, &from, |_| {}).await }
    });
    for fetched in futures_util::future::join_all(fetches).await {
        anyhow::ensure!(fetched?.size == mib << 20, "an incomplete fetch");
    }
    timed.push(("3 providers", started.elapsed().as_millis() as u64, 3));
    for fetcher in &fetchers {
        fetcher.shutdown().await;
    }
    holder.shutdown().await;

    let ways = timed
        .into_iter()
        .map(|(way, ms, copies)| Way {
            way,
            ms,
            mib_per_s: format!("{:.0}", (mib * copies) as f64 * 1000.0 / ms.max(1) as f64),
            vs_tcp: format!("{:.2}", ms as f64 / tcp_ms.max(1) as f64),
        })
        .collect();
    let result = ImagesBench { mib, ways };
    output.print(&result, || {
        let mut text = format!("a {mib} MiB image archive, client to providers, verified:\n");
        for way in &result.ways {
            text += &format!(
                "  {:<15} {:>7} ms  {:>6} MiB/s  {}x the TCP copy\n",
                way.way, way.ms, way.mib_per_s, way.vs_tcp
            );
        }
        text.trim_end().to_string()
    });
    Ok(())
}

/// The client's peer under `dir`, reached as `reach`, serving `archive` in
/// place to `readers`; with the archive's root.
async fn serving(
    dir: &Path,
    client: &Keypair,
    reach: Reach,
    archive: &Path,
    readers: &[Keypair],
) -> anyhow::Result<(Peer, Hash)> {
    let gate = AllowList::default();
    let holder = Peer::start(client, config(dir, reach), Arc::new(gate.clone())).await?;
    let (root, _) = holder.add_file_in_place(archive, "image").await?;
    for reader in readers {
        gate.allow(reader.address(), root);
    }
    Ok((holder, root))
}

/// A peer of `key` that serves nothing.
async fn peer(dir: &Path, key: &Keypair, reach: Reach) -> anyhow::Result<Peer> {
    Ok(Peer::start(key, config(dir, reach), Arc::new(AllowList::default())).await?)
}

fn config(dir: &Path, reach: Reach) -> PeerConfig {
    PeerConfig {
        dir: dir.to_path_buf(),
        reach,
        connect_timeout: PeerConfig::CONNECT_TIMEOUT,
        collect_every: None,
    }
}

/// Milliseconds to copy `file` into another file through a TCP connection
/// on loopback, with the kernel's fastest plain path (`std::io::copy`:
/// sendfile and splice on Linux), without hashing: the floor a transfer
/// tool is measured against.
async fn tcp_copy(file: &Path) -> anyhow::Result<u64> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let copy = file.with_extension("tcp-copy");
    let source = file.to_path_buf();
    let ms = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
        let receiving = std::thread::spawn(move || -> std::io::Result<u64> {
            let (mut socket, _) = listener.accept()?;
            let mut to = std::fs::File::create(&copy)?;
            let received = std::io::copy(&mut socket, &mut to)?;
            to.sync_data()?;
            std::fs::remove_file(&copy)?;
            Ok(received)
        });
        let started = Instant::now();
        let mut socket = std::net::TcpStream::connect(addr)?;
        std::io::copy(&mut std::fs::File::open(&source)?, &mut socket)?;
        socket.shutdown(std::net::Shutdown::Write)?;
        let received = receiving.join().expect("the receiver does not panic")?;
        let ms = started.elapsed().as_millis() as u64;
        if received != std::fs::metadata(&source)?.len() {
            return Err(std::io::Error::other("the TCP copy lost bytes"));
        }
        Ok(ms)
    })
    .await??;
    Ok(ms)
}
