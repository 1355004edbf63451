//! Live logs of running jobs, kept in memory: the last bytes of each log of
//! the most recently active orders. Neither replicated nor persisted: the
//! verified logs are the result's; these only let a job's owner follow it
//! while it runs (`gpunet job logs --follow`). Written only by the order's
//! provider, read only by its client.

use gpunet_ledger::Ledger;
use gpunet_primitives::{
    LogStream, OrderId, RequestError, SignedLogChunk, SignedLogRead, LIVE_LOG_TAIL_BYTES,
    MAX_LOG_CHUNK_BYTES,
};
use gpunet_types::OrderStatus;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

/// Orders whose live logs are kept; the least recently written is dropped first.
pub const LIVE_LOG_ORDERS: usize = 1024;

/// Why a live-log chunk or read is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LiveLogError {
    /// The signed request itself does not hold.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// A chunk over the limit.
    #[error("a log chunk carries at most {MAX_LOG_CHUNK_BYTES} bytes; this one has {0}")]
    TooLarge(usize),
    /// No such order.
    #[error("unknown order {0}")]
    UnknownOrder(OrderId),
    /// A chunk signed by someone else than the order's provider.
    #[error("order {0} is not leased to the chunk's signer")]
    NotTheProvider(OrderId),
    /// A chunk for an order that does not run.
    #[error("order {0} is not running")]
    NotRunning(OrderId),
    /// A read by someone else than the order's client.
    #[error("only the client of order {0} reads its live logs")]
    NotTheOwner(OrderId),
}

/// The kept end of one log: bytes `start..start + bytes.len()` of it.
#[derive(Default)]
struct Tail {
    start: u64,
    bytes: VecDeque<u8>,
}

impl Tail {
    fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    fn append(&mut self, offset: u64, bytes: &[u8]) {
        if offset > self.end() {
            // A gap (this node missed bytes): what follows starts afresh.
            self.bytes.clear();
            self.start = offset;
        }
        // Bytes already held are skipped, so a resent chunk changes nothing.
        let known = usize::try_from(self.end() - offset).unwrap_or(usize::MAX);
        self.bytes.extend(bytes.iter().skip(known));
        let excess = self.bytes.len().saturating_sub(LIVE_LOG_TAIL_BYTES);
        self.bytes.drain(..excess);
        self.start += excess as u64;
    }

    /// The kept bytes from `from` on (from the first kept byte if `from` was
    /// dropped, from the end if it is past it), and the offset they start at.
    fn read(&self, from: u64) -> (u64, Vec<u8>) {
        let offset = from.clamp(self.start, self.end());
        let skip = (offset - self.start) as usize;
        (offset, self.bytes.iter().skip(skip).copied().collect())
    }
}

struct OrderLogs {
    /// The lease the logs are of: a declined order's next run starts afresh.
    lease_start_ms: u64,
    tails: [Tail; 2],
    touched: u64,
}

#[derive(Default)]
struct Logs {
    orders: BTreeMap<OrderId, OrderLogs>,
    writes: u64,
}

/// The live logs of running orders, in memory: the tail of each log of the
/// most recently written orders.
#[derive(Default)]
pub struct LiveLogs {
    logs: Mutex<Logs>,
}

impl LiveLogs {
    /// Keeps a chunk pushed at `now_ms` by the provider running its order.
    pub fn push(
        &self,
        ledger: &Ledger,
        signed: &SignedLogChunk,
        now_ms: u64,
    ) -> Result<(), LiveLogError> {
        let chunk = &signed.body;
        if chunk.bytes.len() > MAX_LOG_CHUNK_BYTES {
            return Err(LiveLogError::TooLarge(chunk.bytes.len()));
        }
        signed.check(ledger.chain_id(), now_ms)?;
        let order = ledger
            .order(chunk.order)
            .ok_or(LiveLogError::UnknownOrder(chunk.order))?;
        let lease = order
            .lease()
            .filter(|l| l.provider == signed.signer)
            .ok_or(LiveLogError::NotTheProvider(chunk.order))?;
        if order.status() != OrderStatus::Running {
            return Err(LiveLogError::NotRunning(chunk.order));
        }
        let mut logs = self.logs.lock().expect("live logs lock");
        logs.writes += 1;
        let touched = logs.writes;
        if !logs.orders.contains_key(&chunk.order) && logs.orders.len() >= LIVE_LOG_ORDERS {
            let stalest = logs
                .orders
                .iter()
                .min_by_key(|(_, o)| o.touched)
                .map(|(id, _)| *id);
            stalest.map(|id| logs.orders.remove(&id));
        }
        let fresh = || OrderLogs {
            lease_start_ms: lease.start_ms,
            tails: Default::default(),
            touched,
        };
        let entry = logs.orders.entry(chunk.order).or_insert_with(fresh);
        if entry.lease_start_ms != lease.start_ms {
            *entry = fresh();
        }
        entry.touched = touched;
        entry.tails[chunk.stream as usize].append(chunk.offset, &chunk.bytes);
        Ok(())
    }

    /// Checks that `read` is a current, signed request of the order's client.
    pub fn authorize(
        ledger: &Ledger,
        read: &SignedLogRead,
        now_ms: u64,
    ) -> Result<(), LiveLogError> {
        read.check(ledger.chain_id(), now_ms)?;
        let id = read.body.order;
        let order = ledger.order(id).ok_or(LiveLogError::UnknownOrder(id))?;
        if order.client != read.signer {
            return Err(LiveLogError::NotTheOwner(id));
        }
        Ok(())
    }

    /// What this node holds of `order`'s `stream` from byte `from` on, and
    /// the offset it starts at; `None` if it holds nothing of the order.
    pub fn read(&self, order: OrderId, stream: LogStream, from: u64) -> Option<(u64, Vec<u8>)> {
        let logs = self.logs.lock().expect("live logs lock");
        let entry = logs.orders.get(&order)?;
        Some(entry.tails[stream as usize].read(from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail_of(pieces: &[(u64, &[u8])]) -> Tail {
        let mut tail = Tail::default();
        for (offset, bytes) in pieces {
            tail.append(*offset, bytes);
        }
        tail
    }

    #[test]
    fn appends_in_order_and_ignores_what_it_already_holds() {
        let tail = tail_of(&[(0, b"hello "), (6, b"world"), (3, b"lo world!"), (0, b"he")]);
        assert_eq!(tail.read(0), (0, b"hello world!".to_vec()));
        assert_eq!(tail.read(6), (6, b"world!".to_vec()));
        assert_eq!(tail.read(100), (12, Vec::new()));
    }

    #[test]
    fn a_gap_restarts_the_tail_at_the_new_offset() {
        let tail = tail_of(&[(0, b"abc"), (10, b"xyz")]);
        assert_eq!(tail.read(0), (10, b"xyz".to_vec()));
    }

    #[test]
    fn keeps_only_the_last_bytes() {
        let big = vec![b'a'; LIVE_LOG_TAIL_BYTES];
        let tail = tail_of(&[(0, &big), (big.len() as u64, b"tail")]);
        let (offset, bytes) = tail.read(0);
        assert_eq!(offset, 4);
        assert_eq!(bytes.len(), LIVE_LOG_TAIL_BYTES);
        assert!(bytes.ends_with(b"atail"));
    }
}
