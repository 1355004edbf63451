//! The gpunet ledger: a deterministic state machine over signed transactions.
//!
//! [`Ledger`] owns the [`State`] (typed tables in memory), its redb `store`
//! and the head block. Transactions execute in `exec`, one module per concern
//! (bank, staking, registry, orders, settlement); every block's changes are
//! folded into an [`lthash::LtHash`] whose digest is the state root, and
//! written to redb in one transaction. [`invariants::check`] states what must
//! hold after every block.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod error;
mod exec;
mod genesis;
pub mod invariants;
mod ledger;
pub mod lthash;
mod order;
mod sigcache;
#[cfg(feature = "sim")]
pub mod sim;
mod state;
mod store;
mod table;

pub use error::{BlockError, Covers, EntryError, GenesisError, LedgerError, TxError, Wanted};
pub use exec::SpecError;
pub use genesis::{Genesis, GenesisAccount};
pub use ledger::{Ledger, ProducedBlock};
pub use order::{Checks, JobEnd, JobPhase, Order, OrderKind, RentalEnd, RentalPhase};
pub use state::{Globals, HardwareChallenge, State, ValidatorEntry, ValidatorSet};
