//! TLS for the node API, without certificate authorities: a node's
//! certificate is self-signed with its API key (ed25519), and a client trusts
//! a node only if it was given that key, pinned in the node's address
//! (`https://HOST:PORT#KEY`). Requests are then private and cannot be
//! replayed by whoever sees the wire, and a client cannot be talked to by an
//! impostor at a node's address.
//!
//! The API key is its own key, not the validator key: the validator key signs
//! only consensus messages, never TLS handshakes.
//!
//! This is the server side; the client side (the pinned-key verifier) is
//! `gpunet_client::tls`, and addresses are `gpunet_types::NodeAddress`.

use axum::serve::Listener;
use gpunet_primitives::Keypair;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Why a node cannot serve TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Its self-signed certificate could not be made from its key.
    #[error("making the API certificate: {0}")]
    Certificate(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A PKCS#8 v1 private key for an ed25519 seed (RFC 8410): a fixed prefix,
/// then the seed.
fn pkcs8(key: &Keypair) -> Vec<u8> {
    const PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(&key.secret_bytes());
    der
}

/// Server side of the API's TLS: TLS 1.3 with a certificate self-signed by `key`.
pub fn server_config(key: &Keypair) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let err = |e: &dyn fmt::Display| TlsError::Certificate(e.to_string());
    let pkcs8 = pkcs8(key);
    let signer = rcgen::KeyPair::try_from(pkcs8.as_slice()).map_err(|e| err(&e))?;
    // Clients check the key, not the names: the name is only informative.
    let cert = rcgen::CertificateParams::new(vec!["gpunet-node".to_string()])
        .map_err(|e| err(&e))?
        .self_signed(&signer)
        .map_err(|e| err(&e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| err(&e))?
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8)),
        )
        .map_err(|e| err(&e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// How long a connection may take to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP listener whose connections come out with their TLS handshake done.
/// Handshakes run in their own tasks, so a slow client holds up no one.
pub struct TlsListener {
    ready: mpsc::Receiver<(PeerConnection, SocketAddr)>,
    local: SocketAddr,
}

/// Connections one address may hold open at once by default: every client
/// of a machine (its agent, CLI and notebook) shares it, and an attacker
/// trickling bytes over hundreds of connections cannot hold more.
pub const MAX_CONNECTIONS_PER_PEER: usize = 64;

/// Open connections per address.
type PeerCounts = Arc<Mutex<BTreeMap<IpAddr, usize>>>;

/// A TLS connection that counts against its peer's address until dropped.
pub struct PeerConnection {
    tls: TlsStream<TcpStream>,
    _slot: PeerSlot,
}

struct PeerSlot {
    counts: PeerCounts,
    ip: IpAddr,
}

impl PeerSlot {
    /// A slot for `ip`, unless it holds `max` connections already.
    fn take(counts: &PeerCounts, ip: IpAddr, max: usize) -> Option<PeerSlot> {
        let mut held = counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = held.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            counts: counts.clone(),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut held = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = held.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

impl AsyncRead for PeerConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_read(cx, buf)
    }
}

impl AsyncWrite for PeerConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tls).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tls).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tls.is_write_vectored()
    }
}

impl TlsListener {
    /// Starts accepting on `listener`, at most [`MAX_CONNECTIONS_PER_PEER`]
    /// connections per address; must be called inside a Tokio runtime.
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        Self::with_peer_limit(listener, config, MAX_CONNECTIONS_PER_PEER)
    }

    /// As [`TlsListener::new`], with at most `per_peer` connections per
    /// address: one more is closed before its handshake.
    pub fn with_peer_limit(
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
        per_peer: usize,
    ) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (ready_tx, ready) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        let counts = PeerCounts::default();
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    // Out of file descriptors and the like: wait, as axum does.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if ready_tx.is_closed() {
                    return;
                }
                // Dropping the stream closes it: the peer holds enough.
                let Some(slot) = PeerSlot::take(&counts, peer.ip(), per_peer) else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let ready = ready_tx.clone();
                tokio::spawn(async move {
                    if let Ok(Ok(tls)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                    {
                        let conn = PeerConnection { tls, _slot: slot };
                        let _ = ready.send((conn, peer)).await;
                    }
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

impl Listener for TlsListener {
    type Io = PeerConnection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept task ends only once this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpunet_client::tls::{http_client, http_client_for};
    use gpunet_types::{NodeAddress, TrustedKeys};

    /// Serves one route over TLS with `key` on a loopback port; its base URL.
    async fn serve(key: &Keypair) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", listener.local_addr().unwrap());
        let tls = TlsListener::new(listener, server_config(key).unwrap()).unwrap();
        let app = axum::Router::new().route("/hello", axum::routing::get(|| async { "hi" }));
        tokio::spawn(async move { axum::serve(tls, app).await });
        url
    }

    #[tokio::test]
    async fn clients_talk_only_to_the_key_pinned_in_the_address() {
        let key = Keypair::from_label("node");
        let url = serve(&key).await;
        let pinned = http_client_for([&NodeAddress::new(&url, key.address())]);
        let body = pinned
            .get(format!("{url}/hello"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "hi");

        // A server with another key (an impostor at the node's address) is refused.
        let other = Keypair::from_label("impostor");
        let refused = http_client_for([&NodeAddress::new(&url, other.address())])
            .get(format!("{url}/hello"))
            .send()
            .await
            .unwrap_err();
        assert!(refused.is_connect());
        let message = format!("{refused:?}");
        assert!(
            message.contains(&format!("key {} is not the key pinned", key.address())),
            "{message}"
        );

        // Plain HTTP gets no answer.
        let plain = reqwest::Client::new()
            .get(format!("{}/hello", url.replace("https", "http")))
            .send()
            .await;
        assert!(plain.is_err());
    }

    #[tokio::test]
    async fn keys_trusted_later_count_for_later_connections() {
        let key = Keypair::from_label("node");
        let url = serve(&key).await;
        let trusted = TrustedKeys::default();
        let client = http_client(trusted.clone());
        assert!(client.get(format!("{url}/hello")).send().await.is_err());
        trusted.insert(key.address());
        assert!(client.get(format!("{url}/hello")).send().await.is_ok());
    }
}
