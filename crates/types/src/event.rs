//! What happened in a block, for subscribers (provider agents, clients), and
//! where a transaction landed.

use crate::order::AttemptFailure;
use gpunet_primitives::{Address, Amount, ChallengeId, Hash, MachineId, OrderId};
use serde::{Deserialize, Serialize};

/// Something a block did that a party may act on. Its kind, as JSON
/// spells it (`order_settled`), is `<&str>::from(&event)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Event {
    /// A machine was registered; its first hardware challenge follows.
    MachineRegistered {
        /// The machine.
        machine: MachineId,
        /// The machine's owner.
        owner: Address,
    },
    /// Its owner removed it (no lease or challenge was open).
    MachineDeregistered {
        /// The machine.
        machine: MachineId,
        /// The machine's owner.
        owner: Address,
    },
    /// An order was placed, its deposit escrowed.
    OrderSubmitted {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
    },
    /// An order was leased to a machine, whose provider runs it now.
    OrderLeased {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
        /// The machine.
        machine: MachineId,
        /// The provider (the machine's owner).
        provider: Address,
    },
    /// The provider reported a run: settlement follows the dispute window (or an audit).
    OrderReported {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
        /// The provider (the machine's owner).
        provider: Address,
        /// The run's exit code.
        exit_code: i32,
    },
    /// An order was paid: its provider paid, a share burned, the rest refunded.
    OrderSettled {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
        /// The provider (the machine's owner).
        provider: Address,
        /// Paid to the provider, net of the burn.
        #[serde(with = "gpunet_primitives::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
        paid: Amount,
        /// The burned share of the payment.
        #[serde(with = "gpunet_primitives::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
        burned: Amount,
        /// Returned to the client.
        #[serde(with = "gpunet_primitives::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
        refunded: Amount,
    },
    /// A run failed or was found wrong: the client refunded, the provider slashed.
    OrderFailed {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
        /// The provider (the machine's owner).
        provider: Address,
        /// Why, in words.
        reason: String,
        /// Returned to the client.
        #[serde(with = "gpunet_primitives::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
        refunded: Amount,
    },
    /// The provider missed its deadline: the client refunded, the provider slashed.
    OrderTimedOut {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
        /// The provider (the machine's owner).
        provider: Address,
        /// Returned to the client.
        #[serde(with = "gpunet_primitives::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
        refunded: Amount,
    },
    /// A run of a job failed or timed out and its spec allows another:
    /// the provider slashed, the order back in matching without that
    /// machine, its escrow untouched.
    OrderRetried {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
        /// The provider (the machine's owner).
        provider: Address,
        /// The machine the run failed on.
        machine: MachineId,
        /// How the run ended.
        failure: AttemptFailure,
        /// Runs it has had so far, this one included.
        attempts: u32,
    },
    /// No machine took the order before it expired: the client refunded.
    OrderExpired {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
        /// Returned to the client.
        #[serde(with = "gpunet_primitives::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
        refunded: Amount,
    },
    /// The client cancelled its pending order: refunded.
    OrderCancelled {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
        /// Returned to the client.
        #[serde(with = "gpunet_primitives::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
        refunded: Amount,
    },
    /// The provider handed the lease back unstarted. `requeued`: the order is
    /// matching again without that machine; otherwise it closed `Declined`
    /// with `refunded` returned to the client.
    OrderDeclined {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
        /// The provider (the machine's owner).
        provider: Address,
        /// The machine.
        machine: MachineId,
        /// Why, in words.
        reason: String,
        /// Whether the order is matching again.
        requeued: bool,
        /// Returned to the client.
        #[serde(with = "gpunet_primitives::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
        refunded: Amount,
    },
    /// A provider's stake was slashed (burned).
    Slashed {
        /// The provider (the machine's owner).
        provider: Address,
        /// How much.
        #[serde(with = "gpunet_primitives::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
        amount: Amount,
        /// Why, in words.
        reason: String,
    },
    /// A validator signed conflicting votes at `height`: slashed and out of the set for good.
    DoubleSignPunished {
        /// The validator.
        validator: Address,
        /// Taken from the stake and burned.
        #[serde(with = "gpunet_primitives::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
        slashed: Amount,
        /// The height at which it signed twice.
        height: u64,
        /// The account that reported the evidence.
        reporter: Address,
    },
    /// The provider announced where the renter reaches the rental's ports.
    EndpointsAnnounced {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
        /// The provider (the machine's owner).
        provider: Address,
    },
    /// The client sealed its secrets to the provider of its order's lease:
    /// the run can start.
    SecretsSealed {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
        /// The provider they are sealed to.
        provider: Address,
        /// The leased machine.
        machine: MachineId,
    },
    /// The renter reported the machine unreachable: its owner must answer by `deadline_ms`.
    LivenessProbe {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
        /// The provider (the machine's owner).
        provider: Address,
        /// When the answer is due.
        #[serde(rename = "deadline", with = "gpunet_primitives::json::rfc3339")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
        deadline_ms: u64,
    },
    /// The renter ended a rental asking to save its workspace: its provider
    /// stores it and reports its root by `deadline_ms`.
    WorkspaceSaveAsked {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
        /// The provider (the machine's owner).
        provider: Address,
        /// When the report is due.
        #[serde(rename = "deadline", with = "gpunet_primitives::json::rfc3339")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
        deadline_ms: u64,
    },
    /// The probe went unanswered: the machine is held down, unbilled and delisted.
    MachineDown {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
        /// The provider (the machine's owner).
        provider: Address,
    },
    /// The machine answered again after `down_ms` down; `slashed` by the hour.
    MachineBackUp {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
        /// The provider (the machine's owner).
        provider: Address,
        /// How long it was down.
        down_ms: u64,
        /// Taken from the stake and burned.
        #[serde(with = "gpunet_primitives::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
        slashed: Amount,
    },
    /// The renter bought more time: the rental now ends at `ends_ms`.
    RentalRenewed {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
        /// The provider (the machine's owner).
        provider: Address,
        /// When the rented time now runs out.
        #[serde(rename = "ends_at", with = "gpunet_primitives::json::rfc3339")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
        ends_ms: u64,
    },
    /// The client stopped its running job: the provider is paid the time it
    /// ran, the rest refunded, nobody slashed; its provider stops the run.
    JobStopped {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
        /// The provider (the machine's owner).
        provider: Address,
        /// Paid to the provider, net of the burn.
        #[serde(with = "gpunet_primitives::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
        paid: Amount,
        /// The burned share of the payment.
        #[serde(with = "gpunet_primitives::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
        burned: Amount,
        /// Returned to the client.
        #[serde(with = "gpunet_primitives::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
        refunded: Amount,
    },
    /// The rented time ran out or the renter ended it; the machine is free.
    RentalEnded {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
        /// The provider (the machine's owner).
        provider: Address,
        /// Paid to the provider, net of the burn.
        #[serde(with = "gpunet_primitives::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
        paid: Amount,
        /// The burned share of the payment.
        #[serde(with = "gpunet_primitives::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
        burned: Amount,
        /// Returned to the client.
        #[serde(with = "gpunet_primitives::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
        refunded: Amount,
    },
    /// `run` re-runs `order` on another provider's machine before it is paid.
    AuditStarted {
        /// The order.
        order: OrderId,
        /// The audit run.
        run: OrderId,
        /// The order's client.
        client: Address,
        /// The provider (the machine's owner).
        provider: Address,
    },
    /// A duration check found `order`'s run padded: billed `bound_ms`
    /// instead of `claimed_ms`, and its provider slashed.
    RunPadded {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
        /// The provider (the machine's owner).
        provider: Address,
        /// What its provider billed.
        claimed_ms: u64,
        /// What it may bill next to the agreeing run.
        bound_ms: u64,
    },
    /// The audit of `order` ended with `verdict`.
    AuditConcluded {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
        /// The provider (the machine's owner).
        provider: Address,
        /// How the audit ended.
        verdict: crate::order::AuditVerdict,
    },
    /// The epoch's reward was minted to the owners of `machines` machines.
    EpochRewarded {
        /// Machines rewarded.
        machines: u32,
        /// Tokens minted for them.
        #[serde(with = "gpunet_primitives::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
        minted: Amount,
    },
    /// A hardware challenge for `machine`; its owner must commit by `deadline_ms`.
    ChallengeIssued {
        /// The challenge.
        challenge: ChallengeId,
        /// The machine.
        machine: MachineId,
        /// The machine's owner.
        owner: Address,
        /// When the answer is due.
        #[serde(rename = "deadline", with = "gpunet_primitives::json::rfc3339")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
        deadline_ms: u64,
    },
    /// The rows to open are drawn; the owner must open them by `deadline_ms`.
    ChallengeRowsDrawn {
        /// The challenge.
        challenge: ChallengeId,
        /// The machine.
        machine: MachineId,
        /// The machine's owner.
        owner: Address,
        /// When the answer is due.
        #[serde(rename = "deadline", with = "gpunet_primitives::json::rfc3339")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Rfc3339))]
        deadline_ms: u64,
    },
    /// The machine proved its hardware: verified, and its compute score updated.
    ChallengePassed {
        /// The challenge.
        challenge: ChallengeId,
        /// The machine.
        machine: MachineId,
        /// The machine's owner.
        owner: Address,
        /// Throughput the commitment proved, in giga-ops/s.
        gops: u64,
    },
    /// The machine is delisted and its owner slashed.
    ChallengeFailed {
        /// The challenge.
        challenge: ChallengeId,
        /// The machine.
        machine: MachineId,
        /// The machine's owner.
        owner: Address,
        /// Why, in words.
        reason: String,
        /// Taken from the stake and burned.
        #[serde(with = "gpunet_primitives::json::gpn")]
        #[cfg_attr(feature = "openapi", schema(value_type = gpunet_primitives::json::Gpn))]
        slashed: Amount,
    },
    /// The provider of a preparing lease fetched and loaded what its run
    /// needs: the run starts now (its timeout and a rental's meter too).
    LeaseStarted {
        /// The order.
        order: OrderId,
        /// The order's client.
        client: Address,
        /// The machine.
        machine: MachineId,
        /// The provider (the machine's owner).
        provider: Address,
        /// How long it prepared, from its lease to now (block time).
        prepared_ms: u64,
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
            | Event::LeaseStarted { order, .. }
            | Event::OrderReported { order, .. }
            | Event::OrderSettled { order, .. }
            | Event::OrderFailed { order, .. }
            | Event::OrderTimedOut { order, .. }
            | Event::OrderRetried { order, .. }
            | Event::OrderExpired { order, .. }
            | Event::OrderCancelled { order, .. }
            | Event::OrderDeclined { order, .. }
            | Event::EndpointsAnnounced { order, .. }
            | Event::SecretsSealed { order, .. }
            | Event::LivenessProbe { order, .. }
            | Event::WorkspaceSaveAsked { order, .. }
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
            | Event::LeaseStarted {
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
            | Event::OrderRetried {
                client, provider, ..
            }
            | Event::OrderDeclined {
                client, provider, ..
            }
            | Event::EndpointsAnnounced {
                client, provider, ..
            }
            | Event::SecretsSealed {
                client, provider, ..
            }
            | Event::LivenessProbe {
                client, provider, ..
            }
            | Event::WorkspaceSaveAsked {
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockEvent {
    /// The block's height.
    pub height: u64,
    /// What happened.
    pub event: Event,
}

/// Where a transaction landed and what it caused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Included {
    /// The transaction's hash.
    pub hash: Hash,
    /// The block it is in.
    pub height: u64,
    /// Its place in that block.
    pub index: u32,
    /// What it caused.
    pub events: Vec<Event>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_events_kind_is_its_json_key() {
        let who = Address([1; 32]);
        for event in [
            Event::OrderSettled {
                order: 1,
                client: who,
                provider: who,
                paid: 9,
                burned: 1,
                refunded: 0,
            },
            Event::Slashed {
                provider: who,
                amount: 5,
                reason: "late".into(),
            },
            Event::MachineRegistered {
                machine: 2,
                owner: who,
            },
        ] {
            let json = serde_json::to_value(&event).unwrap();
            let key = json.as_object().unwrap().keys().next().unwrap().clone();
            assert_eq!(<&str>::from(&event), key);
        }
    }
}
