//! A peer of the data plane: an iroh endpoint keyed with the account's key,
//! a blob store on disk, and iroh-blobs' protocol behind a [`ReadGate`].

use crate::access::{AccessHandler, AccessProtocol, ACCESS_ALPN};
use crate::gate::{guarded, ReadGate};
use crate::{from_iroh, to_iroh, P2pError, PeerAddr};
use futures_util::StreamExt;
use gpunet_primitives::{Address, Hash, Keypair};
use iroh::endpoint::presets;
use iroh::protocol::Router;
use iroh::{Endpoint, EndpointAddr, PublicKey, RelayMap, RelayMode, RelayUrl, SecretKey};
use iroh_blobs::api::blobs::{AddPathOptions, BlobStatus, ExportMode, ExportOptions, ImportMode};
use iroh_blobs::api::remote::GetProgressItem;
use iroh_blobs::store::fs::options::Options;
use iroh_blobs::store::fs::FsStore;
use iroh_blobs::store::GcConfig;
use iroh_blobs::{BlobFormat, BlobsProtocol, HashAndFormat};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How a peer starts.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// Its blob store's directory (whole and partial blobs, which survive a
    /// restart and let a cut download resume).
    pub dir: PathBuf,
    /// How other peers reach it.
    pub reach: Reach,
    /// How long dialling one peer may take before the next is tried: a peer
    /// that is gone never answers, and QUIC's own idle timeout is long.
    pub connect_timeout: Duration,
    /// How often blobs no tag holds are deleted from the store, if ever
    /// ([`Peer::add_file_tagged`], [`Peer::untag_prefix`]). Off for a peer
    /// that fetches: an untagged blob may be a cut download to resume.
    pub collect_every: Option<Duration>,
}

/// How other peers reach a peer. A relay is an `http(s)://` URL: the peer
/// keeps a connection to it, so that peers that cannot dial it reach it
/// there.
#[derive(Clone, Debug)]
pub enum Reach {
    /// It listens on `bind` (port 0 picks a free one), and keeps a
    /// connection to `relay` too, if any.
    Direct {
        /// Where it listens.
        bind: SocketAddr,
        /// Its relay, if any.
        relay: Option<String>,
    },
    /// It opens no socket of its own and is reached only through `relay`:
    /// a machine that accepts no inbound connection and sends nothing
    /// directly (all its traffic goes out to the relay).
    RelayOnly {
        /// Its relay.
        relay: String,
    },
}

impl Reach {
    fn relay(&self) -> Option<&str> {
        match self {
            Reach::Direct { relay, .. } => relay.as_deref(),
            Reach::RelayOnly { relay } => Some(relay),
        }
    }
}

impl PeerConfig {
    /// A peer storing under `dir`, listening on `bind`, without a relay,
    /// giving up on a peer after [`PeerConfig::CONNECT_TIMEOUT`].
    pub fn new(dir: PathBuf, bind: SocketAddr) -> PeerConfig {
        PeerConfig {
            dir,
            reach: Reach::Direct { bind, relay: None },
            connect_timeout: PeerConfig::CONNECT_TIMEOUT,
            collect_every: None,
        }
    }

    /// Enough for a handshake through a relay across continents.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
}

/// What a fetch got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// The blob's size.
    pub size: u64,
    /// Payload bytes received for it this time: less than its size when an
    /// earlier, cut transfer left part of it, none when it was held.
    pub received: u64,
}

/// A running peer: serves the blobs it holds to whom its gate allows, and
/// fetches blobs from other peers.
pub struct Peer {
    account: Address,
    endpoint: Endpoint,
    router: Router,
    store: FsStore,
    connect_timeout: Duration,
}

impl Peer {
    /// Starts a peer that proves `key`'s account and serves through `gate`.
    pub async fn start(
        key: &Keypair,
        config: PeerConfig,
        gate: Arc<dyn ReadGate>,
    ) -> Result<Peer, P2pError> {
        Peer::start_with_access(key, config, gate, None).await
    }

    /// Starts a peer as [`Peer::start`] does that also serves renters'
    /// sessions with `access`, if given ([`crate::access`]).
    pub async fn start_with_access(
        key: &Keypair,
        config: PeerConfig,
        gate: Arc<dyn ReadGate>,
        access: Option<Arc<dyn AccessHandler>>,
    ) -> Result<Peer, P2pError> {
        let start = |what: &str, e: &dyn std::fmt::Display| P2pError::Start(format!("{what}: {e}"));
        let mut options = Options::new(&config.dir);
        options.gc = config.collect_every.map(|interval| GcConfig {
            interval,
            add_protected: None,
        });
        let store = FsStore::load_with_opts(config.dir.join("blobs.db"), options)
            .await
            .map_err(|e| start(&format!("blob store at {}", config.dir.display()), &e))?;
        let endpoint = bind_endpoint(key, &config.reach, config.connect_timeout).await?;
        let blobs = BlobsProtocol::new(&store, Some(guarded(gate)));
        let mut router = Router::builder(endpoint.clone()).accept(iroh_blobs::ALPN, blobs);
        if let Some(access) = access {
            router = router.accept(ACCESS_ALPN, AccessProtocol(access));
        }
        let router = router.spawn();
        Ok(Peer {
            account: key.address(),
            endpoint,
            router,
            store,
            connect_timeout: config.connect_timeout,
        })
    }

    /// Its account, which is its peer id.
    pub fn account(&self) -> Address {
        self.account
    }

    /// Where other peers reach it now.
    pub fn addr(&self) -> PeerAddr {
        let addr = self.endpoint.addr();
        let relay = addr.relay_urls().next().map(|url| url.to_string());
        PeerAddr {
            account: self.account,
            direct: addr.ip_addrs().copied().collect(),
            relay,
        }
    }

    /// Adds the file at `path` to the store and returns its hash and size;
    /// it is served from then on (to whom the gate allows).
    pub async fn add_file(&self, path: &Path) -> Result<(Hash, u64), P2pError> {
        let path = std::path::absolute(path).map_err(|e| P2pError::Store(e.to_string()))?;
        let tag = self
            .store
            .blobs()
            .add_path(&path)
            .await
            .map_err(|e| P2pError::Store(format!("adding {}: {e}", path.display())))?;
        let hash = from_iroh(tag.hash);
        let size = self
            .size(hash)
            .await?
            .ok_or_else(|| P2pError::Store(format!("{hash} missing right after it was added")))?;
        Ok((hash, size))
    }

    /// Adds the file at `path` under the tag `tag` (replacing what the tag
    /// held): it stays while some tag holds it, and goes at the next
    /// collection once none does ([`PeerConfig::collect_every`]).
    pub async fn add_file_tagged(&self, path: &Path, tag: &str) -> Result<(Hash, u64), P2pError> {
        self.add_tagged(path, tag, ImportMode::Copy).await
    }

    /// Adds the file at `path` as [`Peer::add_file_tagged`] does, without
    /// copying it: the store refers to the file where it is, which must
    /// not change or move while it is served (a large archive kept by its
    /// owner: one copy on disk, not two).
    pub async fn add_file_in_place(&self, path: &Path, tag: &str) -> Result<(Hash, u64), P2pError> {
        self.add_tagged(path, tag, ImportMode::TryReference).await
    }

    async fn add_tagged(
        &self,
        path: &Path,
        tag: &str,
        mode: ImportMode,
    ) -> Result<(Hash, u64), P2pError> {
        let path = std::path::absolute(path).map_err(|e| P2pError::Store(e.to_string()))?;
        let adding =
            |e: &dyn std::fmt::Display| P2pError::Store(format!("adding {}: {e}", path.display()));
        let temp = self
            .store
            .blobs()
            .add_path_with_opts(AddPathOptions {
                path: path.clone(),
                format: BlobFormat::Raw,
                mode,
            })
            .temp_tag()
            .await
            .map_err(|e| adding(&e))?;
        self.store
            .tags()
            .set(tag, temp.hash_and_format())
            .await
            .map_err(|e| adding(&e))?;
        let hash = from_iroh(temp.hash());
        let size = self
            .size(hash)
            .await?
            .ok_or_else(|| P2pError::Store(format!("{hash} missing right after it was added")))?;
        Ok((hash, size))
    }

    /// Holds `blob`, which the store has whole (fetched), under the tag
    /// `tag`, as [`Peer::add_file_tagged`] holds what it adds.
    pub async fn tag(&self, blob: Hash, tag: &str) -> Result<(), P2pError> {
        self.store
            .tags()
            .set(tag, HashAndFormat::raw(to_iroh(blob)))
            .await
            .map_err(|e| P2pError::Store(format!("tagging {blob} as {tag}: {e}")))
    }

    /// Reads `blob`, which the store holds whole, from its start.
    pub fn reader(&self, blob: Hash) -> impl tokio::io::AsyncRead + Send + Unpin + 'static {
        self.store.blobs().reader(to_iroh(blob))
    }

    /// Drops every tag whose name starts with `prefix`; returns how many.
    pub async fn untag_prefix(&self, prefix: &str) -> Result<u64, P2pError> {
        self.store
            .tags()
            .delete_prefix(prefix)
            .await
            .map_err(|e| P2pError::Store(format!("untagging {prefix}: {e}")))
    }

    /// The size of `blob` when the store holds it whole.
    pub async fn size(&self, blob: Hash) -> Result<Option<u64>, P2pError> {
        match self.store.blobs().status(to_iroh(blob)).await {
            Ok(BlobStatus::Complete { size }) => Ok(Some(size)),
            Ok(_) => Ok(None),
            Err(e) => Err(P2pError::Store(e.to_string())),
        }
    }

    /// The bytes of `blob` the store holds, whole or in part (a cut
    /// download's).
    pub async fn local_bytes(&self, blob: Hash) -> Result<u64, P2pError> {
        let local = self.store.remote().local(to_iroh(blob)).await;
        local
            .map(|info| info.local_bytes())
            .map_err(|e| P2pError::Store(e.to_string()))
    }

    /// Fetches `blob` from the first of `from` that serves it, keeping what
    /// earlier attempts got (only missing ranges are asked for). Every chunk
    /// is verified against `blob` as it arrives; nothing unverified is kept.
    /// `progress` hears the payload bytes received so far from the peer
    /// being tried.
    pub async fn fetch(
        &self,
        blob: Hash,
        from: &[PeerAddr],
        mut progress: impl FnMut(u64),
    ) -> Result<Fetched, P2pError> {
        if let Some(size) = self.size(blob).await? {
            return Ok(Fetched { size, received: 0 });
        }
        let mut failure = P2pError::NoPeer(blob);
        for peer in from {
            match self.fetch_from(blob, peer, &mut progress).await {
                Ok(fetched) => return Ok(fetched),
                Err(e) => {
                    tracing::debug!(%blob, peer = %peer.account, "fetch failed: {e}");
                    failure = e;
                }
            }
        }
        Err(failure)
    }

    async fn fetch_from(
        &self,
        blob: Hash,
        peer: &PeerAddr,
        progress: &mut impl FnMut(u64),
    ) -> Result<Fetched, P2pError> {
        let addr = endpoint_addr(peer)?;
        let connect = |why: String| P2pError::Connect {
            account: peer.account,
            why,
        };
        let connecting = self.endpoint.connect(addr, iroh_blobs::ALPN);
        let connection = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| connect(format!("no answer in {:?}", self.connect_timeout)))?
            .map_err(|e| connect(e.to_string()))?;
        let failed = |why: String| P2pError::Fetch {
            blob,
            account: peer.account,
            why,
        };
        let items = self
            .store
            .remote()
            .fetch(connection, to_iroh(blob))
            .stream();
        let mut items = std::pin::pin!(items);
        let mut received = None;
        while let Some(item) = items.next().await {
            match item {
                GetProgressItem::Progress(bytes) => progress(bytes),
                GetProgressItem::Done(stats) => {
                    received = Some(stats.payload_bytes_read);
                    break;
                }
                GetProgressItem::Error(e) => return Err(failed(e.to_string())),
            }
        }
        let received = received.ok_or_else(|| failed("the transfer ended unfinished".into()))?;
        let size = self
            .size(blob)
            .await?
            .ok_or_else(|| failed("the peer sent part of it".into()))?;
        Ok(Fetched { size, received })
    }

    /// Writes `blob`, which the store holds whole, to the file `to`.
    pub async fn export(&self, blob: Hash, to: &Path) -> Result<u64, P2pError> {
        self.export_as(blob, to, ExportMode::Copy).await
    }

    /// Moves `blob`'s file out of the store to `to` where it can (the same
    /// file system; small blobs are copied), for a store that is thrown away
    /// after: no second copy of a large download is written. The store then
    /// refers to the file at `to`.
    pub async fn move_out(&self, blob: Hash, to: &Path) -> Result<u64, P2pError> {
        self.export_as(blob, to, ExportMode::TryReference).await
    }

    async fn export_as(&self, blob: Hash, to: &Path, mode: ExportMode) -> Result<u64, P2pError> {
        let to = std::path::absolute(to).map_err(|e| P2pError::Store(e.to_string()))?;
        self.store
            .blobs()
            .export_with_opts(ExportOptions {
                hash: to_iroh(blob),
                mode,
                target: to.clone(),
            })
            .await
            .map_err(|e| P2pError::Store(format!("writing {blob} to {}: {e}", to.display())))
    }

    /// Stops serving and closes its connections and store.
    pub async fn shutdown(&self) {
        if let Err(e) = self.router.shutdown().await {
            tracing::debug!("closing the data plane's endpoint: {e}");
        }
        if let Err(e) = self.store.shutdown().await {
            tracing::debug!("closing the blob store: {e}");
        }
    }
}

/// An endpoint proving `key`'s account, reached as `reach` says; with a
/// relay, once the relay has it (so that no one is told an address that
/// does not answer yet).
pub(crate) async fn bind_endpoint(
    key: &Keypair,
    reach: &Reach,
    connect_timeout: Duration,
) -> Result<Endpoint, P2pError> {
    let start = |what: &str, e: &dyn std::fmt::Display| P2pError::Start(format!("{what}: {e}"));
    let relay_mode = match reach.relay() {
        None => RelayMode::Disabled,
        Some(url) => {
            let url: RelayUrl = url.parse().map_err(|e| start("relay URL", &e))?;
            RelayMode::Custom(RelayMap::from(url))
        }
    };
    let mut builder = Endpoint::builder(presets::Minimal)
        .secret_key(SecretKey::from_bytes(&key.secret_bytes()))
        .relay_mode(relay_mode)
        .clear_address_lookup()
        .clear_ip_transports();
    if let Reach::Direct { bind, .. } = &reach {
        builder = builder
            .bind_addr(*bind)
            .map_err(|e| start("listen address", &e))?;
    }
    let endpoint = builder.bind().await.map_err(|e| start("endpoint", &e))?;
    if let Some(relay) = reach.relay() {
        // Reachable through the relay before anyone is told where it is.
        if tokio::time::timeout(connect_timeout, endpoint.online())
            .await
            .is_err()
        {
            endpoint.close().await;
            return Err(P2pError::Start(format!(
                "relay {relay} did not answer in {connect_timeout:?}"
            )));
        }
    }
    Ok(endpoint)
}

/// The iroh address of `peer`: its key, and where to try it.
pub(crate) fn endpoint_addr(peer: &PeerAddr) -> Result<EndpointAddr, P2pError> {
    let bad = |why: String| P2pError::BadAddress {
        account: peer.account,
        why,
    };
    let id = PublicKey::from_bytes(&peer.account.0).map_err(|e| bad(e.to_string()))?;
    let mut addr = EndpointAddr::new(id);
    for direct in &peer.direct {
        addr = addr.with_ip_addr(*direct);
    }
    if let Some(relay) = &peer.relay {
        let url: RelayUrl = relay
            .parse()
            .map_err(|e| bad(format!("relay {relay}: {e}")))?;
        addr = addr.with_relay_url(url);
    }
    Ok(addr)
}
