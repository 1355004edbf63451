//! An account: its balance, nonce and stakes, as the ledger keeps it and the
//! API shows it (`GET /v1/accounts/{address}`).

use borsh::{BorshDeserialize, BorshSerialize};
use gpunet_primitives::Amount;
use serde::{Deserialize, Serialize};

#[derive(
    Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Unbonding {
    pub amount: Amount,
    pub release_ms: u64,
}

#[derive(
    Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
pub struct Account {
    pub balance: Amount,
    /// The next nonce this account must use.
    pub nonce: u64,
    /// Stake backing this account's machines; slashable.
    pub bonded: Amount,
    /// Stake on its way out; still slashable until released.
    pub unbonding: Vec<Unbonding>,
    /// Machines and GPUs this account has registered (they set its required stake).
    pub machines: u32,
    pub gpus: u32,
    /// Stake bonded as a validator; slashable for double-signing.
    pub validator_bonded: Amount,
}

impl Account {
    pub fn unbonding_total(&self) -> Amount {
        self.unbonding.iter().map(|u| u.amount).sum()
    }
}
