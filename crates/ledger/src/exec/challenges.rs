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

use super::emit;
use super::records::machine;
use super::staking::slash;
use super::{draw, Exec};
use crate::error::TxError;
use crate::state::HardwareChallenge;
use gpunet_poc::{sample_rows, verify_openings, ComputeClass, CPU_CLASS};
use gpunet_primitives::{hash_of, Address, ChallengeId, Hash, RowOpening};
use gpunet_types::{ChallengePhase, Event, HardwareStatus, Machine};

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

/// Issues a challenge to `machine` unless one is already open. The caller
/// stores the machine.
pub(crate) fn issue_challenge(ex: &mut Exec<'_>, machine: &mut Machine) {
    if machine.challenge.is_some() {
        return;
    }
    let id = ex.state.globals().next_challenge_id;
    ex.state.update_globals(|g| g.next_challenge_id += 1);
    let params = &ex.state.params;
    let class = challenge_class(machine);
    let seed = hash_of(&(b"gpunet-challenge", ex.parent, id, machine.id));
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
    let deadline_ms = ex.now_ms.saturating_add(allowed_ms);
    ex.state.challenges.insert(
        id,
        HardwareChallenge {
            id,
            machine: machine.id,
            owner: machine.owner,
            challenge,
            class: class.name.to_string(),
            issued_ms: ex.now_ms,
            commit_deadline_ms: deadline_ms,
            phase: ChallengePhase::AwaitingCommit,
        },
    );
    ex.state.challenge_deadlines.insert((deadline_ms, id), ());
    machine.challenge = Some(id);
    emit(
        ex,
        Event::ChallengeIssued {
            challenge: id,
            machine: machine.id,
            owner: machine.owner,
            deadline_ms,
        },
    );
}

fn owned_challenge(
    ex: &Exec<'_>,
    who: Address,
    id: ChallengeId,
) -> Result<HardwareChallenge, TxError> {
    let ch = ex
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
    ex: &mut Exec<'_>,
    owner: Address,
    id: ChallengeId,
    root: Hash,
) -> Result<(), TxError> {
    let mut ch = owned_challenge(ex, owner, id)?;
    if ch.phase != ChallengePhase::AwaitingCommit {
        return Err(TxError::ChallengeCommitted(id));
    }
    if ex.now_ms > ch.commit_deadline_ms {
        return Err(TxError::ChallengeLate(id));
    }
    ex.state
        .challenge_deadlines
        .remove(&(ch.commit_deadline_ms, id));
    ex.state.awaiting_beacon.insert((ex.height, id), ());
    ch.phase = ChallengePhase::Committed {
        root,
        committed_ms: ex.now_ms,
        height: ex.height,
    };
    ex.state.challenges.insert(id, ch);
    Ok(())
}

/// Draws the rows of challenges committed in the previous block from its
/// hash (this block's parent). Runs before the block's transactions.
pub(crate) fn draw_challenge_rows(ex: &mut Exec<'_>) {
    let due: Vec<(u64, ChallengeId)> = ex
        .state
        .awaiting_beacon
        .range(..(ex.height, 0))
        .map(|(k, _)| *k)
        .collect();
    for key in due {
        ex.state.awaiting_beacon.remove(&key);
        let Some(mut ch) = ex.state.challenges.get(&key.1).cloned() else {
            continue;
        };
        let ChallengePhase::Committed {
            root, committed_ms, ..
        } = ch.phase
        else {
            continue;
        };
        let beacon = ex.parent;
        let rows = sample_rows(
            &ch.challenge,
            &root,
            &beacon,
            ex.state.params.challenge_openings,
        );
        let deadline_ms = ex.now_ms.saturating_add(ex.state.params.challenge_open_ms);
        ex.state
            .challenge_deadlines
            .insert((deadline_ms, ch.id), ());
        ch.phase = ChallengePhase::Opening {
            root,
            committed_ms,
            beacon,
            rows,
            deadline_ms,
        };
        emit(
            ex,
            Event::ChallengeRowsDrawn {
                challenge: ch.id,
                machine: ch.machine,
                owner: ch.owner,
                deadline_ms,
            },
        );
        ex.state.challenges.insert(ch.id, ch);
    }
}

/// Checks the opened rows. A wrong answer is not a rejected transaction:
/// it is recorded, and the owner slashed.
pub(crate) fn open_challenge(
    ex: &mut Exec<'_>,
    owner: Address,
    id: ChallengeId,
    openings: &[RowOpening],
) -> Result<(), TxError> {
    let ch = owned_challenge(ex, owner, id)?;
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
    if ex.now_ms > *deadline_ms {
        return Err(TxError::ChallengeLate(id));
    }
    match verify_openings(&ch.challenge, root, beacon, rows, openings) {
        Ok(()) => {
            let mops = ComputeClass::achieved_mops(&ch.challenge, committed_ms - ch.issued_ms);
            pass_challenge(ex, &ch, mops)
        }
        Err(fault) => fail_challenge(ex, &ch, &fault.to_string()),
    }
}

/// Removes a decided challenge and whatever index entry its phase holds.
fn close_challenge(ex: &mut Exec<'_>, ch: &HardwareChallenge) {
    ex.state.challenges.remove(&ch.id);
    match (&ch.phase, ch.deadline_key()) {
        (ChallengePhase::Committed { height, .. }, _) => {
            ex.state.awaiting_beacon.remove(&(*height, ch.id));
        }
        (_, Some(key)) => {
            ex.state.challenge_deadlines.remove(&key);
        }
        (_, None) => {}
    }
}

/// Records a passed challenge that measured `mops` mega-ops/s.
pub(crate) fn pass_challenge(
    ex: &mut Exec<'_>,
    ch: &HardwareChallenge,
    mops: u64,
) -> Result<(), TxError> {
    let gops = mops / 1_000;
    close_challenge(ex, ch);
    let mut machine = machine(ex, ch.machine)?;
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
    emit(
        ex,
        Event::ChallengePassed {
            challenge: ch.id,
            machine: ch.machine,
            owner: ch.owner,
            gops,
        },
    );
    if own != CPU_CLASS && machine.challenges_passed == 1 {
        // Its CPUs are measured right after its GPUs were first proven.
        issue_challenge(ex, &mut machine);
    } else {
        // The next challenge comes at a time the owner cannot predict:
        // uniformly within [interval/2, 3·interval/2).
        let interval = ex.state.params.challenge_interval_ms;
        let jitter = draw(hash_of(&(b"gpunet-next-challenge", ex.parent, ch.id))) % interval;
        let due = ex.now_ms.saturating_add(interval / 2 + jitter);
        ex.state.challenge_schedule.insert((due, ch.machine), ());
    }
    ex.state.put_machine(machine);
    Ok(())
}

pub(crate) fn fail_challenge(
    ex: &mut Exec<'_>,
    ch: &HardwareChallenge,
    reason: &str,
) -> Result<(), TxError> {
    close_challenge(ex, ch);
    let mut machine = machine(ex, ch.machine)?;
    machine.challenge = None;
    machine.hardware = HardwareStatus::Failed;
    machine.online = false;
    ex.state.put_machine(machine);
    let slashed = slash(
        ex,
        ch.owner,
        ex.state.params.slash_challenge,
        "hardware challenge failed",
    )?;
    emit(
        ex,
        Event::ChallengeFailed {
            challenge: ch.id,
            machine: ch.machine,
            owner: ch.owner,
            reason: reason.to_string(),
            slashed,
        },
    );
    Ok(())
}

/// Fails challenges past their deadline, and issues the scheduled ones.
pub(crate) fn run_challenges(ex: &mut Exec<'_>) -> Result<(), TxError> {
    let expired = ex.state.challenge_deadlines.due(ex.now_ms);
    for key in expired {
        ex.state.challenge_deadlines.remove(&key);
        let Some(ch) = ex.state.challenges.get(&key.1).cloned() else {
            continue;
        };
        let reason = match ch.phase {
            ChallengePhase::AwaitingCommit => {
                "no commitment by the deadline (too slow for its claimed hardware, or offline)"
            }
            _ => "the drawn rows were not opened by the deadline",
        };
        fail_challenge(ex, &ch, reason)?;
    }
    let due = ex.state.challenge_schedule.due(ex.now_ms);
    for key in due {
        ex.state.challenge_schedule.remove(&key);
        let Some(mut machine) = ex.state.machines.get(&key.1).cloned() else {
            continue;
        };
        if machine.online && machine.hardware == HardwareStatus::Verified {
            issue_challenge(ex, &mut machine);
            ex.state.put_machine(machine);
        }
    }
    Ok(())
}
