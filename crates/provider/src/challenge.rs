//! Answering hardware challenges: compute the commitment on this machine's
//! hardware, commit, wait for the drawn rows, open them.

use crate::hardware::Hardware;
use gpunet_client::{ClientError, Wallet};
use gpunet_poc::{Backend, Challenge, Commitment, ComputeClass, CPU_CLASS};
use gpunet_primitives::{ChallengeId, TxBody};
use gpunet_types::ChallengePhase;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

/// The backend this machine proves with: the GPUs it offers, when they are of
/// a GPU class (the agent needs the `cuda` feature), else its CPUs. A machine
/// that offers GPUs of a GPU class must prove on them: on the CPU every
/// challenge of its class would miss its deadline and be slashed, so that is
/// an error, raised before anything is staked.
pub fn local_backend(hardware: &Hardware) -> Result<Arc<dyn Backend>, NoGpuProver> {
    let cpu = || -> Arc<dyn Backend> { Arc::new(gpunet_poc::CpuBackend::default()) };
    let Some(gpu) = hardware.offered_gpus().next() else {
        return Ok(cpu());
    };
    let class = ComputeClass::of_model(Some(&gpu.name));
    if class == CPU_CLASS {
        // An unknown model is judged, and proven, as a CPU.
        return Ok(cpu());
    }
    #[cfg(feature = "cuda")]
    let no_gpu_prover =
        match gpunet_poc::cuda::CudaBackend::of_model(&gpu.name, hardware.offered_gpus().count()) {
            Ok(gpus) => return Ok(Arc::new(gpus)),
            Err(e) => e.to_string(),
        };
    #[cfg(not(feature = "cuda"))]
    let no_gpu_prover = "this agent was built without the `cuda` feature".to_string();
    Err(NoGpuProver {
        model: gpu.name.clone(),
        class: class.name,
        why: no_gpu_prover,
    })
}

/// A machine that offers GPUs of a GPU class but cannot prove on them.
#[derive(Debug, thiserror::Error)]
#[error(
    "this machine offers {model} GPUs, proven as class {class}, but the agent can only prove \
     on the CPU ({why}), which cannot meet that class's challenge deadlines: build it with \
     `--features cuda` where the NVIDIA driver, cuBLASLt and NVRTC are installed"
)]
pub struct NoGpuProver {
    /// The GPU model offered.
    pub model: String,
    /// The class the ledger proves that model as.
    pub class: &'static str,
    /// Why no GPU prover could be made here.
    pub why: String,
}

/// Why a hardware challenge went unanswered.
#[derive(Debug, thiserror::Error)]
pub enum ChallengeError {
    /// The node could not be asked or told.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The proving thread died.
    #[error("the prover stopped: {0}")]
    Prover(String),
    /// The node sent a challenge no honest chain issues (its shape is out
    /// of poc's bounds): it is not answered.
    #[error("challenge {id} cannot be answered: {source}")]
    Shape {
        /// The challenge.
        id: ChallengeId,
        /// What is out of bounds.
        source: gpunet_poc::ShapeError,
    },
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
    let task = open.challenge;
    let challenge = Challenge::new(task.seed, task.rows, task.inner, task.cols)
        .map_err(|source| ChallengeError::Shape { id, source })?;
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

/// An agent built without the `cuda` feature (with it, the GPUs of this
/// machine, if any, would answer).
#[cfg(all(test, not(feature = "cuda")))]
mod tests {
    use super::*;
    use crate::hardware::GpuInfo;

    fn with_gpu(name: &str) -> Hardware {
        let mut hardware = crate::hardware::detect(std::path::Path::new("/"));
        hardware.gpus = vec![GpuInfo {
            name: name.into(),
            uuid: "GPU-0".into(),
            vram_mb: 81_559,
            compute_capability: Some("9.0".into()),
            utilization_pct: None,
        }];
        hardware
    }

    #[test]
    fn a_machine_without_a_gpu_class_proves_on_the_cpu() {
        let mut hardware = with_gpu("Some Unknown Accelerator");
        assert_eq!(local_backend(&hardware).unwrap().name(), "cpu");
        hardware.gpus.clear();
        assert_eq!(local_backend(&hardware).unwrap().name(), "cpu");
    }

    #[test]
    fn an_agent_that_cannot_prove_on_its_gpus_refuses_to_offer_them() {
        let Err(e) = local_backend(&with_gpu("NVIDIA H100 80GB HBM3")) else {
            panic!("an H100 machine proving on the CPU would be slashed at its first challenge");
        };
        let e = e.to_string();
        assert!(
            e.contains("class H100") && e.contains("--features cuda"),
            "{e}"
        );
    }
}
