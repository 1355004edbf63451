//! The machine registry: providers declare machines, their prices and availability.

use super::challenges::issue_challenge;
use super::emit;
use super::records::machine;
use super::specs::check_machine;
use super::Exec;
use crate::error::TxError;
use gpunet_primitives::{Address, Amount, MachineId, MachineSpec, ResourcePrices};
use gpunet_types::{required_stake, Allocation, Event, HardwareStatus, Machine};

fn owned_machine(ex: &Exec<'_>, who: Address, id: MachineId) -> Result<Machine, TxError> {
    let machine = machine(ex, id)?;
    if machine.owner != who {
        return Err(TxError::NotYourMachine(id));
    }
    Ok(machine)
}

pub(crate) fn register_machine(
    ex: &mut Exec<'_>,
    owner: Address,
    spec: &MachineSpec,
    price_per_hour: Amount,
    resource_prices: ResourcePrices,
) -> Result<(), TxError> {
    check_machine(&ex.state.params, spec)?;
    let mut account = ex.state.account(&owner);
    account.machines += 1;
    account.gpus += spec.gpu_count();
    let need = required_stake(&ex.state.params, &account)?;
    if account.bonded < need {
        return Err(TxError::InsufficientStake {
            need,
            have: account.bonded,
        });
    }
    ex.state.put_account(owner, account);
    let id = ex.state.globals().next_machine_id;
    ex.state.update_globals(|g| g.next_machine_id += 1);
    let challenged = ex.state.params.hardware_challenges;
    let gpu_model_id = spec
        .gpu
        .as_ref()
        .map_or(0, |g| ex.state.gpu_model_id(&g.model));
    let mut machine = Machine {
        id,
        owner,
        spec: spec.clone(),
        price_per_hour,
        resource_prices,
        online: true,
        registered_ms: ex.now_ms,
        allocated: Allocation::default(),
        active_leases: 0,
        last_leased_ms: None,
        completed: 0,
        failed: 0,
        declined: 0,
        gpu_model_id,
        hardware: if challenged {
            HardwareStatus::Unverified
        } else {
            HardwareStatus::Verified
        },
        challenge: None,
        compute_gops: 0,
        cpu_mops: 0,
        challenges_passed: 0,
    };
    emit(ex, Event::MachineRegistered { machine: id, owner });
    if challenged {
        issue_challenge(ex, &mut machine);
    }
    ex.state.put_machine(machine);
    Ok(())
}

pub(crate) fn update_machine(
    ex: &mut Exec<'_>,
    owner: Address,
    id: MachineId,
    price_per_hour: Amount,
    resource_prices: ResourcePrices,
    online: bool,
) -> Result<(), TxError> {
    let mut machine = owned_machine(ex, owner, id)?;
    let resumed = online && !machine.online;
    machine.price_per_hour = price_per_hour;
    machine.resource_prices = resource_prices;
    machine.online = online;
    // A delisted machine comes back only through a new challenge; a paused
    // one proves itself again too, or pausing over its scheduled challenge
    // (skipped while offline) would end its challenges.
    if resumed {
        if machine.hardware == HardwareStatus::Failed {
            machine.hardware = HardwareStatus::Unverified;
        }
        issue_challenge(ex, &mut machine);
    }
    ex.state.put_machine(machine);
    Ok(())
}

pub(crate) fn deregister_machine(
    ex: &mut Exec<'_>,
    owner: Address,
    id: MachineId,
) -> Result<(), TxError> {
    let machine = owned_machine(ex, owner, id)?;
    if machine.active_leases > 0 {
        return Err(TxError::MachineBusy {
            machine: id,
            leases: machine.active_leases,
        });
    }
    // Leaving must not be a way out of a challenge it is about to fail.
    if let Some(challenge) = machine.challenge {
        return Err(TxError::ChallengeOpen {
            machine: id,
            challenge,
        });
    }
    ex.state.remove_machine(id);
    let mut account = ex.state.account(&owner);
    account.machines -= 1;
    account.gpus -= machine.spec.gpu_count();
    ex.state.put_account(owner, account);
    emit(ex, Event::MachineDeregistered { machine: id, owner });
    Ok(())
}
