//! Hardware challenges: each one answered once, on its own task.

use super::{log, warn, Inner};
use gpunet_primitives::ChallengeId;
use std::sync::Arc;
use tokio::task::JoinSet;
use tracing::Instrument;

impl Inner {
    pub(super) fn spawn_challenge(self: Arc<Self>, id: ChallengeId, tasks: &mut JoinSet<()>) {
        if !self.answering.lock().expect("answering set").insert(id) {
            return;
        }
        let span = tracing::info_span!("challenge", challenge = id);
        tasks.spawn(
            async move {
                log(&self, &format!("answering hardware challenge {id}"));
                if let Err(e) =
                    crate::challenge::answer(&self.wallet, self.prover.clone(), id).await
                {
                    warn(&self, &format!("challenge {id}: {e}"));
                }
                self.answering.lock().expect("answering set").remove(&id);
            }
            .instrument(span),
        );
    }
}
