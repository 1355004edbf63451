//! Answering hardware challenges: compute the commitment on this machine's
//! hardware, commit, wait for the drawn rows, open them.

use gpunet_client::{ClientError, Wallet};
use gpunet_ledger::ChallengePhase;
use gpunet_poc::{Backend, Commitment};
use gpunet_primitives::{ChallengeId, TxBody};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// The backend this machine proves with: its first GPU when the agent is built
/// with the `cuda` feature and one answers, else the CPU.
pub fn local_backend() -> Arc<dyn Backend> {
    #[cfg(feature = "cuda")]
    match gpunet_poc::cuda::CudaBackend::new(0) {
        Ok(gpu) => return Arc::new(gpu),
        Err(e) => eprintln!("proving on the CPU: {e}"),
    }
    Arc::new(gpunet_poc::CpuBackend::default())
}

#[derive(Debug, thiserror::Error)]
pub enum ChallengeError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("the prover stopped: {0}")]
    Prover(String),
}

/// Runs `work` on a blocking thread: proving takes whole cores for seconds.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ChallengeError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ChallengeError::Prover(e.to_string()))
}

/// Answers challenge `id` to the end, from whatever phase it is in (after a
/// restart the commitment is recomputed: it is a function of the challenge).
/// `backend` proves its own class; a CPU-class challenge (which measures a
/// GPU machine's CPUs in turn) is always proven on the CPU.
pub async fn answer(
    wallet: &Wallet,
    backend: Arc<dyn Backend>,
    id: ChallengeId,
) -> Result<(), ChallengeError> {
    let node = wallet.node();
    let open = node.challenge(id).await?;
    let backend: Arc<dyn Backend> = if open.class == gpunet_poc::CPU_CLASS.name {
        Arc::new(gpunet_poc::CpuBackend::default())
    } else {
        backend
    };
    let challenge = open.challenge;
    let prover = backend.clone();
    let commitment =
        blocking(move || Commitment::compute(prover.as_ref(), &challenge, &AtomicBool::new(false)))
            .await?
            .map_err(|e| ChallengeError::Prover(e.to_string()))?;
    let commitment = Arc::new(commitment);
    if open.phase == ChallengePhase::AwaitingCommit {
        wallet
            .send(TxBody::CommitChallenge {
                challenge: id,
                root: commitment.root(),
            })
            .await?;
    }
    // The rows are drawn from the hash of the block that took the commitment.
    let rows = loop {
        match node.challenge(id).await?.phase {
            ChallengePhase::Opening { rows, .. } => break rows,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let openings = {
        let commitment = commitment.clone();
        blocking(move || commitment.open(backend.as_ref(), &rows))
            .await?
            .map_err(|e| ChallengeError::Prover(e.to_string()))?
    };
    wallet
        .send(TxBody::OpenChallenge {
            challenge: id,
            openings,
        })
        .await?;
    Ok(())
}
