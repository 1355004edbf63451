//! `gpunet bench hostile`: what a node holds under abuse. A `gpunet node`
//! process (one validator) is measured (resident memory and its peak, from
//! /proc; its data directory's size) idle, which is the baseline; while
//! connections from a hundred loopback addresses stall their TLS handshakes,
//! with an honest status request timed meanwhile; after bad transactions of
//! four kinds; and after one account uploads blobs until its quota refuses.

use crate::output::Output;
use anyhow::Context;
use futures_util::StreamExt;
use gpunet_client::{ClientError, Keystore, NodeClient, Protection, Wallet};
use gpunet_primitives::{Keypair, Tx, TxBody, UNIT};
use gpunet_types::{NodeAddress, Params};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The node's memory and disk at one moment.
#[derive(serde::Serialize, Clone, Copy)]
struct Footprint {
    rss_mib: f64,
    peak_rss_mib: f64,
    disk_mib: f64,
}

#[derive(serde::Serialize)]
struct Report {
    idle: Footprint,
    connections: usize,
    /// Stalled connections the node had closed after its handshake timeout.
    connections_closed_by_node: usize,
    /// An honest status request's time while the connections stalled.
    status_during_ms: f64,
    during_connections: Footprint,
    bad_txs: usize,
    bad_txs_refused_4xx: usize,
    bad_txs_other: usize,
    bad_txs_per_sec: f64,
    after_bad_txs: Footprint,
    quota_mib: u64,
    uploaded_mib: u64,
    upload_refused_code: String,
    after_uploads: Footprint,
}

/// The node process, killed when dropped.
struct NodeProcess(Child);

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn footprint(pid: u32, data_dir: &Path) -> anyhow::Result<Footprint> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |field: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok(Footprint {
        rss_mib: kib("VmRSS:") / 1024.0,
        peak_rss_mib: kib("VmHWM:") / 1024.0,
        disk_mib: dir_bytes(data_dir) as f64 / (1 << 20) as f64,
    })
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

pub(super) async fn run(
    connections: usize,
    bad_txs: usize,
    quota_mib: u64,
    output: Output,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let validator = Keypair::from_label("bench/validator");
    let client = Keypair::from_label("bench/client");
    let genesis = super::genesis(
        std::slice::from_ref(&validator),
        std::slice::from_ref(&client),
        1_000 * UNIT,
    );
    std::fs::write(dir.path().join("genesis.json"), genesis.to_json())?;
    Keystore::create(
        &dir.path().join("validator.json"),
        &validator,
        &Protection::Plaintext,
    )?;
    let data_dir = dir.path().join("node");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let node = NodeProcess(
        Command::new(std::env::current_exe()?)
            .arg("node")
            .arg("--genesis")
            .arg(dir.path().join("genesis.json"))
            .arg("--validator-keystore")
            .arg(dir.path().join("validator.json"))
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--upload-quota-mb", &quota_mib.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("node.log"))?)
            .spawn()
            .context("starting gpunet node")?,
    );
    let pid = node.0.id();
    let address_file = data_dir.join(NodeAddress::FILE);
    let started = Instant::now();
    let address = loop {
        if let Some(a) = std::fs::read_to_string(&address_file)
            .ok()
            .and_then(|a| a.trim().parse::<NodeAddress>().ok())
        {
            break a;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the node did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let api = NodeClient::new(&address.to_string())?;
    while api.status().await.is_err() {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the node does not answer"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = footprint(pid, &data_dir)?;

    // Stalled handshakes: one byte of a TLS record, then nothing, from a
    // hundred addresses so that no one address meets its connection limit.
    let target = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let mut stalled = Vec::with_capacity(connections);
    for i in 0..connections {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(127, 1, 0, 1 + (i % 100) as u8)),
            0,
        ))?;
        let stream = socket.connect(target).await?;
        stream.try_write(&[0x16])?;
        stalled.push(stream);
    }
    let asked = Instant::now();
    api.status().await?;
    let status_during_ms = asked.elapsed().as_secs_f64() * 1e3;
    let during_connections = footprint(pid, &data_dir)?;
    // Past the node's handshake timeout (10 s).
    tokio::time::sleep(Duration::from_secs(12)).await;
    // Closed: the read finds an end or an error, not "nothing yet".
    let connections_closed_by_node = stalled
        .iter()
        .filter(|s| {
            !matches!(s.try_read(&mut [0u8; 64]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        })
        .count();
    drop(stalled);

    // Bad transactions: random bytes, a truncated transaction, one whose
    // signature is broken, one signed for another chain.
    let tx = |nonce: u64, chain: &str| {
        Tx {
            chain_id: chain.into(),
            sender: client.address(),
            nonce,
            fee: Params::default().min_fee,
            body: TxBody::Transfer {
                to: validator.address(),
                amount: 1,
            },
        }
        .sign(&client)
        .to_bytes()
    };
    let bodies: Vec<Vec<u8>> = (0..bad_txs)
        .map(|i| match i % 4 {
            0 => (0..200).map(|j| (i * 31 + j * 7) as u8).collect(),
            1 => {
                let mut bytes = tx(i as u64, super::CHAIN_ID);
                bytes.truncate(bytes.len() / 2);
                bytes
            }
            2 => {
                let mut bytes = tx(i as u64, super::CHAIN_ID);
                let last = bytes.len() - 1;
                bytes[last] ^= 1;
                bytes
            }
            _ => tx(i as u64, "another-chain"),
        })
        .collect();
    let sent = Instant::now();
    let outcomes: Vec<Result<_, ClientError>> = futures_util::stream::iter(bodies)
        .map(|bytes| {
            let api = api.clone();
            async move { api.submit_bytes(bytes).await }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let bad_txs_per_sec = bad_txs as f64 / sent.elapsed().as_secs_f64();
    let bad_txs_refused_4xx = outcomes
        .iter()
        .filter(|o| matches!(o, Err(ClientError::Api(_))))
        .count();
    let bad_txs_other = bad_txs - bad_txs_refused_4xx;
    let after_bad_txs = footprint(pid, &data_dir)?;

    // One account uploads 1 MiB blobs until its quota refuses.
    let wallet = Wallet::new(client, api.clone());
    let mut uploaded_mib = 0;
    let upload_refused_code = loop {
        let blob: Vec<u8> = (0..1 << 20)
            .map(|j: usize| (j.wrapping_mul(2_654_435_761) >> 7) as u8 ^ uploaded_mib as u8)
            .collect();
        match wallet.put_blob(blob).await {
            Ok(_) => uploaded_mib += 1,
            Err(ClientError::Api(e)) => break e.code,
            Err(e) => return Err(e.into()),
        }
        anyhow::ensure!(
            uploaded_mib <= quota_mib,
            "{uploaded_mib} MiB uploaded past a {quota_mib} MiB quota"
        );
    };
    let after_uploads = footprint(pid, &data_dir)?;
    drop(node);

    let report = Report {
        idle,
        connections,
        connections_closed_by_node,
        status_during_ms,
        during_connections,
        bad_txs,
        bad_txs_refused_4xx,
        bad_txs_other,
        bad_txs_per_sec,
        after_bad_txs,
        quota_mib,
        uploaded_mib,
        upload_refused_code,
        after_uploads,
    };
    output.print(&report, || {
        let line = |what: &str, f: &Footprint| {
            format!(
                "  {what:<46} {:>7.1} MiB resident (peak {:>7.1})  {:>8.1} MiB on disk\n",
                f.rss_mib, f.peak_rss_mib, f.disk_mib
            )
        };
        format!(
            "a gpunet node process under abuse\n{}{}{}{}  \
             {} of {connections} stalled connections closed by the node after 12 s; \
             a status request took {:.0} ms meanwhile\n  \
             {bad_txs} bad transactions at {:.0}/s: {} refused with a code, {} otherwise\n  \
             uploads stopped at {} of a {quota_mib} MiB quota: {}\n",
            line("idle (baseline)", &report.idle),
            line(
                &format!("{connections} stalled TLS handshakes"),
                &report.during_connections
            ),
            line(
                &format!("after {bad_txs} bad transactions"),
                &report.after_bad_txs
            ),
            line("after uploading to the quota", &report.after_uploads),
            report.connections_closed_by_node,
            report.status_during_ms,
            report.bad_txs_per_sec,
            report.bad_txs_refused_4xx,
            report.bad_txs_other,
            report.uploaded_mib,
            report.upload_refused_code,
        )
    });
    Ok(())
}
