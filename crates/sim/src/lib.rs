//! `gpunet sim`: the ledger's real matching and settlement code over a
//! synthetic network of honest and cheating providers (see README.md).

pub mod model;
mod report;
mod run;

pub use report::{Report, Sample, StrategyResult};
pub use run::{run, Config, SimError};
