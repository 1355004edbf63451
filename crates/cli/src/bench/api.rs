//! `gpunet bench api`: what TLS costs the node API. One node serves its API
//! twice, over TLS (as it always does) and over plain HTTP (the baseline, for
//! this benchmark only), on loopback; the same client requests go to both in
//! alternating rounds: a large blob download, small requests on a kept-alive
//! connection, and small requests that each open a connection (a handshake
//! each, with TLS).

use crate::output::Output;
use anyhow::Context;
use futures_util::StreamExt;
use gpunet_client::tls;
use gpunet_client::{NodeClient, Wallet};
use gpunet_node::{NodeBuilder, SoloProducerConfig};
use gpunet_primitives::{BlobRead, Hash, Keypair, UNIT};
use gpunet_types::api::{header_value, BLOB_READ_HEADER};
use gpunet_types::NodeAddress;
use rand::RngCore;
use std::time::{Duration, Instant};

#[derive(serde::Serialize, Default)]
struct Transport {
    download_mib_per_sec: f64,
    kept_alive_requests_per_sec: f64,
    new_connection_requests_per_sec: f64,
}

#[derive(serde::Serialize)]
struct BenchResult {
    blob_mib: u64,
    requests: usize,
    rounds: usize,
    plain: Transport,
    tls: Transport,
}

/// One transport under test: a base URL and the client that reaches it.
struct Target {
    base: String,
    http: reqwest::Client,
}

impl Target {
    /// Seconds to download `hash` whole (discarding it as it arrives).
    async fn download(&self, hash: &Hash, read: &str, size: u64) -> anyhow::Result<f64> {
        let start = Instant::now();
        let resp = self
            .http
            .get(format!("{}/v1/blobs/{hash}", self.base))
            .header(BLOB_READ_HEADER, read)
            .send()
            .await?
            .error_for_status()?;
        let mut body = resp.bytes_stream();
        let mut received = 0u64;
        while let Some(chunk) = body.next().await {
            received += chunk?.len() as u64;
        }
        anyhow::ensure!(received == size, "got {received} of {size} bytes");
        Ok(start.elapsed().as_secs_f64())
    }

    /// Seconds for `n` status requests one after another, each on a new
    /// connection if `fresh`.
    async fn requests(&self, n: usize, fresh: bool) -> anyhow::Result<f64> {
        let start = Instant::now();
        for _ in 0..n {
            let mut req = self.http.get(format!("{}/v1/status", self.base));
            if fresh {
                req = req.header(reqwest::header::CONNECTION, "close");
            }
            req.send().await?.error_for_status()?.bytes().await?;
        }
        Ok(start.elapsed().as_secs_f64())
    }
}

pub(super) async fn run(
    mib: u64,
    requests: usize,
    rounds: usize,
    output: Output,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let validator = Keypair::from_label("bench/validator");
    let node = NodeBuilder::new(
        dir.path().join("node"),
        super::genesis(std::slice::from_ref(&validator), &[], UNIT),
    )
    .max_blob_bytes(mib << 20)
    .start_solo(validator.clone(), SoloProducerConfig::default())?;

    // The blob, written to the node's store directly.
    let size = mib << 20;
    let mut writer = node.blobs.writer(size).await?;
    let mut chunk = vec![0u8; 1 << 20];
    let mut rng = rand::thread_rng();
    for _ in 0..mib {
        rng.fill_bytes(&mut chunk);
        writer.write(&chunk).await?;
    }
    let (hash, _) = writer.finish(None).await?;

    let api_key = Keypair::from_label("bench/api");
    let tls_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let plain_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = NodeAddress::new(
        &format!("https://{}", tls_listener.local_addr()?),
        api_key.address(),
    );
    let plain = Target {
        base: format!("http://{}", plain_listener.local_addr()?),
        http: reqwest::Client::new(),
    };
    let served = node.clone();
    tokio::spawn(async move { gpunet_api::serve(tls_listener, served, &api_key).await });
    let router = gpunet_api::router(node.clone());
    tokio::spawn(async move { axum::serve(plain_listener, router).await });
    let tls = Target {
        base: address.url.clone(),
        http: tls::http_client_for([&address]),
    };

    // The validator reads any blob.
    let wallet = Wallet::new(validator, NodeClient::new(&address.to_string())?);
    let read = wallet
        .sign_request(BlobRead { order: None })
        .await
        .context("signing a blob read through the TLS API")?;
    let read = header_value(&read);

    // Best of the rounds, transports alternating first.
    let mut best = [Transport::default(), Transport::default()];
    for round in 0..rounds {
        for i in [round % 2, 1 - round % 2] {
            let target = [&plain, &tls][i];
            let download = (mib as f64) / target.download(&hash, &read, size).await?;
            let kept = requests as f64 / target.requests(requests, false).await?;
            let fresh = requests as f64 / target.requests(requests, true).await?;
            let b = &mut best[i];
            b.download_mib_per_sec = b.download_mib_per_sec.max(download);
            b.kept_alive_requests_per_sec = b.kept_alive_requests_per_sec.max(kept);
            b.new_connection_requests_per_sec = b.new_connection_requests_per_sec.max(fresh);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let [plain, tls] = best;
    let result = BenchResult {
        blob_mib: mib,
        requests,
        rounds,
        plain,
        tls,
    };
    output.print(&result, || {
        let (p, t) = (&result.plain, &result.tls);
        let line = |what: &str, plain: f64, tls: f64, unit: &str| {
            format!(
                "  {what:<32} {plain:>9.1} {unit:<6} {tls:>9.1} {unit:<6} {:.2}x\n",
                tls / plain
            )
        };
        format!(
            "node API on loopback, best of {rounds} rounds\n  {:<32} {:>16} {:>16} TLS/plain\n{}{}{}",
            "",
            "plain HTTP",
            "TLS 1.3",
            line(
                &format!("download of a {mib} MiB blob"),
                p.download_mib_per_sec,
                t.download_mib_per_sec,
                "MiB/s"
            ),
            line(
                &format!("{requests} status requests, kept alive"),
                p.kept_alive_requests_per_sec,
                t.kept_alive_requests_per_sec,
                "req/s"
            ),
            line(
                &format!("{requests} status requests, new conn."),
                p.new_connection_requests_per_sec,
                t.new_connection_requests_per_sec,
                "req/s"
            ),
        )
    });
    Ok(())
}
