//! The vocabulary gpunet's parts speak to each other.
//!
//! Everything here is data: what the API takes and returns ([`api`]),
//! orders, machines and accounts as clients see them, block events, node
//! addresses with their pinned keys, the offer query language ([`offers`])
//! and the pricing rules both the ledger and its clients apply
//! ([`pricing`]). A client needs this crate and `gpunet-primitives`, never
//! the ledger, the node or the server.
//!
//! Records whose stored shape differs from what a client needs have a view
//! here and stay private to the ledger: an order (a sum type by phase in the
//! ledger, the flat [`OrderView`] here) and a hardware challenge (poc's
//! matrices in the ledger, [`ChallengeView`] here). Flat records (an
//! [`Account`], a [`Machine`]) are stored as they are.

pub mod account;
pub mod address;
pub mod api;
pub mod event;
pub mod machine;
pub mod matching;
pub mod offers;
pub mod order;
pub mod params;
pub mod pricing;

pub use account::{Account, Unbonding};
pub use address::{AddressError, NodeAddress, TrustedKeys};
pub use api::ApiError;
pub use event::{BlockEvent, Event, Included};
pub use machine::{
    Allocation, ChallengePhase, ChallengeTask, ChallengeView, HardwareStatus, Machine,
};
pub use matching::{Misfit, Unmatched};
pub use order::{
    AuditVerdict, Decline, Lease, OrderStatus, OrderView, Probe, Rental, Report, Settlement,
};
pub use params::Params;
pub use pricing::{max_payment, min_deposit, required_stake, run_cost, Overflow};
