//! Per-epoch rewards: newly minted tokens for machines that are listed and have
//! proven their hardware, weighted by the compute score their last passed
//! challenge earned (`compute_gops`).

use super::bank::credit;
use super::emit;
use super::Exec;
use crate::error::TxError;
use gpunet_primitives::{Amount, MachineId};
use gpunet_types::pricing::CheckedAmount;
use gpunet_types::{Event, HardwareStatus};

/// Splits `total` in proportion to `weights` (floor; the dust is not minted).
pub(crate) fn split(total: Amount, weights: &[u64]) -> Vec<Amount> {
    let sum: u128 = weights.iter().map(|w| u128::from(*w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    weights
        .iter()
        // total < 2^96 in any sane genesis and weights < 2^64: no overflow in
        // practice; saturate rather than wrap if a genesis is absurd.
        .map(|w| total.saturating_mul(u128::from(*w)) / sum)
        .collect()
}

/// At each epoch boundary, mints `epoch_reward` to the owners of online,
/// verified machines in proportion to their compute scores.
pub(crate) fn pay_epoch_rewards(ex: &mut Exec<'_>) -> Result<(), TxError> {
    let params = &ex.state.params;
    let (epoch_ms, reward) = (params.epoch_ms, params.epoch_reward);
    let globals = ex.state.globals();
    if globals.next_epoch_ms == 0 {
        let first = ex.now_ms.saturating_add(epoch_ms);
        ex.state.update_globals(|g| g.next_epoch_ms = first);
        return Ok(());
    }
    if ex.now_ms < globals.next_epoch_ms {
        return Ok(());
    }
    // One payout per boundary reached; epochs a halted chain skipped are not paid.
    let next = globals.next_epoch_ms.saturating_add(
        epoch_ms.saturating_mul((ex.now_ms - globals.next_epoch_ms) / epoch_ms + 1),
    );
    let eligible: Vec<(MachineId, gpunet_primitives::Address, u64)> = ex
        .state
        .machines
        .iter()
        .filter(|(_, m)| m.online && m.hardware == HardwareStatus::Verified)
        .map(|(id, m)| (*id, m.owner, m.compute_gops))
        .collect();
    let weights: Vec<u64> = eligible.iter().map(|(_, _, w)| *w).collect();
    let shares = split(reward, &weights);
    let mut minted: Amount = 0;
    for ((_, owner, _), share) in eligible.iter().zip(&shares) {
        if *share > 0 {
            credit(ex, *owner, *share)?;
            minted = minted.add_or(*share)?;
        }
    }
    let total_minted = globals.minted.add_or(minted)?;
    ex.state.update_globals(|g| {
        g.minted = total_minted;
        g.next_epoch_ms = next;
    });
    emit(
        ex,
        Event::EpochRewarded {
            machines: shares.iter().filter(|s| **s > 0).count() as u32,
            minted,
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn rewards_split_by_weight_and_never_exceed_the_total() {
        assert_eq!(split(1_000, &[100, 300]), [250, 750]);
        assert_eq!(split(1_000, &[1, 1, 1]), [333, 333, 333]);
        assert_eq!(split(1_000, &[0, 5]), [0, 1_000]);
        assert_eq!(split(1_000, &[0, 0]), [0, 0]);
        assert!(split(7, &[3, 3, 3]).iter().sum::<u128>() <= 7);
    }
}
