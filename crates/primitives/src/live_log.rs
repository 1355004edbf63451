//! Live logs: what a running job writes to its stdout and stderr, pushed by
//! its provider to a node as it comes, so the job's owner can follow it
//! before the result (whose logs are the verified ones) exists. Only the
//! owner reads them: a rental's container may print secrets (a notebook's
//! token) to its logs.

use crate::{encode, Address, Keypair, OrderId, Signature};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// Most bytes one chunk carries.
pub const MAX_LOG_CHUNK_BYTES: usize = 64 * 1024;
/// Bytes a node keeps of each live log (its end): a follower polling every
/// second keeps up with a job writing less than this per second.
pub const LIVE_LOG_TAIL_BYTES: usize = 256 * 1024;

/// Which of a job's two logs.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    pub const BOTH: [LogStream; 2] = [LogStream::Stdout, LogStream::Stderr];

    pub fn name(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
}

impl std::str::FromStr for LogStream {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "stdout" => Ok(LogStream::Stdout),
            "stderr" => Ok(LogStream::Stderr),
            other => Err(format!("unknown log {other:?} (expected stdout or stderr)")),
        }
    }
}

/// Bytes a running job wrote to one of its logs, starting `offset` bytes into it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct LogChunk {
    /// So a chunk of one network's order passes for no other's.
    pub chain_id: String,
    pub order: OrderId,
    pub stream: LogStream,
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// A chunk signed by the provider whose machine runs the job: a node takes
/// live logs of an order only from the provider of its lease.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedLogChunk {
    pub chunk: LogChunk,
    pub provider: Address,
    pub signature: Signature,
}

impl LogChunk {
    fn sign_bytes(&self) -> Vec<u8> {
        encode(&("gpunet/log-chunk", self))
    }

    pub fn sign(self, key: &Keypair) -> SignedLogChunk {
        SignedLogChunk {
            signature: key.sign(&self.sign_bytes()),
            provider: key.address(),
            chunk: self,
        }
    }
}

impl SignedLogChunk {
    pub fn verify(&self) -> bool {
        self.provider
            .verify(&self.chunk.sign_bytes(), &self.signature)
    }
}

/// Most a [`LogRead`] may be valid ahead of a node's clock.
pub const MAX_LOG_READ_VALIDITY_MS: u64 = 10 * 60 * 1000;

/// An order's owner asking for its live logs, until `not_after_ms` (Unix
/// time, by the node's clock).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct LogRead {
    pub chain_id: String,
    pub order: OrderId,
    pub reader: Address,
    pub not_after_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedLogRead {
    pub read: LogRead,
    pub signature: Signature,
}

impl LogRead {
    fn sign_bytes(&self) -> Vec<u8> {
        encode(&("gpunet/log-read", self))
    }

    /// Signed by `key`, whose address must be `reader`.
    pub fn sign(self, key: &Keypair) -> SignedLogRead {
        SignedLogRead {
            signature: key.sign(&self.sign_bytes()),
            read: self,
        }
    }
}

impl SignedLogRead {
    pub fn verify(&self) -> bool {
        self.read
            .reader
            .verify(&self.read.sign_bytes(), &self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk() -> LogChunk {
        LogChunk {
            chain_id: "test".into(),
            order: 7,
            stream: LogStream::Stdout,
            offset: 3,
            bytes: b"hello\n".to_vec(),
        }
    }

    #[test]
    fn a_signed_chunk_verifies_and_any_change_breaks_it() {
        let key = Keypair::from_label("provider");
        let signed = chunk().sign(&key);
        assert!(signed.verify());
        assert_eq!(signed.provider, key.address());
        let mut moved = signed.clone();
        moved.chunk.offset = 4;
        assert!(!moved.verify());
        let mut other_order = signed.clone();
        other_order.chunk.order = 8;
        assert!(!other_order.verify());
        let mut other_chain = signed.clone();
        other_chain.chunk.chain_id = "main".into();
        assert!(!other_chain.verify());
        let mut impostor = signed;
        impostor.provider = Keypair::from_label("someone").address();
        assert!(!impostor.verify());
    }

    #[test]
    fn a_signed_read_verifies_only_as_signed() {
        let key = Keypair::from_label("client");
        let read = LogRead {
            chain_id: "test".into(),
            order: 7,
            reader: key.address(),
            not_after_ms: 1_000,
        };
        let signed = read.clone().sign(&key);
        assert!(signed.verify());
        let mut longer = signed.clone();
        longer.read.not_after_ms = 2_000;
        assert!(!longer.verify());
        let mut other = signed;
        other.read.order = 8;
        assert!(!other.verify());
        let forged = LogRead {
            reader: Keypair::from_label("someone").address(),
            ..read
        }
        .sign(&key);
        assert!(!forged.verify());
    }

    #[test]
    fn streams_parse_by_name() {
        for stream in LogStream::BOTH {
            assert_eq!(stream.name().parse::<LogStream>(), Ok(stream));
        }
        assert!("stdin".parse::<LogStream>().is_err());
    }
}
