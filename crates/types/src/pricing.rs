//! What orders and machines cost, as pure functions of a spec, a price and
//! the chain's parameters: the ledger enforces them, and clients size their
//! deposits and stakes with the same code. Arithmetic is checked: a value
//! out of range is an [`Overflow`], never a wrapped amount.

use crate::account::Account;
use crate::params::Params;
use gpunet_primitives::{Amount, JobSpec};

/// Milliseconds in an hour: prices are per hour, block time in milliseconds.
pub const MS_PER_HOUR: Amount = 3_600_000;

/// An amount that does not fit in [`Amount`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("arithmetic overflow")]
pub struct Overflow;

/// Checked amount arithmetic that turns overflow into [`Overflow`] (the
/// ledger's `TxError::Overflow` through `?`).
pub trait CheckedAmount: Sized {
    /// `self + other`, or [`Overflow`].
    fn add_or(self, other: Self) -> Result<Self, Overflow>;
    /// `self * other`, or [`Overflow`].
    fn mul_or(self, other: Self) -> Result<Self, Overflow>;
}

impl CheckedAmount for Amount {
    fn add_or(self, other: Self) -> Result<Self, Overflow> {
        self.checked_add(other).ok_or(Overflow)
    }
    fn mul_or(self, other: Self) -> Result<Self, Overflow> {
        self.checked_mul(other).ok_or(Overflow)
    }
}

/// Audit runs of one job at most: the audit and a tie-break.
pub const MAX_AUDIT_RUNS: u128 = 2;

/// The most a job can cost at `price_per_hour` if it runs for its whole timeout.
pub fn max_payment(price_per_hour: Amount, timeout_secs: u64) -> Result<Amount, Overflow> {
    let ms = (timeout_secs as Amount).mul_or(1000)?;
    // Rounded up, so escrow always covers the payment.
    Ok(price_per_hour.mul_or(ms)?.div_ceil(MS_PER_HOUR))
}

/// The most one run of a job for `spec` at `max_price_per_hour` can cost:
/// its whole timeout at its max price. An audit or referee run is funded
/// with this much, and a dispute of the job's result must deposit it.
pub fn run_cost(max_price_per_hour: Amount, spec: &JobSpec) -> Result<Amount, Overflow> {
    max_payment(max_price_per_hour, spec.timeout_secs)
}

/// The least deposit an order for `spec` at `max_price_per_hour` needs: the
/// whole timeout at the max price, for each run the job may get (an audited
/// job may run three times: the job, an audit and a tie-break).
pub fn min_deposit(max_price_per_hour: Amount, spec: &JobSpec) -> Result<Amount, Overflow> {
    max_payment(max_price_per_hour, spec.timeout_secs)?.mul_or(runs_of(spec))
}

/// How many runs a job for `spec` may get.
pub fn runs_of(spec: &JobSpec) -> u128 {
    if spec.audit_bps > 0 {
        MAX_AUDIT_RUNS + 1
    } else {
        1
    }
}

/// Stake an account must keep bonded for the machines it has registered.
pub fn required_stake(params: &Params, account: &Account) -> Result<Amount, Overflow> {
    let machines = params
        .stake_per_machine
        .mul_or(account.machines as Amount)?;
    let gpus = params.stake_per_gpu.mul_or(account.gpus as Amount)?;
    machines.add_or(gpus)
}
