//! Why an order finds no machine: the reasons a machine cannot take it
//! ([`Misfit`]) and their tally over the network ([`Unmatched`]).

use crate::machine::Machine;
use serde::{Deserialize, Serialize};

/// A reason a machine cannot take an order now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Misfit {
    /// The job's price on it is over the order's max price.
    Price,
    /// Its owner paused it, or it is held down.
    Offline,
    /// It has not proven its hardware (or failed its last challenge).
    Unverified,
    /// Too few GPUs free (or none at all).
    GpuCount,
    /// Its GPUs are not of the vendor the order asks.
    GpuVendor,
    /// Its GPUs are not of the model the order asks.
    GpuModel,
    /// Too little memory per GPU.
    GpuMemory,
    /// Too few cores free.
    Cpu,
    /// Too little memory free.
    Memory,
    /// Too little disk free.
    Disk,
    /// It is not in the region the order asks.
    Region,
    /// Its completed share of leases is under the order's minimum.
    Reliability,
    /// Its owner's stake is under what its machines require.
    Stake,
    /// It declined this order before.
    Declined,
    /// It failed this order before, or let it time out.
    FailedBefore,
    /// An audit run must go to another provider than those it checks.
    Audited,
}

impl Misfit {
    /// Every reason, in declaration order.
    pub const ALL: [Misfit; 16] = [
        Misfit::Price,
        Misfit::Offline,
        Misfit::Unverified,
        Misfit::GpuCount,
        Misfit::GpuVendor,
        Misfit::GpuModel,
        Misfit::GpuMemory,
        Misfit::Cpu,
        Misfit::Memory,
        Misfit::Disk,
        Misfit::Region,
        Misfit::Reliability,
        Misfit::Stake,
        Misfit::Declined,
        Misfit::FailedBefore,
        Misfit::Audited,
    ];
}

/// Why a pending order finds no machine: how many machines miss each
/// requirement, and those that miss the fewest (`GET
/// /v1/orders/{id}/unmatched`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Unmatched {
    /// Registered machines.
    pub machines: usize,
    /// Machines that could take it now (it waits for the next block).
    pub fitting: usize,
    /// For each requirement some machine misses, how many miss it.
    pub missed: Vec<(Misfit, usize)>,
    /// The machines that miss the fewest requirements, with them.
    pub closest: Vec<(Machine, Vec<Misfit>)>,
}
