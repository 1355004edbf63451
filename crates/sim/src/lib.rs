#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod model;
mod report;
mod run;

pub use report::{Report, Sample, StrategyResult};
pub use run::{run, Config, SimError};
