//! Hardware challenges: each one answered once, on its own task.

use super::{log, warn, Inner};
use gpunet_primitives::ChallengeId;
use std::sync::Arc;
use tokio::task::JoinSet;
use tracing::Instrument;

impl Inner {
    /// Answers challenge `id`, issued at block `issued_at` or before.
    pub(super) fn spawn_challenge(
        self: Arc<Self>,
        id: ChallengeId,
        issued_at: u64,
        tasks: &mut JoinSet<()>,
    ) {
        if !self.answering.lock().expect("answering set").insert(id) {
            return;
        }
        let span = tracing::info_span!("challenge", challenge = id);
        tasks.spawn(
            async move {
                log(&self, &format!("answering hardware challenge {id}"));
                let answered = match self.caught_up_to(issued_at).await {
                    Ok(()) => crate::challenge::answer(&self.wallet, self.prover.clone(), id)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                if let Err(e) = answered {
                    warn(&self, &format!("challenge {id}: {e}"));
                }
                self.answering.lock().expect("answering set").remove(&id);
            }
            .instrument(span),
        );
    }
}
