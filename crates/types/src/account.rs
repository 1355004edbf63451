//! An account: its balance, nonce and stakes, as the ledger keeps it and the
//! API shows it (`GET /v1/accounts/{address}`).

use borsh::{BorshDeserialize, BorshSerialize};
use gpunet_primitives::Amount;
use serde::{Deserialize, Serialize};

/// Stake on its way out of bonding.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Unbonding {
    /// How much, in base units.
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub amount: Amount,
    /// Block time from which it returns to the balance.
    #[serde(rename = "releases_at", with = "gpunet_primitives::json::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
    pub release_ms: u64,
}

/// An account: what it holds, its nonce, its stakes and what it registered.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Account {
    /// Spendable tokens, in base units.
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub balance: Amount,
    /// The next nonce this account must use.
    pub nonce: u64,
    /// Stake backing this account's machines; slashable.
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub bonded: Amount,
    /// Stake on its way out; still slashable until released.
    pub unbonding: Vec<Unbonding>,
    /// Machines this account has registered (they set its required stake).
    pub machines: u32,
    /// GPUs in the machines it has registered (they set its required stake too).
    pub gpus: u32,
    /// Stake bonded as a validator; slashable for double-signing.
    #[serde(with = "gpunet_primitives::json::gpn")]
    #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
    pub validator_bonded: Amount,
}

impl Account {
    /// All its stake on its way out.
    pub fn unbonding_total(&self) -> Amount {
        self.unbonding.iter().map(|u| u.amount).sum()
    }
}
