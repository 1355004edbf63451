//! Who may read what from a peer: the holder's [`ReadGate`], asked once per
//! request with the reader's authenticated account.

use crate::from_iroh;
use gpunet_primitives::{Address, Hash};
use iroh_blobs::provider::events::{
    AbortReason, ConnectMode, EventMask, EventSender, ObserveMode, ProviderMessage, RequestMode,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// Decides whether `reader` may read `blob` from this peer. It may look the
/// reader up on the chain, so it answers asynchronously; a request waits
/// for its answer and gets nothing on "no".
pub trait ReadGate: Send + Sync + 'static {
    /// Whether `reader` (whose key the connection proved) may read `blob`.
    fn may_read(&self, reader: Address, blob: Hash) -> Pin<Box<dyn Future<Output = bool> + Send>>;
}

/// A gate that lets each listed reader read the blobs listed for it, and
/// nobody anything else. Readers and blobs can be added while serving.
#[derive(Clone, Default)]
pub struct AllowList(Arc<Mutex<BTreeMap<Address, BTreeSet<Hash>>>>);

impl AllowList {
    /// Lets `reader` read `blob`.
    pub fn allow(&self, reader: Address, blob: Hash) {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(reader)
            .or_default()
            .insert(blob);
    }
}

impl ReadGate for AllowList {
    fn may_read(&self, reader: Address, blob: Hash) -> Pin<Box<dyn Future<Output = bool> + Send>> {
        let allowed = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&reader)
            .is_some_and(|blobs| blobs.contains(&blob));
        Box::pin(std::future::ready(allowed))
    }
}

/// The events iroh-blobs' provider sends for a peer guarded by `gate`: it
/// learns each connection's account, holds each single-blob request until
/// the gate has answered, and refuses every request that could reach a blob
/// without naming it alone (many at once, a sequence of hashes, a push).
pub(crate) fn guarded(gate: Arc<dyn ReadGate>) -> EventSender {
    let mask = EventMask {
        connected: ConnectMode::Intercept,
        get: RequestMode::Intercept,
        get_many: RequestMode::Disabled,
        push: RequestMode::Disabled,
        observe: ObserveMode::Intercept,
        ..EventMask::DEFAULT
    };
    let (events, mut messages) = EventSender::channel(64, mask);
    tokio::spawn(async move {
        // Connection ids are the provider's own, never reused while open.
        let mut readers: HashMap<u64, Address> = HashMap::new();
        while let Some(message) = messages.recv().await {
            match message {
                ProviderMessage::ClientConnected(connected) => {
                    let verdict = match connected.endpoint_id {
                        Some(id) => {
                            readers.insert(connected.connection_id, Address(*id.as_bytes()));
                            Ok(())
                        }
                        None => Err(AbortReason::Permission),
                    };
                    connected.tx.send(verdict).await.ok();
                }
                ProviderMessage::ConnectionClosed(closed) => {
                    readers.remove(&closed.connection_id);
                }
                ProviderMessage::GetRequestReceived(get) => {
                    let reader = readers.get(&get.connection_id).copied();
                    // One blob, whole or in ranges; not a hash sequence's children.
                    let single = get.request.ranges.is_blob();
                    let asked = get.request.hash;
                    let decided = decide(gate.clone(), reader, asked, single);
                    tokio::spawn(async move {
                        get.tx.send(decided.await).await.ok();
                    });
                }
                ProviderMessage::ObserveRequestReceived(observe) => {
                    let reader = readers.get(&observe.connection_id).copied();
                    let decided = decide(gate.clone(), reader, observe.request.hash, true);
                    tokio::spawn(async move {
                        observe.tx.send(decided.await).await.ok();
                    });
                }
                // Refused by the mask; answered anyway should a version of
                // iroh-blobs ask.
                ProviderMessage::GetManyRequestReceived(many) => {
                    many.tx.send(Err(AbortReason::Permission)).await.ok();
                }
                ProviderMessage::PushRequestReceived(push) => {
                    push.tx.send(Err(AbortReason::Permission)).await.ok();
                }
                ProviderMessage::Throttle(throttle) => {
                    throttle.tx.send(Ok(())).await.ok();
                }
                _ => {}
            }
        }
    });
    events
}

/// The gate's answer for one request, as the provider takes it.
async fn decide(
    gate: Arc<dyn ReadGate>,
    reader: Option<Address>,
    asked: iroh_blobs::Hash,
    single: bool,
) -> Result<(), AbortReason> {
    match reader {
        Some(reader) if single && gate.may_read(reader, from_iroh(asked)).await => Ok(()),
        _ => Err(AbortReason::Permission),
    }
}
