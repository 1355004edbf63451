#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod model;
mod report;
mod run;
pub mod sweep;
pub mod workload;

pub use report::{ClassResult, ClassSample, JobStats, Report, Sample, StrategyResult, WorkResult};
pub use run::{run, Config, SimError};
