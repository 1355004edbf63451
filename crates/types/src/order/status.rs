//! Where an order stands, as the API, the CLI and errors name it; read off
//! the order's phase (`Order::status`), never stored on its own.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// Where an order stands.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Waiting for a machine.
    Pending,
    /// Leased to a machine whose provider fetches and loads what the run
    /// needs (a pushed image) before it starts; not billed, and its timeout
    /// not counting yet.
    Preparing,
    /// Leased to a machine; the provider is running it.
    Running,
    /// A rental its renter ended asking to save its workspace: billing
    /// stopped, its provider saves the workspace, and it closes then.
    Saving,
    /// The provider reported a result; settlement follows the dispute window.
    Reported,
    /// Reported, and held until the audit runs of the job are compared.
    Auditing,
    /// Paid: the provider was paid, a share burned, the rest refunded.
    Settled,
    /// The provider failed the job: client refunded, provider slashed.
    Failed,
    /// The provider missed its deadline: client refunded, provider slashed.
    TimedOut,
    /// No machine took the order before its expiry: client refunded.
    Expired,
    /// The client cancelled it while pending: client refunded.
    Cancelled,
    /// Every machine it was leased to declined it (it could not start
    /// there), `max_declines` times: client refunded.
    Declined,
    /// Its client stopped it while it ran: the provider was paid the time
    /// it ran, the rest refunded, nobody slashed; there is no result.
    Stopped,
}

impl OrderStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [OrderStatus; 13] = [
        OrderStatus::Pending,
        OrderStatus::Preparing,
        OrderStatus::Running,
        OrderStatus::Saving,
        OrderStatus::Reported,
        OrderStatus::Auditing,
        OrderStatus::Settled,
        OrderStatus::Failed,
        OrderStatus::TimedOut,
        OrderStatus::Expired,
        OrderStatus::Cancelled,
        OrderStatus::Declined,
        OrderStatus::Stopped,
    ];

    /// The status as JSON spells it, for text output to spell it the same.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Preparing => "preparing",
            OrderStatus::Running => "running",
            OrderStatus::Saving => "saving",
            OrderStatus::Reported => "reported",
            OrderStatus::Auditing => "auditing",
            OrderStatus::Settled => "settled",
            OrderStatus::Failed => "failed",
            OrderStatus::TimedOut => "timed_out",
            OrderStatus::Expired => "expired",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Declined => "declined",
            OrderStatus::Stopped => "stopped",
        }
    }

    /// Whether a machine holds the order to run it now: preparing or
    /// running (its secrets are sealed to that machine's provider then).
    pub fn is_leased(self) -> bool {
        matches!(self, OrderStatus::Preparing | OrderStatus::Running)
    }

    /// Whether the order still holds escrow.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            OrderStatus::Pending
                | OrderStatus::Preparing
                | OrderStatus::Running
                | OrderStatus::Saving
                | OrderStatus::Reported
                | OrderStatus::Auditing
        )
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_status_reads_the_same_in_text_and_json() {
        for status in OrderStatus::ALL {
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::Value::String(status.to_string())
            );
        }
    }
}
