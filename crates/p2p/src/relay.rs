//! A relay any node can run (feature `relay`): peers that cannot be dialled
//! (no public address, inbound connections refused) keep a connection to
//! it, and peers that cannot reach them directly reach them through it.
//! Relayed traffic is end-to-end encrypted QUIC between the two peers: the
//! relay forwards packets it cannot read, addressed by peer id.

use crate::P2pError;
use iroh_relay::server::{RelayConfig, Server, ServerConfig};
use std::net::SocketAddr;

/// A running relay.
pub struct Relay {
    server: Server,
    addr: SocketAddr,
}

impl Relay {
    /// Starts a relay serving plain HTTP on `bind` (port 0 picks one): put
    /// it behind a TLS terminator, or on a private network, to serve others.
    pub async fn start(bind: SocketAddr) -> Result<Relay, P2pError> {
        let mut config = ServerConfig::default();
        config.relay = Some(RelayConfig::new(bind));
        let server = Server::spawn(config)
            .await
            .map_err(|e| P2pError::Start(format!("relay on {bind}: {e}")))?;
        let addr = server
            .http_addr()
            .ok_or_else(|| P2pError::Start(format!("the relay on {bind} has no HTTP address")))?;
        Ok(Relay { server, addr })
    }

    /// Where it listens (the port chosen, if it was given 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL peers are configured with ([`crate::Reach`]), when they
    /// reach it at the address it listens on.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stops relaying.
    pub async fn shutdown(self) {
        if let Err(e) = self.server.shutdown().await {
            tracing::debug!("stopping the relay: {e}");
        }
    }
}
