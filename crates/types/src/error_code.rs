//! Every stable error code the API answers, in one place: the ledger's
//! transaction errors name theirs here, the API's own refusals too, and the
//! OpenAPI document and README list exactly these.

use serde::{Deserialize, Serialize};

/// A stable, machine-readable reason a node refused a request, carried in
/// [`ApiError::code`](crate::ApiError::code). Codes are never renamed: a new
/// cause gets a new code.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumIter,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    // A transaction's envelope.
    /// Bytes that do not decode as a signed transaction or request.
    Malformed,
    /// A body or field over its limit.
    TooLarge,
    /// A signature that does not verify under the signer's key.
    BadSignature,
    /// A transaction signed for another chain.
    WrongChain,
    /// A nonce that is not the sender's next one (replayed or out of order).
    BadNonce,
    /// A fee under the chain's minimum.
    FeeTooLow,

    // Amounts and specs.
    /// Not enough balance.
    InsufficientFunds,
    /// Not enough bonded stake for the machines.
    InsufficientStake,
    /// An amount that overflows.
    Overflow,
    /// An amount that must be positive.
    ZeroAmount,
    /// A deposit that does not cover what it must.
    DepositTooSmall,
    /// An address that is not an account's key (or a weak one).
    BadAddress,
    /// A spec no machine could ever run.
    ImpossibleSpec,
    /// A text field over its limit.
    TooLong,

    // Machines.
    /// No such machine.
    UnknownMachine,
    /// Another account's machine.
    NotYourMachine,
    /// A machine that still has open leases.
    MachineBusy,
    /// A machine with an open hardware challenge.
    ChallengeOpen,

    // Hardware challenges.
    /// No such challenge.
    UnknownChallenge,
    /// A challenge of another account's machine.
    NotYourChallenge,
    /// A challenge already committed.
    ChallengeCommitted,
    /// A challenge whose rows are not drawn yet.
    ChallengeNotDrawn,
    /// A challenge past its deadline.
    ChallengeLate,

    // Orders.
    /// No such order.
    UnknownOrder,
    /// Another account's order.
    NotYourOrder,
    /// An order not leased to the sender.
    NotYourLease,
    /// An order in a status that does not allow it.
    WrongStatus,
    /// Refused for an audit run.
    AuditRun,
    /// An order without output.
    NoOutput,
    /// A result already audited.
    AlreadyAudited,
    /// A run stopped at its limit: no duration to dispute.
    StoppedAtLimit,
    /// Too late to decline a lease.
    DeclineTooLate,
    /// A result shared with as many accounts as it may be.
    TooManyReaders,
    /// A result already shared with that account.
    AlreadyShared,
    /// A result not shared with that account.
    NotShared,
    /// Secrets sealed for an order whose spec names none.
    NoSecrets,
    /// Secrets sealed again for the same lease.
    SecretsAlreadySealed,

    // Rentals.
    /// A rental has no result to report.
    RentalHasNoResult,
    /// A rental ends with `rent end`, not a stop.
    RentalNotStopped,
    /// Not a rental.
    NotARental,
    /// A rental billed already: too late to decline.
    RentalBilled,
    /// A rental with an open liveness probe.
    ProbeOpen,
    /// A machine already probed or held down.
    AlreadyProbed,
    /// No liveness probe to answer.
    NoProbe,
    /// Endpoints that do not match the exposed ports.
    EndpointCount,
    /// An endpoint empty or too long.
    BadEndpoint,
    /// A spec's workspace that the named rental of the same client did
    /// not save.
    NoSavedWorkspace,

    // The data plane.
    /// A peer announced at too many direct addresses.
    TooManyPeerAddresses,
    /// A peer address that is no `IP:port`.
    BadPeerAddress,
    /// A relay that is no http(s) URL, or too long.
    BadRelayUrl,
    /// An input named as a file of an earlier job's result that its
    /// provider keeps, where the job is not the client's, or its provider
    /// keeps no result of it.
    NoKeptResult,

    // Validators.
    /// Not a validator.
    NotAValidator,
    /// A validator tombstoned for double signing.
    Tombstoned,
    /// The last validator cannot leave.
    LastValidator,
    /// Double-sign evidence that does not prove a double sign.
    BadEvidence,
    /// Evidence from a height not reached yet.
    FutureEvidence,
    /// A ledger bug refused instead of halting the chain: an order found in
    /// a phase its indexes rule out.
    WrongPhase,

    // Requests other than transactions.
    /// A request the API cannot take (a bad path parameter, query or body).
    BadRequest,
    /// Nothing by that name (route, account, order, blob, block...).
    NotFound,
    /// A route that does not take that method.
    MethodNotAllowed,
    /// A body in a content type the route does not take.
    UnsupportedMediaType,
    /// A request body that arrived too slowly.
    Timeout,
    /// A signed request without its signature header.
    Unauthorized,
    /// A signer who may not read or write that.
    Forbidden,
    /// A signed request or transaction wait past its time.
    Expired,
    /// An upload by an account with no funds.
    Unfunded,
    /// An upload over the uploader's quota.
    OverQuota,
    /// An upload whose bytes do not hash to the hash it named.
    HashMismatch,
    /// An upload whose length is not the size it named.
    SizeMismatch,
    /// A live log read by someone other than the order's client.
    NotTheOwner,
    /// A live log written by someone other than the order's provider.
    NotTheProvider,
    /// A live log of an order that is not running.
    NotRunning,
    /// The node's mempool is full: try again.
    Busy,
    /// The node is stopping.
    Stopped,
    /// The node's disk is full.
    DiskFull,
    /// The node's store failed.
    Storage,
    /// A bug in the node.
    Internal,
}

impl ErrorCode {
    /// The code as the API spells it, e.g. `bad_nonce`.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Lets tests and callers compare a code with its spelling.
impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;
    use strum::IntoEnumIterator;

    #[test]
    fn every_code_is_spelled_the_same_in_json_and_text() {
        for code in ErrorCode::iter() {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str(), "{code:?}");
        }
    }

    /// README's "Error codes" lists every code: the list cannot fall behind.
    #[test]
    fn the_readme_lists_every_error_code() {
        let readme = include_str!("../../../README.md");
        for code in ErrorCode::iter() {
            assert!(
                readme.contains(&format!("`{code}`")),
                "README's error codes lack `{code}`"
            );
        }
    }
}
