//! The gpunet ledger: a deterministic state machine over signed transactions.
//!
//! [`Ledger`] owns the [`State`] (typed tables in memory), its redb [`store`]
//! and the head block. Transactions execute in [`exec`], one module per concern
//! (bank, staking, registry, orders, settlement); every block's changes are
//! folded into an [`lthash::LtHash`] whose digest is the state root, and
//! written to redb in one transaction. [`invariants::check`] states what must
//! hold after every block.

mod error;
mod events;
mod exec;
mod genesis;
pub mod invariants;
mod ledger;
pub mod lthash;
mod sigcache;
#[cfg(feature = "sim")]
pub mod sim;
mod state;
mod store;
mod table;

pub use error::{LedgerError, TxError};
pub use events::Event;
pub use exec::{
    max_payment as max_job_cost, min_deposit, required_stake, run_cost, Misfit, SpecError,
    Unmatched,
};
pub use genesis::{Genesis, GenesisAccount, Params};
pub use ledger::{Ledger, ProducedBlock};
pub use state::{
    Account, Allocation, AuditVerdict, ChallengePhase, Globals, HardwareChallenge, HardwareStatus,
    Lease, Machine, Order, OrderStatus, Probe, Rental, Report, Settlement, State, Unbonding,
    ValidatorEntry, ValidatorSet,
};
