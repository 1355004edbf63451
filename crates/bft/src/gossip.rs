//! Transaction gossip and peer discovery over libp2p: gossipsub carries batches
//! of signed transactions, Kademlia finds peers from a few bootstrap addresses,
//! identify tells peers where we listen. Connections are authenticated and
//! encrypted with noise under the node's ed25519 key.

use gpunet_primitives::SignedTx;
use libp2p::futures::StreamExt;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    gossipsub, identify, kad, noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol, Swarm,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Largest gossip message; a batch of transactions stays below it.
const MAX_MESSAGE_BYTES: usize = 4 << 20;
const MAX_BATCH_TXS: usize = 1024;
/// How long a transaction to publish waits for others to share its message:
/// a message per transaction costs every peer a frame to decrypt, decode and
/// deduplicate, for each peer that forwards it; a block takes transactions
/// every `ProposalConfig::gather` (60 ms) anyway.
const BATCH_LINGER: Duration = Duration::from_millis(15);
/// How many peers a node dials on its own once discovery has found them.
const TARGET_PEERS: usize = 8;

#[derive(NetworkBehaviour)]
struct Behaviour {
    gossipsub: gossipsub::Behaviour,
    kademlia: kad::Behaviour<kad::store::MemoryStore>,
    identify: identify::Behaviour,
}

/// The transaction gossip network of a node (libp2p gossipsub and Kademlia).
#[derive(Clone, Debug)]
pub struct GossipConfig {
    /// Where this node listens for gossip.
    pub listen: Multiaddr,
    /// A few peers to start from; the rest are found through Kademlia.
    pub bootstrap: Vec<Multiaddr>,
    /// This node's API address as others can reach it (`https://HOST:PORT#KEY`),
    /// told to peers so clients and providers can find other nodes (and nodes
    /// fetch blobs they lack).
    pub api_url: Option<String>,
}

/// What a node's identify agent version starts with; its API URL follows.
const AGENT: &str = "gpunet-node/1";

/// The gossip network could not start: its transport, listen address or
/// a bootstrap peer's address.
#[derive(Debug, thiserror::Error)]
#[error("transaction gossip: {0}")]
pub struct GossipError(String);

fn err(e: impl std::fmt::Display) -> GossipError {
    GossipError(e.to_string())
}

/// Sends transactions to the network; dropping it stops the gossip task.
#[derive(Clone)]
pub(crate) struct Gossip {
    outbound: mpsc::UnboundedSender<SignedTx>,
    apis: PeerApis,
}

/// The API URLs connected peers announced, by peer.
type PeerApis = Arc<Mutex<BTreeMap<PeerId, String>>>;

impl Gossip {
    pub(crate) fn publish(&self, tx: SignedTx) {
        let _ = self.outbound.send(tx);
    }

    /// API URLs of the nodes this one is connected to.
    pub(crate) fn peer_apis(&self) -> Vec<String> {
        let apis = self.apis.lock().expect("peer apis lock");
        let mut urls: Vec<String> = apis.values().cloned().collect();
        urls.sort();
        urls.dedup();
        urls
    }
}

/// Starts the gossip task. Transactions heard from peers come out of the returned
/// receiver, unchecked: the caller admits them to its mempool.
pub(crate) fn spawn(
    peer_secret: [u8; 32],
    chain_id: &str,
    config: GossipConfig,
) -> Result<(Gossip, mpsc::Receiver<Vec<SignedTx>>), GossipError> {
    let identity = libp2p::identity::Keypair::ed25519_from_bytes(peer_secret).map_err(err)?;
    let topic = gossipsub::IdentTopic::new(format!("gpunet/{chain_id}/txs"));
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(identity)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(err)?
        .with_behaviour(|key| {
            // Transactions carry their senders' signatures and connections are
            // authenticated by noise, so gossip messages go unsigned (a signature
            // per message would cost every peer an ed25519 check) and are
            // identified by their content.
            let gossip_config = gossipsub::ConfigBuilder::default()
                .max_transmit_size(MAX_MESSAGE_BYTES)
                .heartbeat_interval(Duration::from_millis(500))
                .validation_mode(gossipsub::ValidationMode::Anonymous)
                .message_id_fn(|m| {
                    gossipsub::MessageId::from(blake3::hash(&m.data).as_bytes().to_vec())
                })
                .build()?;
            let gossipsub = gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Anonymous,
                gossip_config,
            )?;
            let peer = key.public().to_peer_id();
            let mut kad_config = kad::Config::new(StreamProtocol::new("/gpunet/kad/1.0.0"));
            kad_config.set_query_timeout(Duration::from_secs(10));
            let mut kademlia =
                kad::Behaviour::with_config(peer, kad::store::MemoryStore::new(peer), kad_config);
            kademlia.set_mode(Some(kad::Mode::Server));
            let agent = format!("{AGENT} {}", config.api_url.as_deref().unwrap_or(""));
            let identify = identify::Behaviour::new(
                identify::Config::new("/gpunet/1.0.0".into(), key.public())
                    .with_agent_version(agent.trim_end().to_string()),
            );
            Ok(Behaviour {
                gossipsub,
                kademlia,
                identify,
            })
        })
        .map_err(err)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    swarm
        .behaviour_mut()
        .gossipsub
        .subscribe(&topic)
        .map_err(err)?;
    swarm.listen_on(config.listen.clone()).map_err(err)?;
    for addr in &config.bootstrap {
        swarm.dial(addr.clone()).map_err(err)?;
    }
    let (outbound, outbound_rx) = mpsc::unbounded_channel();
    let (inbound, inbound_rx) = mpsc::channel(1024);
    let apis = PeerApis::default();
    tokio::spawn(run(swarm, topic, outbound_rx, inbound, apis.clone()));
    Ok((Gossip { outbound, apis }, inbound_rx))
}

async fn run(
    mut swarm: Swarm<Behaviour>,
    topic: gossipsub::IdentTopic,
    mut outbound: mpsc::UnboundedReceiver<SignedTx>,
    inbound: mpsc::Sender<Vec<SignedTx>>,
    apis: PeerApis,
) {
    // Batches that found no subscribed peer yet are published again later.
    let mut unsent: Vec<Vec<u8>> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut ticks = 0u64;
    // Transactions waiting for the batch they go out in, and when it goes.
    let mut batch: Vec<SignedTx> = Vec::new();
    let linger = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(linger);
    loop {
        tokio::select! {
            tx = outbound.recv(), if batch.len() < MAX_BATCH_TXS => {
                let Some(tx) = tx else { return };
                if batch.is_empty() {
                    linger.as_mut().reset(tokio::time::Instant::now() + BATCH_LINGER);
                }
                batch.push(tx);
            }
            () = &mut linger, if !batch.is_empty() => {
                for message in encode_batches(&batch) {
                    if swarm.behaviour_mut().gossipsub.publish(topic.clone(), message.clone()).is_err() {
                        unsent.push(message);
                    }
                }
                batch.clear();
            }
            event = swarm.select_next_some() => handle_event(&mut swarm, event, &inbound, &apis).await,
            _ = tick.tick() => {
                ticks += 1;
                unsent.retain(|m| swarm.behaviour_mut().gossipsub.publish(topic.clone(), m.clone()).is_err());
                // Refresh the routing table now and then; errors only mean no peer is known yet.
                if ticks % 60 == 1 {
                    let _ = swarm.behaviour_mut().kademlia.bootstrap();
                }
            }
        }
    }
}

/// Splits transactions into messages below the gossip size limit.
fn encode_batches(txs: &[SignedTx]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut current: Vec<&SignedTx> = Vec::new();
    let mut size = 0;
    for tx in txs {
        let tx_size = borsh::object_length(tx).unwrap_or(0);
        if !current.is_empty() && size + tx_size > MAX_MESSAGE_BYTES / 2 {
            messages.push(borsh::to_vec(&current).expect("transactions encode"));
            current.clear();
            size = 0;
        }
        current.push(tx);
        size += tx_size;
    }
    if !current.is_empty() {
        messages.push(borsh::to_vec(&current).expect("transactions encode"));
    }
    messages
}

async fn handle_event(
    swarm: &mut Swarm<Behaviour>,
    event: SwarmEvent<BehaviourEvent>,
    inbound: &mpsc::Sender<Vec<SignedTx>>,
    apis: &PeerApis,
) {
    match event {
        SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
            message,
            ..
        })) => {
            // Undecodable batches are dropped; each transaction is checked on admission.
            if let Ok(txs) = borsh::from_slice::<Vec<SignedTx>>(&message.data) {
                let _ = inbound.send(txs).await;
            }
        }
        SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
            peer_id,
            info,
            ..
        })) => {
            for addr in info.listen_addrs {
                swarm.behaviour_mut().kademlia.add_address(&peer_id, addr);
            }
            let api = info.agent_version.strip_prefix(AGENT).map(str::trim);
            // An address is `https://HOST:PORT#KEY`: clients pin the key.
            if let Some(url) = api.filter(|u| u.starts_with("https://") && u.contains('#')) {
                apis.lock()
                    .expect("peer apis lock")
                    .insert(peer_id, url.to_string());
            }
        }
        SwarmEvent::ConnectionClosed {
            peer_id,
            num_established: 0,
            ..
        } => {
            apis.lock().expect("peer apis lock").remove(&peer_id);
        }
        SwarmEvent::Behaviour(BehaviourEvent::Kademlia(kad::Event::RoutingUpdated {
            peer,
            ..
        })) if swarm.connected_peers().count() < TARGET_PEERS && !swarm.is_connected(&peer) => {
            let _ = swarm.dial(peer);
        }
        _ => {}
    }
}
