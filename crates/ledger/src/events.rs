//! What happened in a block, for subscribers (provider agents, clients).

use gpunet_primitives::{Address, Amount, MachineId, OrderId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    MachineRegistered {
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
    Slashed {
        provider: Address,
        amount: Amount,
        reason: String,
    },
}

impl Event {
    /// The order this event is about, if any.
    pub fn order(&self) -> Option<OrderId> {
        match self {
            Event::MachineRegistered { .. } | Event::Slashed { .. } => None,
            Event::OrderSubmitted { order, .. }
            | Event::OrderLeased { order, .. }
            | Event::OrderReported { order, .. }
            | Event::OrderSettled { order, .. }
            | Event::OrderFailed { order, .. }
            | Event::OrderTimedOut { order, .. }
            | Event::OrderExpired { order, .. }
            | Event::OrderCancelled { order, .. } => Some(*order),
        }
    }

    /// Whether `address` is a party to this event (client, provider or owner).
    pub fn involves(&self, address: &Address) -> bool {
        match self {
            Event::MachineRegistered { owner, .. } => owner == address,
            Event::Slashed { provider, .. } => provider == address,
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
            } => client == address || provider == address,
        }
    }
}
