#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
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
pub mod snapshot;
mod state;
mod store;
mod table;

pub use error::{
    BlockError, Covers, EntryError, GenesisError, LedgerError, SnapshotError, TxError, Wanted,
};
pub use exec::SpecError;
pub use genesis::{Genesis, GenesisAccount};
pub use ledger::{Ledger, ProducedBlock};
pub use order::{Checks, JobEnd, JobPhase, Order, OrderKind, RentalEnd, RentalPhase, SaveEnd};
pub use state::{Globals, HardwareChallenge, State, ValidatorEntry, ValidatorSet};
