//! The provider's side of live logs: while a run goes on, what it writes to
//! its stdout and stderr is pushed to the node, signed, every
//! [`PUSH_PERIOD`], so its owner can follow it (`gpunet job logs --follow`).
//! The verified logs remain the result's.

use crate::executor::JobRun;
use gpunet_client::{ClientError, Wallet};
use gpunet_primitives::{LogChunk, LogStream, OrderId, LIVE_LOG_TAIL_BYTES, MAX_LOG_CHUNK_BYTES};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

pub(crate) const PUSH_PERIOD: Duration = Duration::from_millis(500);

/// Up to [`MAX_LOG_CHUNK_BYTES`] of the log at `path` from `from` on, and the
/// offset they start at: no earlier than the last bytes a node keeps, since
/// older ones would be dropped on arrival.
async fn next_chunk(path: &Path, from: u64) -> std::io::Result<(u64, Vec<u8>)> {
    let mut file = tokio::fs::File::open(path).await?;
    let len = file.metadata().await?.len();
    let offset = from.max(len.saturating_sub(LIVE_LOG_TAIL_BYTES as u64));
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    let mut bytes = Vec::new();
    file.take(MAX_LOG_CHUNK_BYTES as u64)
        .read_to_end(&mut bytes)
        .await?;
    Ok((offset, bytes))
}

/// Pushes `run`'s logs as they grow until the node refuses them (the order is
/// no longer running on this machine); a node out of reach is retried next
/// period. Runs until dropped otherwise.
pub(crate) async fn push(wallet: &Wallet, order: OrderId, run: &JobRun, log: impl Fn(&str)) {
    let mut pushed = [0u64; 2];
    loop {
        tokio::time::sleep(PUSH_PERIOD).await;
        for (stream, path) in [
            (LogStream::Stdout, &run.stdout),
            (LogStream::Stderr, &run.stderr),
        ] {
            loop {
                let Ok((offset, bytes)) = next_chunk(path, pushed[stream as usize]).await else {
                    break;
                };
                if bytes.is_empty() {
                    break;
                }
                let end = offset + bytes.len() as u64;
                let full = bytes.len() == MAX_LOG_CHUNK_BYTES;
                let chunk = LogChunk {
                    order,
                    stream,
                    offset,
                    bytes,
                };
                let Ok(chunk) = wallet.sign_request(chunk).await else {
                    break;
                };
                match wallet.node().push_live_log(&chunk).await {
                    Ok(()) => pushed[stream as usize] = end,
                    Err(ClientError::Api(e)) => {
                        log(&format!("stopped pushing order {order}'s live logs: {e}"));
                        return;
                    }
                    Err(_) => break,
                }
                if !full {
                    break;
                }
            }
        }
    }
}
