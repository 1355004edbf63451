//! What this machine serves peer to peer with `gpunet serve`: the images
//! it pushed ([`crate::images`]) and the local inputs of the jobs it
//! submitted with `serve_inputs`, so that neither passes through a
//! validator's disk.
//!
//! # Design
//!
//! - **Recorded, then served.** `gpunet job run` records each served input
//!   (its path, BLAKE3 and size) in `inputs.json` before it submits the
//!   order, then the orders that name it; the serving process reads the
//!   record when it starts and whenever it changes, and serves each file in
//!   place (the file must not change until its jobs ran: a changed file
//!   reads as a broken transfer, and the job is declined).
//! - **Who may read.** Only the provider of a lease of this account's own
//!   orders whose spec names the blob, as an input or as its image
//!   (`OwnOrdersGate`): the orders are this account's, so naming the hash
//!   is the client's own word; no holder proof needs checking, and nothing
//!   is read for a secret.
//! - **Kept small.** A served input whose orders all closed, or that no
//!   order named within a day of its recording, is dropped from the record
//!   when `gpunet serve` starts.

use crate::ClientError;
use gpunet_primitives::{Hash, OrderId};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Names the directory of the served inputs' record ([`ServedInputs::default_dir`]).
pub const SERVED_VAR: &str = "GPUNET_SERVED";

/// How long a recorded input waits for an order to name it before it is
/// dropped: its submission failed.
const UNNAMED_FOR_MS: u64 = 24 * 3600 * 1000;

/// A local file served as an input of this account's jobs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServedInput {
    /// BLAKE3 of its content.
    pub hash: Hash,
    /// The file, by absolute path.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// The orders whose spec names it.
    pub orders: Vec<OrderId>,
    /// When it was recorded (Unix milliseconds).
    pub recorded_ms: u64,
}

#[derive(Default, Serialize, Deserialize)]
struct Record {
    inputs: Vec<ServedInput>,
}

/// The record of served inputs, in a directory of its own.
pub struct ServedInputs {
    dir: PathBuf,
}

impl ServedInputs {
    /// `GPUNET_SERVED`, else `~/.gpunet/served` (`.gpunet/served` without a
    /// home).
    pub fn default_dir() -> PathBuf {
        crate::config::gpunet_dir(SERVED_VAR, "served")
    }

    /// The record in `dir`, made if missing.
    pub fn open(dir: &Path) -> Result<ServedInputs, ClientError> {
        std::fs::create_dir_all(dir)?;
        Ok(ServedInputs {
            dir: dir.to_path_buf(),
        })
    }

    /// The record's file: what `gpunet serve` watches.
    pub fn path(&self) -> PathBuf {
        self.dir.join("inputs.json")
    }

    /// Every input recorded, by hash.
    pub fn list(&self) -> Result<Vec<ServedInput>, ClientError> {
        Ok(self.read()?.inputs)
    }

    /// Records `files` (path, hash, size) as served, before an order names
    /// them: a file recorded again under the same hash keeps its orders and
    /// takes the new path.
    pub fn record(&self, files: &[(PathBuf, Hash, u64)]) -> Result<(), ClientError> {
        let now = now_ms();
        self.update(|record| {
            for (path, hash, size) in files {
                let path = std::path::absolute(path)?;
                match record.inputs.iter_mut().find(|i| i.hash == *hash) {
                    Some(known) => {
                        known.path = path;
                        known.recorded_ms = now;
                    }
                    None => record.inputs.push(ServedInput {
                        hash: *hash,
                        path,
                        size: *size,
                        orders: Vec::new(),
                        recorded_ms: now,
                    }),
                }
            }
            Ok(())
        })
    }

    /// Notes that `orders` name the inputs `hashes`.
    pub fn named_by(&self, hashes: &[Hash], orders: &[OrderId]) -> Result<(), ClientError> {
        self.update(|record| {
            for input in record
                .inputs
                .iter_mut()
                .filter(|i| hashes.contains(&i.hash))
            {
                input.orders.extend_from_slice(orders);
                input.orders.sort_unstable();
                input.orders.dedup();
            }
            Ok(())
        })
    }

    /// Drops the inputs no open order needs: those whose orders all closed
    /// (`closed` says which), and those no order named within a day.
    /// Returns how many were dropped.
    pub fn prune(&self, closed: impl Fn(OrderId) -> bool) -> Result<usize, ClientError> {
        let now = now_ms();
        let mut dropped = 0;
        self.update(|record| {
            let before = record.inputs.len();
            record.inputs.retain(|input| {
                if input.orders.is_empty() {
                    now.saturating_sub(input.recorded_ms) < UNNAMED_FOR_MS
                } else {
                    !input.orders.iter().all(|order| closed(*order))
                }
            });
            dropped = before - record.inputs.len();
            Ok(())
        })?;
        Ok(dropped)
    }

    /// Reads, changes and writes the record under a lock on it, so that two
    /// submissions at once both land.
    fn update(
        &self,
        change: impl FnOnce(&mut Record) -> std::io::Result<()>,
    ) -> Result<(), ClientError> {
        let lock = std::fs::File::create(self.dir.join("inputs.lock"))?;
        lock.lock()?;
        let mut record = self.read()?;
        change(&mut record)?;
        record.inputs.sort_by_key(|i| i.hash);
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        serde_json::to_writer_pretty(&mut file, &record).map_err(std::io::Error::other)?;
        file.persist(self.path())
            .map_err(|e| ClientError::Io(e.error))?;
        Ok(())
    }

    fn read(&self) -> Result<Record, ClientError> {
        let path = self.path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                ClientError::Invalid(format!("the served inputs' record {}: {e}", path.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Record::default()),
            Err(e) => Err(e.into()),
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Serving this account's own blobs: who may read them.
#[cfg(feature = "p2p")]
mod gate {
    use crate::NodeClient;
    use gpunet_p2p::ReadGate;
    use gpunet_primitives::{Address, Hash};
    use std::future::Future;
    use std::pin::Pin;

    /// Lets a provider read a blob when it holds a lease (preparing or
    /// running) of one of `client`'s orders whose spec names the blob as an
    /// input or as its pushed image.
    #[derive(Clone)]
    pub struct OwnOrdersGate {
        node: NodeClient,
        client: Address,
    }

    impl OwnOrdersGate {
        /// A gate for `client`'s orders, asking `node` about readers' leases.
        pub fn new(node: NodeClient, client: Address) -> OwnOrdersGate {
            OwnOrdersGate { node, client }
        }
    }

    impl ReadGate for OwnOrdersGate {
        fn may_read(
            &self,
            reader: Address,
            blob: Hash,
        ) -> Pin<Box<dyn Future<Output = bool> + Send>> {
            let gate = self.clone();
            Box::pin(async move {
                match gate.node.provider_leases(&reader).await {
                    Ok(leases) => leases.iter().any(|lease| {
                        lease.client == gate.client
                            && (lease.spec.inputs.iter().any(|input| input.hash == blob)
                                || lease
                                    .spec
                                    .image_blob
                                    .is_some_and(|image| image.hash == blob))
                    }),
                    Err(e) => {
                        tracing::warn!("cannot ask the node about {reader}'s leases: {e}");
                        false
                    }
                }
            })
        }
    }
}

#[cfg(feature = "p2p")]
pub use gate::OwnOrdersGate;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_inputs_are_recorded_named_and_pruned_when_their_orders_close() {
        let dir = tempfile::tempdir().unwrap();
        let served = ServedInputs::open(dir.path()).unwrap();
        let (a, b) = (Hash::digest(b"a"), Hash::digest(b"b"));
        served
            .record(&[
                (dir.path().join("a.bin"), a, 1),
                (dir.path().join("b.bin"), b, 1),
            ])
            .unwrap();
        served.named_by(&[a], &[7, 8]).unwrap();
        served.named_by(&[a, b], &[9]).unwrap();
        let listed = served.list().unwrap();
        assert_eq!(listed.len(), 2);
        let orders_of = |hash: Hash| {
            served
                .list()
                .unwrap()
                .into_iter()
                .find(|i| i.hash == hash)
                .map(|i| i.orders)
        };
        assert_eq!(orders_of(a), Some(vec![7, 8, 9]));
        assert_eq!(orders_of(b), Some(vec![9]));
        assert!(listed.iter().all(|i| i.path.is_absolute()));

        // Order 9 closed: b has no open order left, a still has 7 and 8.
        assert_eq!(served.prune(|order| order == 9).unwrap(), 1);
        assert_eq!(orders_of(b), None);
        assert_eq!(orders_of(a), Some(vec![7, 8, 9]));
        // A recorded input no order names yet stays (its order is on its way).
        let c = Hash::digest(b"c");
        served.record(&[(dir.path().join("c.bin"), c, 1)]).unwrap();
        assert_eq!(served.prune(|_| true).unwrap(), 1);
        assert_eq!(orders_of(c), Some(vec![]));
    }
}
