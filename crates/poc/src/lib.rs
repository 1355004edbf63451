//! Proof of compute: a hardware challenge any CPU can check.
//!
//! 1. A validator-issued seed defines int8 matrices A (`rows × inner`) and B
//!    (`inner × cols`) by a counter-mode PRG ([`Challenge`]).
//! 2. The provider computes C = A·B with int32 accumulation on its hardware
//!    ([`Backend`]; [`CpuBackend`] is the reference, `cuda::CudaBackend` with
//!    the `cuda` feature), hashes every row and commits to the Merkle root
//!    ([`Commitment`]) before a deadline sized for its claimed class
//!    ([`ComputeClass`]).
//! 3. After the commitment, rows to open are drawn from a later beacon
//!    ([`sample_rows`]); each opened row is checked exactly against its Merkle
//!    path and by Freivalds' test ([`verify_openings`]).
//!
//! A prover that skips or fakes a fraction f of the rows passes only if none of
//! the `s` opened rows is among them: probability (1 - f)^s (plus 1/p per
//! opened wrong row for Freivalds). Missing the deadline, or a claim of a
//! faster class, is caught by the deadline itself.

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
