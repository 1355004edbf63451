//! Dispatch: each ledger event about this provider becomes the task it calls
//! for (a lease to run, a probe to answer, a challenge to prove) or a note.

use super::{log, warn, Inner};
use crate::metrics::ChallengeOutcome;
use gpunet_primitives::OrderId;
use gpunet_types::{BlockEvent, Event};
use std::sync::Arc;
use tokio::task::JoinSet;

/// Whether the agent goes on after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    /// Its machine was removed from the network: nothing is left to serve.
    Removed,
}

impl Inner {
    /// Acts on one event of this provider's event stream; tasks it starts
    /// go into `jobs`, and read the ledger as of the event's block or later.
    pub(super) async fn dispatch(
        self: &Arc<Self>,
        BlockEvent { height, event }: BlockEvent,
        jobs: &mut JoinSet<()>,
    ) -> Flow {
        let me = self.wallet.address();
        match event {
            Event::OrderLeased {
                order, provider, ..
            } if provider == me => {
                self.clone().spawn_job(order, height, jobs);
            }
            Event::LivenessProbe {
                order, provider, ..
            } if provider == me => {
                self.clone().answer_probe(order, height, jobs);
            }
            // Its renter ended it asking to save its workspace: the task
            // running it stops the container and saves.
            Event::WorkspaceSaveAsked {
                order, provider, ..
            } if provider == me => self.notify_lease_end(order),
            Event::OrderTimedOut {
                order, provider, ..
            } if provider == me => {
                self.notify_lease_end(order);
                self.paid(order, 0);
            }
            // Stopped, or a rental's time ran out: paid for the time it ran.
            Event::RentalEnded {
                order,
                provider,
                paid,
                ..
            }
            | Event::JobStopped {
                order,
                provider,
                paid,
                ..
            } if provider == me => {
                self.notify_lease_end(order);
                self.paid(order, paid);
            }
            // Timed out and matched again: gone from this machine.
            Event::OrderRetried {
                order,
                provider,
                machine,
                ..
            } if provider == me && machine == self.machine => {
                self.notify_lease_end(order);
                self.paid(order, 0);
            }
            Event::ChallengeIssued {
                challenge, owner, ..
            } if owner == me => {
                self.clone().spawn_challenge(challenge, height, jobs);
            }
            Event::ChallengePassed {
                challenge,
                machine,
                owner,
                gops,
                ..
            } if owner == me && machine == self.machine => {
                self.metrics
                    .challenge_ended(machine, ChallengeOutcome::Passed);
                log(
                    self,
                    &format!("passed hardware challenge {challenge} ({gops} GOPS)"),
                );
            }
            Event::ChallengeFailed {
                challenge,
                machine,
                owner,
                reason,
                ..
            } if owner == me && machine == self.machine => {
                self.metrics
                    .challenge_ended(machine, ChallengeOutcome::Failed);
                log(
                    self,
                    &format!(
                        "FAILED hardware challenge {challenge}: {reason}; the machine is \
                         delisted until the agent restarts and passes a new one"
                    ),
                );
            }
            Event::MachineDeregistered { machine, .. } if machine == self.machine => {
                log(
                    self,
                    &format!("machine {machine} was removed from the network; stopping"),
                );
                return Flow::Removed;
            }
            Event::OrderSettled {
                order,
                provider,
                paid,
                ..
            } if provider == me => self.paid(order, paid),
            Event::OrderFailed {
                order, provider, ..
            }
            | Event::OrderDeclined {
                order, provider, ..
            } if provider == me => self.paid(order, 0),
            Event::Slashed {
                provider, amount, ..
            } if provider == me => {
                self.metrics.slashed(&me, amount);
                if let Err(e) = self.ensure_stake().await {
                    warn(self, &format!("cannot restore stake after a slash: {e}"));
                }
            }
            _ => {}
        }
        Flow::Continue
    }

    /// Counts what the provider was paid for `order`, when this machine ran
    /// it; `paid` is 0 for a lease that ended unpaid.
    fn paid(&self, order: OrderId, paid: gpunet_primitives::Amount) {
        if self.unpaid.lock().expect("unpaid").remove(&order) {
            self.metrics.earned(self.machine, paid);
        }
    }

    /// Tells the task running lease `order` that the ledger ended it.
    fn notify_lease_end(&self, order: OrderId) {
        // notify_one keeps the signal if the task is not waiting yet; a
        // lease not registered yet finds out by polling.
        if let Some(ended) = self.ending.lock().expect("ending").get(&order) {
            ended.notify_one();
        }
    }
}
