//! Typed access to a node's HTTP API.

use crate::error::ClientError;
use crate::tls;
use futures_util::StreamExt;
use gpunet_primitives::manifest::Manifest;
use gpunet_primitives::{
    Address, ChallengeId, Hash, LogStream, MachineId, OrderId, SignedBlobRead, SignedBlobUpload,
    SignedLogChunk, SignedLogRead, SignedTx,
};
use gpunet_types::api::{
    header_value, AccountView, BlobInfo, BlockView, DryRun, HolderProof, MachineSearch, OrdersPage,
    Peers, SnapshotInfo, Status, BLOB_READ_HEADER, LOG_OFFSET_HEADER, LOG_READ_HEADER,
    MATCHED_HEADER, UPLOAD_HEADER,
};
use gpunet_types::{
    AddressError, ApiError, BlockEvent, Included, Machine, NodeAddress, OrderView, PeerAddr,
    TrustedKeys,
};
use serde::de::DeserializeOwned;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// A client of one node at a time, with others to turn to: when a node cannot
/// be reached the client moves on to the next it knows (given, or learned from
/// a node's peers with [`NodeClient::discover`]).
#[derive(Clone)]
pub struct NodeClient {
    nodes: Arc<Nodes>,
    http: reqwest::Client,
}

struct Nodes {
    addresses: RwLock<Vec<NodeAddress>>,
    current: AtomicUsize,
    /// The keys of `addresses`: TLS talks only to servers holding one.
    trusted: TrustedKeys,
}

/// How long [`NodeClient::caught_up_to`] waits for a node behind before it
/// asks the next: a node that restarted catches up in seconds, one cut off
/// from its peers does not.
const BEHIND_PATIENCE: Duration = Duration::from_secs(5);

/// How often [`NodeClient::caught_up_to`] asks a node behind for its height.
const BEHIND_POLL: Duration = Duration::from_millis(250);

/// How long [`NodeClient::heights`] waits for each node's answer.
const STATUS_PATIENCE: Duration = Duration::from_secs(3);

/// A successful response's JSON body.
async fn decode<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T, ClientError> {
    resp.json()
        .await
        .map_err(|e| ClientError::BadResponse(e.to_string()))
}

/// One item of the event stream.
#[derive(Debug)]
pub enum StreamItem {
    /// A committed event.
    Event(BlockEvent),
    /// The subscriber fell behind and missed events; re-read the state it cares about.
    Lagged,
}

impl NodeClient {
    /// A client of the nodes at `addresses`: one `https://HOST:PORT#KEY`, or
    /// several separated by commas.
    pub fn new(addresses: &str) -> Result<NodeClient, ClientError> {
        let addresses = addresses
            .split(',')
            .filter(|a| !a.trim().is_empty())
            .map(|a| {
                a.parse()
                    .map_err(|e: AddressError| ClientError::Invalid(e.to_string()))
            })
            .collect::<Result<Vec<NodeAddress>, _>>()?;
        if addresses.is_empty() {
            return Err(ClientError::Invalid("no node address given".into()));
        }
        let trusted = TrustedKeys::of(&addresses);
        Ok(NodeClient {
            http: tls::http_client(trusted.clone()),
            nodes: Arc::new(Nodes {
                addresses: RwLock::new(addresses),
                current: AtomicUsize::new(0),
                trusted,
            }),
        })
    }

    /// The node requests go to now.
    pub fn address(&self) -> NodeAddress {
        let addresses = self.nodes.addresses.read().expect("node list lock");
        let i = self.nodes.current.load(Ordering::Relaxed);
        addresses[i % addresses.len()].clone()
    }

    /// The base URL of the node requests go to now.
    pub fn base_url(&self) -> String {
        self.address().url
    }

    /// The HTTP client this client sends with: it talks only to the nodes it knows.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    fn node_count(&self) -> usize {
        self.nodes.addresses.read().expect("node list lock").len()
    }

    /// Adds the nodes the current node knows of (trusting the keys it
    /// gives for them); returns how many were new.
    pub async fn discover(&self) -> Result<usize, ClientError> {
        let peers: Peers = self.get("/v1/peers").await?;
        let mut addresses = self.nodes.addresses.write().expect("node list lock");
        let before = addresses.len();
        for peer in peers
            .apis
            .iter()
            .filter_map(|a| a.parse::<NodeAddress>().ok())
        {
            if !addresses.contains(&peer) {
                self.nodes.trusted.insert(peer.key);
                addresses.push(peer);
            }
        }
        Ok(addresses.len() - before)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let resp = req.send().await.map_err(|error| {
            let url = self.base_url();
            if error.is_connect() {
                // Later requests go to the next node.
                self.nodes.current.fetch_add(1, Ordering::Relaxed);
            }
            ClientError::Unreachable { url, error }
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body = resp.bytes().await.unwrap_or_default();
        Err(match serde_json::from_slice::<ApiError>(&body) {
            Ok(e) => ClientError::Api(e),
            Err(_) => ClientError::BadResponse(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            )),
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        decode(self.send(req).await?).await
    }

    /// Sends the read `request` builds, on each known node in turn while
    /// they cannot be reached.
    async fn read(
        &self,
        request: impl Fn(&NodeClient) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        let mut attempts = self.node_count();
        loop {
            attempts = attempts.saturating_sub(1);
            match self.send(request(self)).await {
                Err(ClientError::Unreachable { .. }) if attempts > 0 => continue,
                result => return result,
            }
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        decode(self.read(|c| c.http.get(c.url(path))).await?).await
    }

    /// The node's view of the chain.
    pub async fn status(&self) -> Result<Status, ClientError> {
        self.get("/v1/status").await
    }

    /// Waits until the node requests go to has committed block `height`, so
    /// that a read sees what an event at that height did. The event may have
    /// come from another node (this client moves on from one it cannot
    /// reach, to a node that may be behind), or this node may have fallen
    /// behind in a fault. A node still behind after 5 s (`BEHIND_PATIENCE`)
    /// is left for the next one known; after `within`, [`ClientError::Behind`].
    pub async fn caught_up_to(&self, height: u64, within: Duration) -> Result<(), ClientError> {
        let deadline = tokio::time::Instant::now() + within;
        let mut behind_since = tokio::time::Instant::now();
        loop {
            let at = self.status().await?.height;
            if at >= height {
                return Ok(());
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(ClientError::Behind {
                    url: self.base_url(),
                    at,
                    wanted: height,
                });
            }
            if now.duration_since(behind_since) >= BEHIND_PATIENCE && self.node_count() > 1 {
                self.nodes.current.fetch_add(1, Ordering::Relaxed);
                behind_since = now;
            }
            tokio::time::sleep(BEHIND_POLL.min(deadline - now)).await;
        }
    }

    /// The height of every known node that answers within 3 s
    /// (`STATUS_PATIENCE`), asked all at once: to tell a node that stopped
    /// following the chain, its API still answering, from a chain with
    /// nothing new.
    pub async fn heights(&self) -> Vec<(NodeAddress, u64)> {
        let addresses = self.nodes.addresses.read().expect("node list lock").clone();
        let asked = addresses.into_iter().map(|address| async move {
            let request = self
                .http
                .get(format!("{}/v1/status", address.url))
                .timeout(STATUS_PATIENCE);
            let status: Status = decode(request.send().await.ok()?.error_for_status().ok()?)
                .await
                .ok()?;
            Some((address, status.height))
        });
        futures_util::future::join_all(asked)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Sends later requests to the known node furthest ahead, if it is
    /// ahead of the current one (or the current one does not answer);
    /// returns whether it moved. For a read that found nothing on a node
    /// that may be behind (an order submitted through another node).
    pub async fn move_to_furthest_ahead(&self) -> bool {
        let current = self.address();
        let heights = self.heights().await;
        let at = heights
            .iter()
            .find(|(node, _)| *node == current)
            .map(|(_, height)| *height);
        match heights.iter().max_by_key(|(_, height)| *height) {
            Some((ahead, height)) if at.is_none_or(|at| *height > at) => {
                self.prefer(ahead);
                true
            }
            _ => false,
        }
    }

    /// Sends later requests to `node`, if it is one of the known nodes.
    pub fn prefer(&self, node: &NodeAddress) {
        let addresses = self.nodes.addresses.read().expect("node list lock");
        if let Some(i) = addresses.iter().position(|a| a == node) {
            self.nodes.current.store(i, Ordering::Relaxed);
        }
    }

    /// An account (all zero if never used).
    pub async fn account(&self, address: &Address) -> Result<AccountView, ClientError> {
        self.get(&format!("/v1/accounts/{address}")).await
    }

    /// Submits a signed transaction; resolves once it is in a block.
    pub async fn submit(&self, tx: &SignedTx) -> Result<Included, ClientError> {
        self.submit_bytes(tx.to_bytes()).await
    }

    /// Submits raw bytes as a transaction (the node decodes and checks them).
    pub async fn submit_bytes(&self, bytes: Vec<u8>) -> Result<Included, ClientError> {
        let req = self
            .http
            .post(self.url("/v1/tx"))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes);
        self.json(req).await
    }

    /// A page of `client`'s orders, newest first (see [`OrdersPage`]).
    pub async fn orders_of(
        &self,
        client: &Address,
        page: &OrdersPage,
    ) -> Result<Vec<OrderView>, ClientError> {
        let path = format!("/v1/accounts/{client}/orders");
        decode(self.read(|c| c.http.get(c.url(&path)).query(page)).await?).await
    }

    /// Where `account`'s data-plane peer is reached, if it announced one.
    pub async fn peer(&self, account: &Address) -> Result<Option<PeerAddr>, ClientError> {
        let path = format!("/v1/accounts/{account}/peer");
        let answer = match self.read(|c| c.http.get(c.url(&path))).await {
            Ok(response) => decode(response).await,
            Err(e) => Err(e),
        };
        match answer {
            Ok(peer) => Ok(Some(peer)),
            Err(ClientError::Api(e)) if e.code == "not_found" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every registered machine (a search with no filter and no limit).
    pub async fn machines(&self) -> Result<Vec<Machine>, ClientError> {
        Ok(self.find_machines(&MachineSearch::default()).await?.0)
    }

    /// The machines `search` finds (see [`gpunet_types::offers`]), searched by
    /// the node, and how many matched in all (more than returned when its
    /// `limit` cut the list short).
    pub async fn find_machines(
        &self,
        search: &MachineSearch,
    ) -> Result<(Vec<Machine>, usize), ClientError> {
        let resp = self
            .read(|c| c.http.get(c.url("/v1/machines")).query(search))
            .await?;
        let matched = resp
            .headers()
            .get(MATCHED_HEADER)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .ok_or_else(|| ClientError::BadResponse(format!("no {MATCHED_HEADER} header")))?;
        Ok((decode(resp).await?, matched))
    }

    /// The machines that come closest to `search` when it finds none: those
    /// missing the fewest of its filters, each with the filters it misses.
    pub async fn closest_machines(
        &self,
        search: &MachineSearch,
    ) -> Result<Vec<gpunet_types::offers::NearMiss>, ClientError> {
        let resp = self
            .read(|c| c.http.get(c.url("/v1/machines/closest")).query(search))
            .await?;
        decode(resp).await
    }

    /// A registered machine.
    pub async fn machine(&self, id: MachineId) -> Result<Machine, ClientError> {
        self.get(&format!("/v1/machines/{id}")).await
    }

    /// An order, as the API shows it.
    pub async fn order(&self, id: OrderId) -> Result<OrderView, ClientError> {
        self.get(&format!("/v1/orders/{id}")).await
    }

    /// Why order `id` finds no machine now, naming the 3 machines closest to
    /// taking it.
    pub async fn unmatched(&self, id: OrderId) -> Result<gpunet_types::Unmatched, ClientError> {
        self.get(&format!("/v1/orders/{id}/unmatched")).await
    }

    /// What matching would make of `order` now, without placing it: the
    /// `closest` machines are those that could take it, cheapest first.
    pub async fn dry_run(
        &self,
        order: &DryRun,
        closest: usize,
    ) -> Result<gpunet_types::Unmatched, ClientError> {
        let path = format!("/v1/orders/dry-run?closest={closest}");
        decode(self.read(|c| c.http.post(c.url(&path)).json(order)).await?).await
    }

    /// An open hardware challenge (answered or failed ones are gone).
    pub async fn challenge(
        &self,
        id: ChallengeId,
    ) -> Result<gpunet_types::ChallengeView, ClientError> {
        self.get(&format!("/v1/challenges/{id}")).await
    }

    /// The open leases of `provider`'s machines.
    pub async fn provider_leases(&self, provider: &Address) -> Result<Vec<OrderView>, ClientError> {
        self.get(&format!("/v1/providers/{provider}/leases")).await
    }

    /// The block at `height`.
    pub async fn block(&self, height: u64) -> Result<BlockView, ClientError> {
        self.get(&format!("/v1/blocks/{height}")).await
    }

    /// The state snapshots the node serves, newest first.
    pub async fn snapshots(&self) -> Result<Vec<SnapshotInfo>, ClientError> {
        self.get("/v1/snapshots").await
    }

    /// One file of the snapshot at `height` (`manifest`, `certificate` or
    /// `chunk-N`), refused once it passes `max_bytes`: checking it is the
    /// caller's (`gpunet_ledger::snapshot`).
    pub async fn snapshot_file(
        &self,
        height: u64,
        file: &str,
        max_bytes: usize,
    ) -> Result<Vec<u8>, ClientError> {
        let path = format!("/v1/snapshots/{height}/{file}");
        let resp = self.read(|c| c.http.get(c.url(&path))).await?;
        let mut bytes = Vec::new();
        let mut body = resp.bytes_stream();
        while let Some(piece) = body.next().await {
            let piece = piece
                .map_err(|e| ClientError::BadResponse(format!("download interrupted: {e}")))?;
            if bytes.len().saturating_add(piece.len()) > max_bytes {
                return Err(ClientError::BadResponse(format!(
                    "snapshot file {file} at height {height} is over {max_bytes} bytes"
                )));
            }
            bytes.extend_from_slice(&piece);
        }
        Ok(bytes)
    }

    /// Stores `bytes` in a node's blob store for the account that signed
    /// `upload` (see [`crate::Wallet::put_blob`]): the current node's, or
    /// the next one's while they cannot be reached or their disk is full
    /// (`disk_full`).
    pub async fn put_blob(
        &self,
        upload: &SignedBlobUpload,
        bytes: Vec<u8>,
    ) -> Result<BlobInfo, ClientError> {
        let bytes = &bytes::Bytes::from(bytes);
        self.upload(|| async move { Ok(self.blob_upload(upload).body(bytes.clone())) })
            .await
    }

    /// Streams a file to a node's blob store, which verifies it against
    /// the hash and size `upload` names; to the next node while they cannot
    /// be reached or have no room, as [`NodeClient::put_blob`] does.
    pub async fn put_blob_file(
        &self,
        upload: &SignedBlobUpload,
        path: &Path,
    ) -> Result<BlobInfo, ClientError> {
        self.upload(|| async move {
            let file = tokio::fs::File::open(path).await?;
            let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
            Ok(self
                .blob_upload(upload)
                .body(reqwest::Body::wrap_stream(stream)))
        })
        .await
    }

    /// Sends the upload `request` builds (anew for each try: a body is
    /// sent once), on each known node in turn while
    /// [`NodeClient::try_another_node`] says so.
    async fn upload<F, R>(&self, request: F) -> Result<BlobInfo, ClientError>
    where
        F: Fn() -> R,
        R: std::future::Future<Output = Result<reqwest::RequestBuilder, ClientError>>,
    {
        let mut attempts = self.node_count();
        loop {
            attempts = attempts.saturating_sub(1);
            match self.json(request().await?).await {
                Err(e) if attempts > 0 && self.try_another_node(&e) => continue,
                result => return result,
            }
        }
    }

    /// Whether an upload that failed with `error` should go to another
    /// node, and if so moves on to the next: its node could not be reached
    /// (already moved on), or its disk is full. A blob stored on any node
    /// reaches the others that need it, so a provider whose own node is out
    /// of room still delivers its outputs rather than failing the job.
    fn try_another_node(&self, error: &ClientError) -> bool {
        match error {
            ClientError::Unreachable { .. } => true,
            ClientError::Api(e) if e.code == gpunet_types::ErrorCode::DiskFull.as_str() => {
                self.nodes.current.fetch_add(1, Ordering::Relaxed);
                true
            }
            _ => false,
        }
    }

    fn blob_upload(&self, upload: &SignedBlobUpload) -> reqwest::RequestBuilder {
        self.http
            .put(self.url(&format!("/v1/blobs?hash={}", upload.body.hash)))
            .header(UPLOAD_HEADER, header_value(upload))
    }

    /// `GET /v1/blobs/{hash}{rest}` with `read` in its header.
    fn blob_get(&self, hash: &Hash, rest: &str, read: &SignedBlobRead) -> reqwest::RequestBuilder {
        self.http
            .get(self.url(&format!("/v1/blobs/{hash}{rest}")))
            .header(BLOB_READ_HEADER, header_value(read))
    }

    /// Reads blob `hash` into memory, verified, as `read`'s signer (a party
    /// to an order that names it, or a validator).
    pub async fn get_blob(
        &self,
        hash: &Hash,
        read: &SignedBlobRead,
    ) -> Result<Vec<u8>, ClientError> {
        let resp = self.read(|c| c.blob_get(hash, "", read)).await?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::BadResponse(e.to_string()))?;
        if Hash::digest(&bytes) != *hash {
            return Err(ClientError::BadResponse(format!(
                "blob {hash} arrived corrupted"
            )));
        }
        Ok(bytes.to_vec())
    }

    /// The proof that `read`'s signer holds blob `hash`, which it may read:
    /// what names the blob as an input of its orders.
    pub async fn holder_proof(
        &self,
        hash: &Hash,
        read: &SignedBlobRead,
    ) -> Result<HolderProof, ClientError> {
        let resp = self
            .read(|c| c.blob_get(hash, "/holder-proof", read))
            .await?;
        decode(resp).await
    }

    /// Streams blob `hash` into `dest` as `read`'s signer, verifying it on
    /// the way; a corrupt download is deleted and reported.
    pub async fn download_blob(
        &self,
        hash: &Hash,
        dest: &Path,
        read: &SignedBlobRead,
    ) -> Result<u64, ClientError> {
        let resp = self.read(|c| c.blob_get(hash, "", read)).await?;
        if let Some(dir) = dest.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let mut file = tokio::fs::File::create(dest).await?;
        let mut hasher = blake3::Hasher::new();
        let mut size = 0u64;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk
                .map_err(|e| ClientError::BadResponse(format!("download interrupted: {e}")))?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        if Hash(*hasher.finalize().as_bytes()) != *hash {
            drop(file);
            let _ = tokio::fs::remove_file(dest).await;
            return Err(ClientError::BadResponse(format!(
                "blob {hash} arrived corrupted"
            )));
        }
        Ok(size)
    }

    /// Pushes a chunk of a running job's log (the provider's side of live logs).
    pub async fn push_live_log(&self, chunk: &SignedLogChunk) -> Result<(), ClientError> {
        let url = self.url(&format!("/v1/orders/{}/logs", chunk.body.order));
        self.send(self.http.post(url).body(gpunet_primitives::encode(chunk)))
            .await?;
        Ok(())
    }

    /// What the nodes keep of the running order's `stream` from byte `from`
    /// on, and the offset it starts at; `None` while no node has any of it.
    /// `read` is the order's client's signed request.
    pub async fn live_log(
        &self,
        read: &SignedLogRead,
        stream: LogStream,
        from: u64,
    ) -> Result<Option<(u64, Vec<u8>)>, ClientError> {
        let id = read.body.order;
        let url = self.url(&format!(
            "/v1/orders/{id}/logs/{}?from={from}",
            stream.name()
        ));
        let req = self
            .http
            .get(url)
            .header(LOG_READ_HEADER, header_value(read));
        let resp = match self.send(req).await {
            Err(ClientError::Api(e)) if e.code == "not_found" => return Ok(None),
            resp => resp?,
        };
        let offset = resp
            .headers()
            .get(LOG_OFFSET_HEADER)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .ok_or_else(|| ClientError::BadResponse(format!("no {LOG_OFFSET_HEADER} header")))?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::BadResponse(e.to_string()))?;
        Ok(Some((offset, bytes.to_vec())))
    }

    /// Fetches and decodes the output manifest whose hash is `root`.
    pub async fn manifest(
        &self,
        root: &Hash,
        read: &SignedBlobRead,
    ) -> Result<Manifest, ClientError> {
        let bytes = self.get_blob(root, read).await?;
        Manifest::decode(&bytes).map_err(|e| ClientError::BadResponse(e.to_string()))
    }

    /// Subscribes to committed events, optionally only for one order or one party.
    pub async fn events(
        &self,
        order: Option<OrderId>,
        address: Option<&Address>,
    ) -> Result<EventStream, ClientError> {
        let mut query = Vec::new();
        if let Some(o) = order {
            query.push(("order", o.to_string()));
        }
        if let Some(a) = address {
            query.push(("address", a.to_string()));
        }
        let node = self.address();
        let resp = self
            .send(
                self.http
                    .get(format!("{}/v1/events", node.url))
                    .query(&query),
            )
            .await?;
        Ok(EventStream {
            node,
            body: Box::pin(resp.bytes_stream()),
            buf: Vec::new(),
        })
    }
}

type ByteStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// Committed events from a node, as server-sent events.
pub struct EventStream {
    node: NodeAddress,
    body: ByteStream,
    buf: Vec<u8>,
}

impl EventStream {
    /// The node the events come from.
    pub fn node(&self) -> &NodeAddress {
        &self.node
    }

    /// The next event; `None` when the node closed the stream.
    pub async fn next(&mut self) -> Option<Result<StreamItem, ClientError>> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let frame: Vec<u8> = self.buf.drain(..end + 2).collect();
                let text = String::from_utf8_lossy(&frame);
                let mut name = None;
                let mut data = String::new();
                for line in text.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if name.as_deref() == Some("lagged") {
                    return Some(Ok(StreamItem::Lagged));
                }
                if data.is_empty() {
                    continue; // keep-alive comment
                }
                return Some(
                    serde_json::from_str(&data)
                        .map(StreamItem::Event)
                        .map_err(|e| ClientError::BadResponse(format!("bad event {data:?}: {e}"))),
                );
            }
            match self.body.next().await? {
                Ok(chunk) => self.buf.extend_from_slice(&chunk),
                Err(e) => {
                    return Some(Err(ClientError::BadResponse(format!(
                        "event stream broke: {e}"
                    ))))
                }
            }
        }
    }
}
