#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod challenge;
mod class;
mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod prover;
mod verifier;

pub use challenge::{entry, Challenge, ShapeError, MAX_COLS, MAX_INNER, MAX_ROWS};
pub use class::{ComputeClass, CLASSES, CPU_CLASS, REQUIRED_EFFICIENCY_PCT};
pub use cpu::CpuBackend;
pub use prover::{Backend, Cancelled, Commitment, Opening};
pub use verifier::{check_deadline, sample_rows, verify_openings, Fault, Verifier, FIELD_PRIME};
