//! The node API against slow, greedy and malformed clients, over real TLS
//! connections to a devnet: what an attacker's client found held open or
//! answered in plain text.

mod common;

use common::devnet;
use gpunet_api::tls::MAX_CONNECTIONS_PER_PEER;
use gpunet_api::ServeLimits;
use gpunet_client::tls::{client_config, http_client_for};
use gpunet_types::{ApiError, NodeAddress, TrustedKeys};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// A TLS connection to the node at `address`, its handshake done.
async fn connect(address: &NodeAddress) -> std::io::Result<TlsStream<TcpStream>> {
    let host_port = address.url.trim_start_matches("https://");
    let tcp = TcpStream::connect(host_port).await?;
    let connector = TlsConnector::from(Arc::new(client_config(TrustedKeys::of([address]))));
    let name = rustls::pki_types::ServerName::try_from("gpunet-node").unwrap();
    tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
        .await
        .map_err(|_| std::io::Error::other("handshake timed out"))?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_headers_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let net = devnet(dir.path(), 0).await;
    let conn = connect(&net.address).await.unwrap();
    let (mut read, mut write) = tokio::io::split(conn);
    write
        .write_all(b"GET /v1/status HTTP/1.1\r\nHost: node\r\n")
        .await
        .unwrap();
    // One more header byte every second, never the end of the headers.
    let trickle = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if write.write_all(b"x").await.is_err() || write.flush().await.is_err() {
                return;
            }
        }
    });
    let limit = ServeLimits::default().header_read + Duration::from_secs(10);
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                // A 408 or the like may come first; the connection then closes.
                Ok(_) => continue,
            }
        }
    })
    .await;
    trickle.abort();
    assert!(
        closed.is_ok(),
        "the connection was still open {limit:?} after its first header byte"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_at_most_its_share_of_connections() {
    let dir = tempfile::tempdir().unwrap();
    let net = devnet(dir.path(), 0).await;
    let mut held = Vec::new();
    for _ in 0..MAX_CONNECTIONS_PER_PEER {
        held.push(connect(&net.address).await.expect("within the limit"));
    }
    assert!(
        connect(&net.address).await.is_err(),
        "one connection more than the limit was taken"
    );
    // A connection given back makes room for another.
    drop(held.pop());
    let mut reconnected = None;
    for _ in 0..50 {
        if let Ok(conn) = connect(&net.address).await {
            reconnected = Some(conn);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        reconnected.is_some(),
        "the freed slot was never given again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_is_json_with_a_code() {
    let dir = tempfile::tempdir().unwrap();
    let net = devnet(dir.path(), 0).await;
    let http = http_client_for([&net.address]);
    let url = |path: &str| format!("{}{path}", net.address.url);
    let client = gpunet_devnet::client_key().address();
    let weak = format!("01{}", "00".repeat(31));
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (http.get(url("/v1/no-such-route")), 404, "not_found"),
        (
            http.get(url(&format!("/v1/accounts/{client}/orders?limit=-1"))),
            400,
            "bad_request",
        ),
        (
            http.get(url(&format!("/v1/accounts/{client}/orders?before=abc"))),
            400,
            "bad_request",
        ),
        (http.get(url("/v1/orders/%FF")), 400, "bad_request"),
        (
            http.get(url(&format!("/v1/accounts/{weak}"))),
            400,
            "bad_request",
        ),
        (http.delete(url("/v1/status")), 405, "method_not_allowed"),
        (
            http.post(url("/v1/tx"))
                .header("content-type", "application/json")
                .body(vec![b' '; 300 << 10]),
            413,
            "too_large",
        ),
    ];
    for (request, status, code) in cases {
        let request = request.build().unwrap();
        let what = format!("{} {}", request.method(), request.url());
        let resp = http.execute(request).await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{what}");
        let json = resp
            .headers()
            .get("content-type")
            .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
        let body = resp.text().await.unwrap();
        assert!(json, "{what} answered {body:?} as something else than JSON");
        let error: ApiError =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what} answered {body:?}: {e}"));
        assert_eq!(error.code, code, "{what}: {body}");
        assert!(!error.message.is_empty(), "{what}: {body}");
    }
}
