//! A job's logs: live while it runs (pushed by its provider, kept by nodes,
//! not verified, for its client only), then the result's (verified against
//! the output root).

use crate::error::ClientError;
use crate::jobs::read_output;
use crate::wallet::{unix_ms, Wallet};
use gpunet_primitives::{JobOutcome, LogRead, LogStream, OrderId, SignedLogRead};
use gpunet_types::{OrderStatus, OrderView};
use std::time::{Duration, SystemTime};

/// What following a log yields, in the order the job wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogPiece {
    /// Bytes the job wrote to a log.
    Bytes(LogStream, Vec<u8>),
    /// Bytes written that no node kept (the job wrote faster than it was followed).
    Skipped(LogStream, u64),
}

/// The path of a log in a result's manifest.
pub fn result_path(stream: LogStream) -> String {
    format!("logs/{}.log", stream.name())
}

/// Where a reader of both logs is: the next byte it wants of each.
#[derive(Default)]
struct Position([u64; 2]);

impl Position {
    fn at(&mut self, stream: LogStream) -> &mut u64 {
        &mut self.0[stream as usize]
    }

    /// The new part of `bytes`, which start at `offset` of `stream`.
    fn advance(&mut self, stream: LogStream, offset: u64, bytes: Vec<u8>) -> Vec<LogPiece> {
        let seen = self.at(stream);
        let mut pieces = Vec::new();
        if offset > *seen {
            pieces.push(LogPiece::Skipped(stream, offset - *seen));
        }
        let known = usize::try_from(seen.saturating_sub(offset)).unwrap_or(usize::MAX);
        let end = offset + bytes.len() as u64;
        if bytes.len() > known {
            pieces.push(LogPiece::Bytes(stream, bytes[known..].to_vec()));
        }
        *seen = (*seen).max(end);
        pieces
    }
}

/// How long before its end a signed read request is renewed.
const READ_RENEWAL: Duration = Duration::from_secs(60);

/// The order's client reading its live logs: signs read requests, renewed
/// before they expire.
struct LiveReader<'a> {
    wallet: &'a Wallet,
    order: OrderId,
    signed: Option<SignedLogRead>,
}

impl<'a> LiveReader<'a> {
    fn new(wallet: &'a Wallet, order: OrderId) -> LiveReader<'a> {
        LiveReader {
            wallet,
            order,
            signed: None,
        }
    }

    async fn read(
        &mut self,
        stream: LogStream,
        from: u64,
    ) -> Result<Option<(u64, Vec<u8>)>, ClientError> {
        let renew_by = unix_ms(SystemTime::now() + READ_RENEWAL);
        if self
            .signed
            .as_ref()
            .is_none_or(|s| s.not_after_ms < renew_by)
        {
            let read = LogRead { order: self.order };
            self.signed = Some(self.wallet.sign_request(read).await?);
        }
        let signed = self.signed.as_ref().expect("signed above");
        self.wallet.node().live_log(signed, stream, from).await
    }
}

/// Whether `order`'s logs can change no more: it reported, or closed without running.
fn logs_done(order: &OrderView) -> bool {
    order.report.is_some() || !order.status.is_open()
}

/// The result's logs of `order`, verified, if it reported any.
async fn result_logs(
    wallet: &Wallet,
    order: &OrderView,
) -> Result<Option<[Vec<u8>; 2]>, ClientError> {
    if !matches!(
        order.report.as_ref().map(|r| &r.outcome),
        Some(JobOutcome::Completed { .. })
    ) {
        return Ok(None);
    }
    let stdout = read_output(wallet, order, &result_path(LogStream::Stdout)).await?;
    let stderr = read_output(wallet, order, &result_path(LogStream::Stderr)).await?;
    Ok(Some([stdout, stderr]))
}

/// Calls `sink` with what order `id` (of `wallet`'s account) writes to its
/// logs, as it writes it, until the order reports (the rest then comes from
/// the result's logs) or closes without a result. Polls live logs every
/// `poll`. Returns the order as it was last read.
pub async fn follow_logs(
    wallet: &Wallet,
    id: OrderId,
    poll: Duration,
    mut sink: impl FnMut(LogPiece),
) -> Result<OrderView, ClientError> {
    let node = wallet.node();
    let mut reader = LiveReader::new(wallet, id);
    let mut position = Position::default();
    let mut lease_start = None;
    loop {
        let order = node.order(id).await?;
        let start = order.lease.as_ref().map(|l| l.start_ms);
        if start != lease_start {
            // Declined and leased again: the new run's logs start afresh.
            position = Position::default();
            lease_start = start;
        }
        if logs_done(&order) {
            if let Some(logs) = result_logs(wallet, &order).await? {
                for (stream, bytes) in LogStream::BOTH.into_iter().zip(logs) {
                    let resumed = position.advance(stream, 0, bytes);
                    // The result's logs are complete: nothing in them was skipped.
                    resumed.into_iter().for_each(&mut sink);
                }
            }
            return Ok(order);
        }
        if order.status == OrderStatus::Running {
            for stream in LogStream::BOTH {
                let from = *position.at(stream);
                if let Some((offset, bytes)) = reader.read(stream, from).await? {
                    position
                        .advance(stream, offset, bytes)
                        .into_iter()
                        .for_each(&mut sink);
                }
            }
        }
        tokio::time::sleep(poll).await;
    }
}

/// A job's logs as they are now: the result's (verified) once it reported,
/// else what nodes keep of the live ones (for the order's client, `wallet`);
/// `live` says which.
pub async fn current_logs(wallet: &Wallet, order: &OrderView) -> Result<CurrentLogs, ClientError> {
    if let Some([stdout, stderr]) = result_logs(wallet, order).await? {
        return Ok(CurrentLogs {
            live: false,
            stdout,
            stderr,
        });
    }
    if order.status != OrderStatus::Running {
        return Err(ClientError::Invalid(format!(
            "order {} has no logs (status {})",
            order.id, order.status
        )));
    }
    let mut reader = LiveReader::new(wallet, order.id);
    let mut live = [Vec::new(), Vec::new()];
    for stream in LogStream::BOTH {
        if let Some((_, bytes)) = reader.read(stream, 0).await? {
            live[stream as usize] = bytes;
        }
    }
    let [stdout, stderr] = live;
    Ok(CurrentLogs {
        live: true,
        stdout,
        stderr,
    })
}

/// See [`current_logs`].
pub struct CurrentLogs {
    /// Whether these are a running job's live logs (unverified, maybe only their end).
    pub live: bool,
    /// What it wrote to stdout.
    pub stdout: Vec<u8>,
    /// What it wrote to stderr.
    pub stderr: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(stream: LogStream, b: &[u8]) -> LogPiece {
        LogPiece::Bytes(stream, b.to_vec())
    }

    #[test]
    fn a_reader_gets_each_byte_once_and_hears_of_gaps() {
        use LogStream::{Stderr, Stdout};
        let mut p = Position::default();
        assert_eq!(
            p.advance(Stdout, 0, b"abc".to_vec()),
            [bytes(Stdout, b"abc")]
        );
        // A node holding less than the reader has seen, then more.
        assert_eq!(p.advance(Stdout, 1, b"bc".to_vec()), []);
        assert_eq!(
            p.advance(Stdout, 1, b"bcde".to_vec()),
            [bytes(Stdout, b"de")]
        );
        // Bytes 5..8 were never kept.
        assert_eq!(
            p.advance(Stdout, 8, b"xy".to_vec()),
            [LogPiece::Skipped(Stdout, 3), bytes(Stdout, b"xy")]
        );
        assert_eq!(p.advance(Stderr, 0, Vec::new()), []);
        assert_eq!(p.advance(Stderr, 0, b"e".to_vec()), [bytes(Stderr, b"e")]);
        // The complete result's logs: only what was not printed yet.
        assert_eq!(
            p.advance(Stdout, 0, b"abcde---xyz\n".to_vec()),
            [bytes(Stdout, b"z\n")]
        );
    }
}
