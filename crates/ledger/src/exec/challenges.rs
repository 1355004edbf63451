//! Hardware challenges (proof of compute, see the `gpunet-poc` crate).
//!
//! A machine is challenged when it registers, when it is re-listed after a
//! failure, and at random times while it is listed. The owner commits a root
//! by a deadline sized for the machine's claimed class; the rows to open are
//! drawn from the hash of the block that recorded the commitment (unknown when
//! it was made); the owner opens them and every validator checks them here.
//! A missed deadline, a wrong row or a refused opening slashes the owner and
//! delists the machine; a pass makes it eligible for leases and sets its
//! compute score.

use super::{draw, Exec};
use crate::error::TxError;
use gpunet_types::{ChallengePhase, Event, HardwareStatus, Machine};

use crate::state::HardwareChallenge;
use gpunet_poc::{sample_rows, verify_openings, ComputeClass, CPU_CLASS};
use gpunet_primitives::{hash_of, Address, ChallengeId, Hash, RowOpening};

/// The class a machine claims: its GPU model's, or the CPU class.
fn own_class(machine: &Machine) -> ComputeClass {
    ComputeClass::of_model(machine.spec.gpu.as_ref().map(|g| g.model.as_str()))
}

/// The class of a machine's next challenge: a machine of a GPU class
/// alternates between it and the CPU class (odd challenges measure its
/// CPUs, what CPU jobs run on), any other is always held to the CPU class.
fn challenge_class(machine: &Machine) -> ComputeClass {
    if machine.challenges_passed % 2 == 1 {
        CPU_CLASS
    } else {
        own_class(machine)
    }
}

impl Exec<'_> {
    /// Issues a challenge to `machine` unless one is already open. The caller
    /// stores the machine.
    pub(crate) fn issue_challenge(&mut self, machine: &mut Machine) {
        if machine.challenge.is_some() {
            return;
        }
        let id = self.state.globals().next_challenge_id;
        self.state.update_globals(|g| g.next_challenge_id += 1);
        let params = &self.state.params;
        let class = challenge_class(machine);
        let seed = hash_of(&(b"gpunet-challenge", self.parent, id, machine.id));
        // A CPU challenge is sized for every core claimed: the throughput
        // per core the ledger records (and bounds CPU jobs' time by) is then
        // proven, not divided by an unproven claim.
        let devices = if class == CPU_CLASS {
            machine.spec.cpu_cores
        } else {
            machine.spec.gpu_count()
        };
        let (challenge, allowed_ms) = class.plan(
            seed,
            devices,
            params.challenge_work_ms,
            params.challenge_latency_ms,
        );
        let deadline_ms = self.now_ms.saturating_add(allowed_ms);
        self.state.challenges.insert(
            id,
            HardwareChallenge {
                id,
                machine: machine.id,
                owner: machine.owner,
                challenge,
                class: class.name.to_string(),
                issued_ms: self.now_ms,
                commit_deadline_ms: deadline_ms,
                phase: ChallengePhase::AwaitingCommit,
            },
        );
        self.state.challenge_deadlines.insert((deadline_ms, id), ());
        machine.challenge = Some(id);
        self.emit(Event::ChallengeIssued {
            challenge: id,
            machine: machine.id,
            owner: machine.owner,
            deadline_ms,
        });
    }

    fn owned_challenge(&self, who: Address, id: ChallengeId) -> Result<HardwareChallenge, TxError> {
        let ch = self
            .state
            .challenges
            .get(&id)
            .cloned()
            .ok_or(TxError::UnknownChallenge(id))?;
        if ch.owner != who {
            return Err(TxError::NotYourChallenge(id));
        }
        Ok(ch)
    }

    pub(crate) fn commit_challenge(
        &mut self,
        owner: Address,
        id: ChallengeId,
        root: Hash,
    ) -> Result<(), TxError> {
        let mut ch = self.owned_challenge(owner, id)?;
        if ch.phase != ChallengePhase::AwaitingCommit {
            return Err(TxError::ChallengeCommitted(id));
        }
        if self.now_ms > ch.commit_deadline_ms {
            return Err(TxError::ChallengeLate(id));
        }
        self.state
            .challenge_deadlines
            .remove(&(ch.commit_deadline_ms, id));
        self.state.awaiting_beacon.insert((self.height, id), ());
        ch.phase = ChallengePhase::Committed {
            root,
            committed_ms: self.now_ms,
            height: self.height,
        };
        self.state.challenges.insert(id, ch);
        Ok(())
    }

    /// Draws the rows of challenges committed in the previous block from its
    /// hash (this block's parent). Runs before the block's transactions.
    pub(crate) fn draw_challenge_rows(&mut self) {
        let due: Vec<(u64, ChallengeId)> = self
            .state
            .awaiting_beacon
            .range(..(self.height, 0))
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            self.state.awaiting_beacon.remove(&key);
            let Some(mut ch) = self.state.challenges.get(&key.1).cloned() else {
                continue;
            };
            let ChallengePhase::Committed {
                root, committed_ms, ..
            } = ch.phase
            else {
                continue;
            };
            let beacon = self.parent;
            let rows = sample_rows(
                &ch.challenge,
                &root,
                &beacon,
                self.state.params.challenge_openings,
            );
            let deadline_ms = self
                .now_ms
                .saturating_add(self.state.params.challenge_open_ms);
            self.state
                .challenge_deadlines
                .insert((deadline_ms, ch.id), ());
            ch.phase = ChallengePhase::Opening {
                root,
                committed_ms,
                beacon,
                rows,
                deadline_ms,
            };
            self.emit(Event::ChallengeRowsDrawn {
                challenge: ch.id,
                machine: ch.machine,
                owner: ch.owner,
                deadline_ms,
            });
            self.state.challenges.insert(ch.id, ch);
        }
    }

    /// Checks the opened rows. A wrong answer is not a rejected transaction:
    /// it is recorded, and the owner slashed.
    pub(crate) fn open_challenge(
        &mut self,
        owner: Address,
        id: ChallengeId,
        openings: &[RowOpening],
    ) -> Result<(), TxError> {
        let ch = self.owned_challenge(owner, id)?;
        let ChallengePhase::Opening {
            root,
            committed_ms,
            beacon,
            rows,
            deadline_ms,
        } = &ch.phase
        else {
            return Err(TxError::ChallengeNotDrawn(id));
        };
        if self.now_ms > *deadline_ms {
            return Err(TxError::ChallengeLate(id));
        }
        match verify_openings(&ch.challenge, root, beacon, rows, openings) {
            Ok(()) => {
                let mops = ComputeClass::achieved_mops(&ch.challenge, committed_ms - ch.issued_ms);
                self.pass_challenge(&ch, mops)
            }
            Err(fault) => self.fail_challenge(&ch, &fault.to_string()),
        }
    }

    /// Removes a decided challenge and whatever index entry its phase holds.
    fn close_challenge(&mut self, ch: &HardwareChallenge) {
        self.state.challenges.remove(&ch.id);
        match (&ch.phase, ch.deadline_key()) {
            (ChallengePhase::Committed { height, .. }, _) => {
                self.state.awaiting_beacon.remove(&(*height, ch.id));
            }
            (_, Some(key)) => {
                self.state.challenge_deadlines.remove(&key);
            }
            (_, None) => {}
        }
    }

    /// Records a passed challenge that measured `mops` mega-ops/s.
    pub(crate) fn pass_challenge(
        &mut self,
        ch: &HardwareChallenge,
        mops: u64,
    ) -> Result<(), TxError> {
        let gops = mops / 1_000;
        self.close_challenge(ch);
        let mut machine = self.machine(ch.machine)?;
        machine.challenge = None;
        machine.hardware = HardwareStatus::Verified;
        let own = own_class(&machine);
        if ch.class == own.name {
            machine.compute_gops = gops;
        }
        if ch.class == CPU_CLASS.name {
            machine.cpu_mops = mops;
        }
        machine.challenges_passed += 1;
        self.emit(Event::ChallengePassed {
            challenge: ch.id,
            machine: ch.machine,
            owner: ch.owner,
            gops,
        });
        if own != CPU_CLASS && machine.challenges_passed == 1 {
            // Its CPUs are measured right after its GPUs were first proven.
            self.issue_challenge(&mut machine);
        } else {
            // The next challenge comes at a time the owner cannot predict:
            // uniformly within [interval/2, 3·interval/2).
            let interval = self.state.params.challenge_interval_ms;
            let jitter = draw(hash_of(&(b"gpunet-next-challenge", self.parent, ch.id))) % interval;
            let due = self.now_ms.saturating_add(interval / 2 + jitter);
            self.state.challenge_schedule.insert((due, ch.machine), ());
        }
        self.state.put_machine(machine);
        Ok(())
    }

    pub(crate) fn fail_challenge(
        &mut self,
        ch: &HardwareChallenge,
        reason: &str,
    ) -> Result<(), TxError> {
        self.close_challenge(ch);
        let mut machine = self.machine(ch.machine)?;
        machine.challenge = None;
        machine.hardware = HardwareStatus::Failed;
        machine.online = false;
        self.state.put_machine(machine);
        let slashed = self.slash(
            ch.owner,
            self.state.params.slash_challenge,
            "hardware challenge failed",
        )?;
        self.emit(Event::ChallengeFailed {
            challenge: ch.id,
            machine: ch.machine,
            owner: ch.owner,
            reason: reason.to_string(),
            slashed,
        });
        Ok(())
    }

    /// Fails challenges past their deadline, and issues the scheduled ones.
    pub(crate) fn run_challenges(&mut self) -> Result<(), TxError> {
        let expired = self.state.challenge_deadlines.due(self.now_ms);
        for key in expired {
            self.state.challenge_deadlines.remove(&key);
            let Some(ch) = self.state.challenges.get(&key.1).cloned() else {
                continue;
            };
            let reason = match ch.phase {
                ChallengePhase::AwaitingCommit => {
                    "no commitment by the deadline (too slow for its claimed hardware, or offline)"
                }
                _ => "the drawn rows were not opened by the deadline",
            };
            self.fail_challenge(&ch, reason)?;
        }
        let due = self.state.challenge_schedule.due(self.now_ms);
        for key in due {
            self.state.challenge_schedule.remove(&key);
            let Some(mut machine) = self.state.machines.get(&key.1).cloned() else {
                continue;
            };
            if machine.online && machine.hardware == HardwareStatus::Verified {
                self.issue_challenge(&mut machine);
                self.state.put_machine(machine);
            }
        }
        Ok(())
    }
}
