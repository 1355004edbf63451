//! What happened in a block, for subscribers (provider agents, clients), and
//! where a transaction landed.

use gpunet_primitives::{Address, Amount, ChallengeId, Hash, MachineId, OrderId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    MachineRegistered {
        machine: MachineId,
        owner: Address,
    },
    /// Its owner removed it (no lease or challenge was open).
    MachineDeregistered {
        machine: MachineId,
        owner: Address,
    },
    OrderSubmitted {
        order: OrderId,
        client: Address,
    },
    OrderLeased {
        order: OrderId,
        client: Address,
        machine: MachineId,
        provider: Address,
    },
    OrderReported {
        order: OrderId,
        client: Address,
        provider: Address,
        exit_code: i32,
    },
    OrderSettled {
        order: OrderId,
        client: Address,
        provider: Address,
        paid: Amount,
        burned: Amount,
        refunded: Amount,
    },
    OrderFailed {
        order: OrderId,
        client: Address,
        provider: Address,
        reason: String,
        refunded: Amount,
    },
    OrderTimedOut {
        order: OrderId,
        client: Address,
        provider: Address,
        refunded: Amount,
    },
    OrderExpired {
        order: OrderId,
        client: Address,
        refunded: Amount,
    },
    OrderCancelled {
        order: OrderId,
        client: Address,
        refunded: Amount,
    },
    /// The provider handed the lease back unstarted. `requeued`: the order is
    /// matching again without that machine; otherwise it closed `Declined`
    /// with `refunded` returned to the client.
    OrderDeclined {
        order: OrderId,
        client: Address,
        provider: Address,
        machine: MachineId,
        reason: String,
        requeued: bool,
        refunded: Amount,
    },
    Slashed {
        provider: Address,
        amount: Amount,
        reason: String,
    },
    /// A validator signed conflicting votes at `height`: slashed and out of the set for good.
    DoubleSignPunished {
        validator: Address,
        slashed: Amount,
        height: u64,
        reporter: Address,
    },
    /// The provider announced where the renter reaches the rental's ports.
    EndpointsAnnounced {
        order: OrderId,
        client: Address,
        provider: Address,
    },
    /// The renter reported the machine unreachable: its owner must answer by `deadline_ms`.
    LivenessProbe {
        order: OrderId,
        client: Address,
        provider: Address,
        deadline_ms: u64,
    },
    /// The probe went unanswered: the machine is held down, unbilled and delisted.
    MachineDown {
        order: OrderId,
        client: Address,
        provider: Address,
    },
    /// The machine answered again after `down_ms` down; `slashed` by the hour.
    MachineBackUp {
        order: OrderId,
        client: Address,
        provider: Address,
        down_ms: u64,
        slashed: Amount,
    },
    RentalRenewed {
        order: OrderId,
        client: Address,
        provider: Address,
        ends_ms: u64,
    },
    /// The client stopped its running job: the provider is paid the time it
    /// ran, the rest refunded, nobody slashed; its provider stops the run.
    JobStopped {
        order: OrderId,
        client: Address,
        provider: Address,
        paid: Amount,
        burned: Amount,
        refunded: Amount,
    },
    /// The rented time ran out or the renter ended it; the machine is free.
    RentalEnded {
        order: OrderId,
        client: Address,
        provider: Address,
        paid: Amount,
        burned: Amount,
        refunded: Amount,
    },
    /// `run` re-runs `order` on another provider's machine before it is paid.
    AuditStarted {
        order: OrderId,
        run: OrderId,
        client: Address,
        provider: Address,
    },
    /// A duration check found `order`'s run padded: billed `bound_ms`
    /// instead of `claimed_ms`, and its provider slashed.
    RunPadded {
        order: OrderId,
        client: Address,
        provider: Address,
        claimed_ms: u64,
        bound_ms: u64,
    },
    AuditConcluded {
        order: OrderId,
        client: Address,
        provider: Address,
        verdict: crate::order::AuditVerdict,
    },
    /// The epoch's reward was minted to the owners of `machines` machines.
    EpochRewarded {
        machines: u32,
        minted: Amount,
    },
    /// A hardware challenge for `machine`; its owner must commit by `deadline_ms`.
    ChallengeIssued {
        challenge: ChallengeId,
        machine: MachineId,
        owner: Address,
        deadline_ms: u64,
    },
    /// The rows to open are drawn; the owner must open them by `deadline_ms`.
    ChallengeRowsDrawn {
        challenge: ChallengeId,
        machine: MachineId,
        owner: Address,
        deadline_ms: u64,
    },
    ChallengePassed {
        challenge: ChallengeId,
        machine: MachineId,
        owner: Address,
        /// Throughput the commitment proved, in giga-ops/s.
        gops: u64,
    },
    /// The machine is delisted and its owner slashed.
    ChallengeFailed {
        challenge: ChallengeId,
        machine: MachineId,
        owner: Address,
        reason: String,
        slashed: Amount,
    },
}

impl Event {
    /// The order this event is about, if any.
    pub fn order(&self) -> Option<OrderId> {
        match self {
            Event::MachineRegistered { .. }
            | Event::MachineDeregistered { .. }
            | Event::EpochRewarded { .. }
            | Event::Slashed { .. }
            | Event::DoubleSignPunished { .. }
            | Event::ChallengeIssued { .. }
            | Event::ChallengeRowsDrawn { .. }
            | Event::ChallengePassed { .. }
            | Event::ChallengeFailed { .. } => None,
            Event::OrderSubmitted { order, .. }
            | Event::OrderLeased { order, .. }
            | Event::OrderReported { order, .. }
            | Event::OrderSettled { order, .. }
            | Event::OrderFailed { order, .. }
            | Event::OrderTimedOut { order, .. }
            | Event::OrderExpired { order, .. }
            | Event::OrderCancelled { order, .. }
            | Event::OrderDeclined { order, .. }
            | Event::EndpointsAnnounced { order, .. }
            | Event::LivenessProbe { order, .. }
            | Event::MachineDown { order, .. }
            | Event::MachineBackUp { order, .. }
            | Event::RentalRenewed { order, .. }
            | Event::RentalEnded { order, .. }
            | Event::JobStopped { order, .. }
            | Event::AuditStarted { order, .. }
            | Event::RunPadded { order, .. }
            | Event::AuditConcluded { order, .. } => Some(*order),
        }
    }

    /// Whether `address` is a party to this event (client, provider or owner).
    pub fn involves(&self, address: &Address) -> bool {
        match self {
            Event::EpochRewarded { .. } => false,
            Event::MachineRegistered { owner, .. }
            | Event::MachineDeregistered { owner, .. }
            | Event::ChallengeIssued { owner, .. }
            | Event::ChallengeRowsDrawn { owner, .. }
            | Event::ChallengePassed { owner, .. }
            | Event::ChallengeFailed { owner, .. } => owner == address,
            Event::Slashed { provider, .. } => provider == address,
            Event::DoubleSignPunished {
                validator,
                reporter,
                ..
            } => validator == address || reporter == address,
            Event::OrderSubmitted { client, .. }
            | Event::OrderExpired { client, .. }
            | Event::OrderCancelled { client, .. } => client == address,
            Event::OrderLeased {
                client, provider, ..
            }
            | Event::OrderReported {
                client, provider, ..
            }
            | Event::OrderSettled {
                client, provider, ..
            }
            | Event::OrderFailed {
                client, provider, ..
            }
            | Event::OrderTimedOut {
                client, provider, ..
            }
            | Event::OrderDeclined {
                client, provider, ..
            }
            | Event::EndpointsAnnounced {
                client, provider, ..
            }
            | Event::LivenessProbe {
                client, provider, ..
            }
            | Event::MachineDown {
                client, provider, ..
            }
            | Event::MachineBackUp {
                client, provider, ..
            }
            | Event::RentalRenewed {
                client, provider, ..
            }
            | Event::RentalEnded {
                client, provider, ..
            }
            | Event::JobStopped {
                client, provider, ..
            }
            | Event::AuditStarted {
                client, provider, ..
            }
            | Event::RunPadded {
                client, provider, ..
            }
            | Event::AuditConcluded {
                client, provider, ..
            } => client == address || provider == address,
        }
    }
}

/// An event and the height of the block that caused it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BlockEvent {
    pub height: u64,
    pub event: Event,
}

/// Where a transaction landed and what it caused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Included {
    pub hash: Hash,
    pub height: u64,
    pub index: u32,
    pub events: Vec<Event>,
}
