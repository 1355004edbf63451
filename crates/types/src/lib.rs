#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod account;
pub mod address;
pub mod api;
pub mod error_code;
pub mod event;
pub mod machine;
pub mod matching;
pub mod offers;
pub mod order;
pub mod params;
pub mod peer;
pub mod pricing;

pub use account::{Account, Unbonding};
pub use address::{AddressError, NodeAddress, TrustedKeys};
pub use api::ApiError;
pub use error_code::ErrorCode;
pub use event::{BlockEvent, Event, Included};
pub use machine::{
    Allocation, ChallengePhase, ChallengeTask, ChallengeView, HardwareStatus, Machine,
};
pub use matching::{Misfit, Unmatched};
pub use order::{
    ArrayPlace, Attempt, AttemptFailure, AuditVerdict, Decline, Lease, OrderStatus, OrderView,
    Probe, Rental, Report, Settlement, WorkspaceState, ARRAY_INDEX_VAR, ARRAY_SIZE_VAR,
    MAX_ARRAY_SIZE,
};
pub use params::Params;
pub use peer::{PeerAddr, MAX_PEER_ADDRESSES};
pub use pricing::{max_payment, min_deposit, required_stake, run_cost, Overflow};
