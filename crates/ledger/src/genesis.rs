//! Genesis: the chain's first accounts, validators and parameters, read from a JSON file.

use crate::error::GenesisError;
use gpunet_primitives::{Address, Amount, Hash};
use gpunet_types::Params;
use serde::{Deserialize, Serialize};

/// An account funded at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisAccount {
    /// Its address (an ed25519 public key).
    pub address: Address,
    /// What it holds, written in GPN in the JSON file.
    #[serde(with = "gpunet_primitives::json::gpn")]
    pub balance: Amount,
}

/// How a chain starts: every node of a chain holds the same genesis, and
/// its hash names the chain's first state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// The chain's name: every transaction signs it, so none replays on
    /// another chain.
    pub chain_id: String,
    /// Block time of the genesis block.
    #[serde(rename = "genesis_time", with = "gpunet_primitives::json::rfc3339")]
    pub genesis_time_ms: u64,
    /// The accounts funded at genesis: the whole genesis supply.
    pub accounts: Vec<GenesisAccount>,
    /// Addresses allowed to propose blocks.
    pub validators: Vec<Address>,
    /// The protocol's parameters (the defaults where the file names none).
    #[serde(default)]
    pub params: Params,
}

impl Genesis {
    /// Reads a genesis JSON file and checks it ([`Genesis::validate`]).
    pub fn from_file(path: &std::path::Path) -> Result<Genesis, GenesisError> {
        let text = std::fs::read_to_string(path).map_err(|source| GenesisError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let genesis: Genesis =
            serde_json::from_str(&text).map_err(|source| GenesisError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        genesis.validate()?;
        Ok(genesis)
    }

    /// Checks what the ledger relies on: a chain id, at least one
    /// validator, parameters within their rules, every address a usable
    /// key and none twice, a supply that fits.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let p = &self.params;
        let param = |param, rule| Err(GenesisError::Param { param, rule });
        if self.chain_id.is_empty() {
            return Err(GenesisError::EmptyChainId);
        }
        if self.validators.is_empty() {
            return Err(GenesisError::NoValidator);
        }
        if p.stake_per_vote == 0 {
            return param("stake_per_vote", "must be positive");
        }
        if p.burn_bps > 10_000 {
            return param("burn_bps", "must be at most 10000");
        }
        if p.slash_double_sign_bps > 10_000 {
            return param("slash_double_sign_bps", "must be at most 10000");
        }
        if p.challenge_openings == 0 || p.challenge_openings > 8 {
            return param(
                "challenge_openings",
                "must be 1..=8 (openings travel in one transaction)",
            );
        }
        for (name, value) in [
            ("challenge_interval_ms", p.challenge_interval_ms),
            ("epoch_ms", p.epoch_ms),
            ("rental_billing_ms", p.rental_billing_ms),
        ] {
            if value == 0 {
                return param(name, "must be positive");
            }
        }
        if p.max_declines == 0 || p.max_declines > 16 {
            return param(
                "max_declines",
                "must be 1..=16 (an order keeps each decline)",
            );
        }
        if p.duration_tolerance_bps < 10_000 {
            return param(
                "duration_tolerance_bps",
                "must be at least 10000 (a run may bill what another took)",
            );
        }
        for address in self
            .validators
            .iter()
            .chain(self.accounts.iter().map(|a| &a.address))
        {
            address
                .key()
                .map_err(|e| GenesisError::BadKey(*address, e))?;
        }
        let mut founding = std::collections::BTreeSet::new();
        if let Some(twice) = self.validators.iter().find(|v| !founding.insert(**v)) {
            return Err(GenesisError::DuplicateValidator(*twice));
        }
        let mut total: Amount = p
            .stake_per_vote
            .checked_mul(self.validators.len() as Amount)
            .ok_or(GenesisError::SupplyOverflows)?;
        let mut seen = std::collections::BTreeSet::new();
        for a in &self.accounts {
            if !seen.insert(a.address) {
                return Err(GenesisError::DuplicateAccount(a.address));
            }
            total = total
                .checked_add(a.balance)
                .ok_or(GenesisError::SupplyOverflows)?;
        }
        Ok(())
    }

    /// Balances plus the genesis validators' stake.
    pub fn total_supply(&self) -> Amount {
        let stake = self.params.stake_per_vote * self.validators.len() as Amount;
        self.accounts.iter().map(|a| a.balance).sum::<Amount>() + stake
    }

    /// Hash identifying this genesis; a database made from another genesis is refused.
    #[allow(
        clippy::expect_used,
        reason = "a Genesis has no map with non-string keys, the one thing serde_json refuses"
    )]
    pub fn hash(&self) -> Hash {
        Hash::digest(&serde_json::to_vec(self).expect("genesis serializes"))
    }

    /// The genesis as the JSON file [`Genesis::from_file`] reads.
    #[allow(
        clippy::expect_used,
        reason = "a Genesis has no map with non-string keys, the one thing serde_json refuses"
    )]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("genesis serializes")
    }
}
