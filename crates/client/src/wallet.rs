//! A wallet that signs and submits transactions with a key.

use crate::error::ClientError;
use crate::node_client::NodeClient;
use gpunet_primitives::{
    Address, Amount, BlobRead, BlobUpload, Hash, Keypair, OrderId, RequestBody, SignedBlobRead,
    SignedRequest, Tx, TxBody,
};
use gpunet_types::api::BlobInfo;
use gpunet_types::{Included, PeerAddr, MAX_PEER_ADDRESSES};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// `t` as Unix milliseconds, the clock nodes check signed requests' expiry by.
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// How long a signed request stays valid: half what nodes accept
/// ([`gpunet_primitives::MAX_REQUEST_VALIDITY_MS`]), so a node whose clock
/// is minutes behind still takes it.
const REQUEST_VALIDITY: Duration = Duration::from_secs(300);

/// Signs transactions with one key and submits them to a node, one at a time so
/// nonces never race.
pub struct Wallet {
    key: Keypair,
    node: NodeClient,
    lock: tokio::sync::Mutex<()>,
    chain_id: std::sync::OnceLock<String>,
}

impl Wallet {
    /// A wallet that signs with `key` and talks to `node`.
    pub fn new(key: Keypair, node: NodeClient) -> Wallet {
        Wallet {
            key,
            node,
            lock: tokio::sync::Mutex::new(()),
            chain_id: std::sync::OnceLock::new(),
        }
    }

    /// The chain the node serves, asked once.
    pub async fn chain_id(&self) -> Result<String, ClientError> {
        if let Some(id) = self.chain_id.get() {
            return Ok(id.clone());
        }
        let id = self.node.status().await?.chain_id;
        Ok(self.chain_id.get_or_init(|| id).clone())
    }

    /// `body`, signed by this account for the node's chain, valid for five
    /// minutes from now.
    pub async fn sign_request<B: RequestBody>(
        &self,
        body: B,
    ) -> Result<SignedRequest<B>, ClientError> {
        let chain_id = self.chain_id().await?;
        let not_after_ms = unix_ms(SystemTime::now() + REQUEST_VALIDITY);
        Ok(SignedRequest::sign(
            body,
            &chain_id,
            not_after_ms,
            &self.key,
        ))
    }

    /// A request to read the blobs order `id` names, as its client or its
    /// provider, valid for five minutes.
    pub async fn blob_read(&self, id: OrderId) -> Result<SignedBlobRead, ClientError> {
        self.sign_request(BlobRead { order: Some(id) }).await
    }

    /// Stores `bytes` in the node's blob store as this account.
    pub async fn put_blob(&self, bytes: Vec<u8>) -> Result<BlobInfo, ClientError> {
        let upload = BlobUpload {
            hash: Hash::digest(&bytes),
            size: bytes.len() as u64,
        };
        let upload = self.sign_request(upload).await?;
        self.node.put_blob(&upload, bytes).await
    }

    /// Streams the file at `path`, whose BLAKE3 is `hash`, to the node's blob
    /// store as this account.
    pub async fn put_blob_file(&self, path: &Path, hash: Hash) -> Result<BlobInfo, ClientError> {
        let size = tokio::fs::metadata(path).await?.len();
        let upload = self.sign_request(BlobUpload { hash, size }).await?;
        self.node.put_blob_file(&upload, path).await
    }

    /// Its account's address.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// Its key.
    pub fn key(&self) -> &Keypair {
        &self.key
    }

    /// The node it talks to.
    pub fn node(&self) -> &NodeClient {
        &self.node
    }

    /// Announces on chain where this account's data-plane peer is reached,
    /// unless the chain already says so. One account has one peer: a
    /// provider agent and `gpunet serve` of the same account would
    /// replace each other's announcement.
    pub async fn announce_peer(&self, addr: PeerAddr) -> Result<(), ClientError> {
        if self.node().peer(&self.address()).await?.as_ref() == Some(&addr) {
            return Ok(());
        }
        self.send(TxBody::AnnouncePeer {
            direct: addr
                .direct
                .iter()
                .take(MAX_PEER_ADDRESSES)
                .map(|a| a.to_string())
                .collect(),
            relay: addr.relay,
        })
        .await?;
        Ok(())
    }

    /// Signs `body` with the next nonce and the minimum fee, submits it and waits for its block.
    ///
    /// Other processes may send from the same key at the same time (ten
    /// `gpunet job run` in a shell loop): two that read the same nonce both
    /// get in the mempool, the block takes one and refuses the other with
    /// `bad_nonce`, which was then never included and never can be. The
    /// refused one signs again with the nonce the block left.
    pub async fn send(&self, body: TxBody) -> Result<Included, ClientError> {
        self.send_paying(body, 0).await
    }

    /// Sends `body` as [`Wallet::send`] does, as a transaction no other
    /// process sends: two processes of one key sending the same body with
    /// the same nonce sign the same bytes (signatures are deterministic), the
    /// node takes them as one transaction, and both would be told they sent
    /// it (two provider agents of one account registering alike machines
    /// would get one machine between them). A random extra fee of at most
    /// `MAX_DISTINCT_FEE` base units makes its bytes its own.
    pub async fn send_distinct(&self, body: TxBody) -> Result<Included, ClientError> {
        let extra = rand::RngCore::next_u64(&mut rand::rngs::OsRng) % (MAX_DISTINCT_FEE + 1);
        self.send_paying(body, Amount::from(extra)).await
    }

    /// [`Wallet::send`], paying `extra_fee` over the minimum.
    async fn send_paying(&self, body: TxBody, extra_fee: Amount) -> Result<Included, ClientError> {
        let _guard = self.lock.lock().await;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let status = self.node.status().await?;
            let account = self.node.account(&self.key.address()).await?;
            let tx = Tx {
                chain_id: status.chain_id,
                sender: self.key.address(),
                nonce: account.account.nonce,
                fee: status.params.min_fee.saturating_add(extra_fee),
                body: body.clone(),
            }
            .sign(&self.key);
            match self.node.submit(&tx).await {
                Err(e) if e.code() == Some(BAD_NONCE) && attempts < NONCE_ATTEMPTS => continue,
                sent => return sent,
            }
        }
    }
}

/// Most base units [`Wallet::send_distinct`] adds to the fee.
const MAX_DISTINCT_FEE: u64 = 1_000;

/// The API's code for a transaction whose nonce another took first.
const BAD_NONCE: &str = "bad_nonce";

/// How many times [`Wallet::send`] signs a transaction with a fresh nonce: each
/// refusal means another transaction from the key was included, so this
/// bounds how many may race with one.
const NONCE_ATTEMPTS: usize = 64;
