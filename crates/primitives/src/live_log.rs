//! Live logs: what a running job writes to its stdout and stderr, pushed by
//! its provider to a node as it comes, so the job's owner can follow it
//! before the result (whose logs are the verified ones) exists. Only the
//! owner reads them: a rental's container may print secrets (a notebook's
//! token) to its logs.

use crate::{OrderId, RequestBody, SignedRequest};
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// The job's standard output.
    Stdout,
    /// The job's standard error.
    Stderr,
}

impl LogStream {
    /// Both logs, stdout first.
    pub const BOTH: [LogStream; 2] = [LogStream::Stdout, LogStream::Stderr];

    /// Its name in URLs and files: `stdout` or `stderr`.
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

/// Bytes a running job wrote to one of its logs, starting `offset` bytes into
/// it. Signed by the provider whose machine runs the job: a node takes live
/// logs of an order only from the provider of its lease.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct LogChunk {
    /// The running order.
    pub order: OrderId,
    /// Which log.
    pub stream: LogStream,
    /// Where in the log `bytes` start.
    pub offset: u64,
    /// What the job wrote (at most `MAX_LOG_CHUNK_BYTES`).
    pub bytes: Vec<u8>,
}

impl RequestBody for LogChunk {
    const DOMAIN: &'static str = "gpunet/log-chunk";
}

/// A [`LogChunk`], signed by the order's provider.
pub type SignedLogChunk = SignedRequest<LogChunk>;

/// An order's owner asking for its live logs.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct LogRead {
    /// The order whose logs are read.
    pub order: OrderId,
}

impl RequestBody for LogRead {
    const DOMAIN: &'static str = "gpunet/log-read";
}

/// A [`LogRead`], signed by the order's client.
pub type SignedLogRead = SignedRequest<LogRead>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_parse_by_name() {
        for stream in LogStream::BOTH {
            assert_eq!(stream.name().parse::<LogStream>(), Ok(stream));
        }
        assert!("stdin".parse::<LogStream>().is_err());
    }
}
