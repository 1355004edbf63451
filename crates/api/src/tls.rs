//! TLS for the node API, without certificate authorities: a node's
//! certificate is self-signed with its API key (ed25519), and a client trusts
//! a node only if it was given that key, pinned in the node's address
//! (`https://HOST:PORT#KEY`). Requests are then private and cannot be
//! replayed by whoever sees the wire, and a client cannot be talked to by an
//! impostor at a node's address.
//!
//! The API key is its own key, not the validator key: the validator key signs
//! only consensus messages, never TLS handshakes.

use axum::serve::Listener;
use gpunet_primitives::{Address, Keypair};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("invalid node address {address:?}: {reason}")]
    Address { address: String, reason: String },
    #[error("making the API certificate: {0}")]
    Certificate(String),
}

/// A node's API address: its base URL and the key its certificate carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAddress {
    /// `https://HOST:PORT`, without a trailing slash.
    pub url: String,
    pub key: Address,
}

impl NodeAddress {
    pub fn new(url: &str, key: Address) -> NodeAddress {
        NodeAddress {
            url: url.trim_end_matches('/').to_string(),
            key,
        }
    }
}

impl NodeAddress {
    /// The file in a node's data directory that holds its API address.
    pub const FILE: &'static str = "api-url";

    /// Writes this address to [`Self::FILE`] in `data_dir`, where clients on
    /// the same machine find it.
    pub fn save(&self, data_dir: &Path) -> std::io::Result<()> {
        std::fs::write(data_dir.join(Self::FILE), format!("{self}\n"))
    }
}

impl fmt::Display for NodeAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.url, self.key)
    }
}

impl FromStr for NodeAddress {
    type Err = TlsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| TlsError::Address {
            address: s.to_string(),
            reason: reason.to_string(),
        };
        let (url, key) = s.trim().split_once('#').ok_or_else(|| {
            invalid(
                "no key pinned: write it as https://HOST:PORT#KEY (a node prints its \
                 address with its key when it starts, and writes it to api-url in its data directory)",
            )
        })?;
        if !url.starts_with("https://") || url.len() == "https://".len() {
            return Err(invalid("the URL must be https://HOST:PORT"));
        }
        let key = key
            .parse()
            .map_err(|e| invalid(&format!("the key after # is not a public key: {e}")))?;
        Ok(NodeAddress::new(url, key))
    }
}

/// The ed25519 public keys a client accepts from servers; shared, so keys
/// learned later (from a node's peers) count for connections made after.
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys(Arc<RwLock<BTreeSet<Address>>>);

impl TrustedKeys {
    /// The keys of `addresses`.
    pub fn of<'a>(addresses: impl IntoIterator<Item = &'a NodeAddress>) -> TrustedKeys {
        let trusted = TrustedKeys::default();
        for address in addresses {
            trusted.insert(address.key);
        }
        trusted
    }

    pub fn insert(&self, key: Address) {
        self.0.write().expect("trusted keys lock").insert(key);
    }

    pub fn contains(&self, key: &Address) -> bool {
        self.0.read().expect("trusted keys lock").contains(key)
    }
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

/// The ed25519 key of a DER SubjectPublicKeyInfo (RFC 8410: a fixed prefix,
/// then the key), or None for any other kind of key.
fn ed25519_key(spki: &[u8]) -> Option<Address> {
    const PREFIX: [u8; 12] = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    let key = spki.strip_prefix(&PREFIX)?;
    Some(Address(key.try_into().ok()?))
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

/// Accepts a server whose certificate carries one of the trusted keys. The
/// handshake's signature proves the server holds that key's secret.
#[derive(Debug)]
struct PinnedKeys {
    trusted: TrustedKeys,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedKeys {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
        let key = ed25519_key(cert.subject_public_key_info().as_ref());
        match key {
            Some(key) if self.trusted.contains(&key) => Ok(ServerCertVerified::assertion()),
            other => Err(rustls::Error::General(format!(
                "the node's certificate key {} is not the key pinned in its address",
                other.map_or_else(|| "(not ed25519)".to_string(), |k| k.to_string())
            ))),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// A TLS 1.3 client configuration that accepts only servers holding a
/// trusted key.
pub fn client_config(trusted: TrustedKeys) -> rustls::ClientConfig {
    let provider = provider();
    rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("the ring provider supports TLS 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedKeys { trusted, provider }))
        .with_no_client_auth()
}

/// An HTTP client that talks TLS 1.3 only to servers holding a trusted key.
pub fn http_client(trusted: TrustedKeys) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(client_config(trusted))
        .build()
        .expect("a client with a preconfigured TLS config builds")
}

/// An HTTP client for the nodes at `addresses` (others are refused).
pub fn http_client_for<'a>(
    addresses: impl IntoIterator<Item = &'a NodeAddress>,
) -> reqwest::Client {
    http_client(TrustedKeys::of(addresses))
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

    #[test]
    fn addresses_need_https_and_a_pinned_key() {
        let key = Keypair::from_label("node").address();
        let address: NodeAddress = format!("https://127.0.0.1:8645/#{key}").parse().unwrap();
        assert_eq!(address, NodeAddress::new("https://127.0.0.1:8645", key));
        assert_eq!(address.to_string().parse::<NodeAddress>().unwrap(), address);
        for bad in [
            "https://127.0.0.1:8645".to_string(),
            format!("http://127.0.0.1:8645#{key}"),
            format!("https://#{key}"),
            "https://127.0.0.1:8645#nothex".to_string(),
        ] {
            let err = bad.parse::<NodeAddress>().unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
        let unpinned = "https://127.0.0.1:8645".parse::<NodeAddress>().unwrap_err();
        assert!(unpinned.to_string().contains("no key pinned"));
    }

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
