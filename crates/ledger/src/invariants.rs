//! Ledger invariants. They must hold after every block; property tests check them
//! over random transaction sequences and the node can check them at runtime.

use crate::state::State;
use gpunet_primitives::{Address, Amount, ChallengeId, MachineId, OrderId};
use gpunet_types::{max_payment, Allocation, ChallengePhase, OrderStatus};
use std::collections::BTreeMap;

/// An invariant that does not hold, with what breaks it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[allow(
    missing_docs,
    reason = "each variant's #[error] message says what it means; its fields are that message's parts"
)]
pub enum Violation {
    /// A total (balances, stake, escrow, supply, a lease's cost or
    /// resources) does not fit its type.
    #[error("{0} overflows")]
    Overflow(&'static str),
    #[error("the client index does not hold exactly the orders")]
    ClientIndexSize,
    #[error("closed order {order} still holds escrow {escrow}")]
    ClosedWithEscrow { order: OrderId, escrow: Amount },
    /// An order is in an index its status does not put it in, or missing
    /// from one it does (`indexed` says which).
    #[error("order {order} ({status:?}) is {}in the {index} index", if *indexed { "" } else { "not " })]
    Index {
        order: OrderId,
        status: OrderStatus,
        index: &'static str,
        indexed: bool,
    },
    #[error("open order {order} has {declines} declines; it should have closed")]
    TooManyDeclines { order: OrderId, declines: usize },
    #[error("order {order} is leased to machine {machine}, which declined it")]
    LeasedToDecliner { order: OrderId, machine: MachineId },
    #[error("open order {order} had {attempts} failed runs of the {max} it allows; it should have closed")]
    TooManyAttempts {
        order: OrderId,
        attempts: usize,
        max: u32,
    },
    #[error("order {order} is leased to machine {machine}, which failed it before")]
    LeasedToFailedMachine { order: OrderId, machine: MachineId },
    #[error("order {order} leased above its max price")]
    OverMaxPrice { order: OrderId },
    #[error("rental {order}'s liveness probe is not indexed")]
    ProbeNotIndexed { order: OrderId },
    #[error("open lease of order {order} is not covered by escrow ({escrow} < {cap})")]
    LeaseUncovered {
        order: OrderId,
        escrow: Amount,
        cap: Amount,
    },
    #[error("order {order} is not indexed under its client")]
    NotUnderClient { order: OrderId },
    #[error("audit run {run} is not listed by order {parent}")]
    AuditRunUnlisted { run: OrderId, parent: OrderId },
    #[error("order {order} is audited without a report")]
    AuditedWithoutReport { order: OrderId },
    #[error("audited order {order} holds {escrow} < its pay {owed}")]
    AuditedUnderfunded {
        order: OrderId,
        escrow: Amount,
        owed: Amount,
    },
    #[error("reported order {order} is not queued for settlement")]
    NotQueued { order: OrderId },
    #[error("supply not conserved: balances {balances} + stake {staked} + escrow {escrow} + burned {burned} = {held}, issued {issued}")]
    SupplyNotConserved {
        balances: Amount,
        staked: Amount,
        escrow: Amount,
        burned: Amount,
        held: Amount,
        issued: Amount,
    },
    #[error("validator {validator} has power {power} for stake {bonded}")]
    WrongPower {
        validator: Address,
        power: u64,
        bonded: Amount,
    },
    #[error("the validator set is empty")]
    NoValidators,
    #[error("the recorded next validator set is not the current one")]
    StaleValidatorSet,
    #[error("machine {machine} allocation {allocated:?} differs from its leases {leased:?}")]
    AllocationMismatch {
        machine: MachineId,
        allocated: Allocation,
        leased: Allocation,
    },
    #[error("machine {machine} is over-allocated")]
    OverAllocated { machine: MachineId },
    #[error("machine {machine} points at challenge {challenge}, which is not its")]
    ForeignChallenge {
        machine: MachineId,
        challenge: ChallengeId,
    },
    #[error("leases point at missing machine {machine}")]
    LeaseOnMissingMachine { machine: MachineId },
    #[error("pending order {order} is missing from the index of what orders want")]
    NotWanting { order: OrderId },
    #[error("the index of what orders want holds {indexed} entries for {pending} pending orders")]
    WantingSize { pending: usize, indexed: usize },
    #[error("the offer indexes differ from the machines that can take work")]
    OfferIndex,
    #[error("challenge {challenge} is not its machine's open challenge")]
    OrphanChallenge { challenge: ChallengeId },
    #[error("challenge {challenge} is missing from its deadline index")]
    ChallengeNotIndexed { challenge: ChallengeId },
    #[error("challenge indexes hold entries of no open challenge")]
    StaleChallengeIndex,
}

/// Checks every invariant; returns the first violation.
pub fn check(state: &State) -> Result<(), Violation> {
    let g = state.globals();
    let mut balances: Amount = 0;
    let mut staked: Amount = 0;
    for (_, a) in state.accounts.iter() {
        balances = balances
            .checked_add(a.balance)
            .ok_or(Violation::Overflow("balances"))?;
        staked = staked
            .checked_add(a.bonded)
            .and_then(|s| s.checked_add(a.validator_bonded))
            .and_then(|s| s.checked_add(a.unbonding_total()))
            .ok_or(Violation::Overflow("stake"))?;
    }
    let mut escrow: Amount = 0;
    let mut allocated: BTreeMap<MachineId, Allocation> = BTreeMap::new();
    let mut wanting = 0;
    if state.client_orders.len() != state.orders.len() {
        return Err(Violation::ClientIndexSize);
    }
    for (id, o) in state.orders.iter() {
        escrow = escrow
            .checked_add(o.escrow)
            .ok_or(Violation::Overflow("escrow"))?;
        if !o.status().is_open() && o.escrow != 0 {
            return Err(Violation::ClosedWithEscrow {
                order: *id,
                escrow: o.escrow,
            });
        }
        let rental = o.is_rental();
        let indexed = |t: bool, name: &'static str| {
            if t != matches!(
                (o.status(), name, rental),
                (OrderStatus::Pending, "pending", _)
                    | (OrderStatus::Preparing, "deadlines", _)
                    | (OrderStatus::Running, "deadlines", false)
                    | (
                        OrderStatus::Running | OrderStatus::Saving,
                        "rental_billing",
                        true
                    )
                    | (OrderStatus::Reported, "settle_queue", _)
            ) {
                Err(Violation::Index {
                    order: *id,
                    status: o.status(),
                    index: name,
                    indexed: t,
                })
            } else {
                Ok(())
            }
        };
        indexed(state.pending.contains(&o.queue_key()), "pending")?;
        if o.status() == OrderStatus::Pending && state.is_wanting(o) {
            wanting += 1;
            if !state.wanting_consistent(o) {
                return Err(Violation::NotWanting { order: *id });
            }
        }
        if o.status().is_open() && o.attempts().len() >= o.spec.max_attempts as usize {
            return Err(Violation::TooManyAttempts {
                order: *id,
                attempts: o.attempts().len(),
                max: o.spec.max_attempts,
            });
        }
        if o.status().is_open() && o.declines.len() >= state.params.max_declines as usize {
            return Err(Violation::TooManyDeclines {
                order: *id,
                declines: o.declines.len(),
            });
        }
        if let Some(lease) = o.lease() {
            if o.declines.iter().any(|d| d.machine == lease.machine) {
                return Err(Violation::LeasedToDecliner {
                    order: *id,
                    machine: lease.machine,
                });
            }
            if o.attempts().iter().any(|a| a.machine == lease.machine) {
                return Err(Violation::LeasedToFailedMachine {
                    order: *id,
                    machine: lease.machine,
                });
            }
            if lease.price_per_hour > o.max_price_per_hour {
                return Err(Violation::OverMaxPrice { order: *id });
            }
            indexed(
                state.deadlines.contains(&(lease.deadline_ms, *id)),
                "deadlines",
            )?;
            if let Some(r) = o.rental() {
                indexed(
                    o.billing_key()
                        .is_some_and(|key| state.rental_billing.contains(&key)),
                    "rental_billing",
                )?;
                if let Some(probe) = r.probe {
                    if !state.probe_deadlines.contains(&(probe.deadline_ms, *id)) {
                        return Err(Violation::ProbeNotIndexed { order: *id });
                    }
                }
            }
            if matches!(o.status(), OrderStatus::Preparing | OrderStatus::Running) {
                let cap = match o.rental() {
                    // What the rest of the rented time will cost.
                    Some(r) => crate::exec::payment(
                        lease.price_per_hour,
                        r.ends_ms.saturating_sub(lease.start_ms),
                    )
                    .map_err(|_| Violation::Overflow("a rental's cost"))?
                    .saturating_sub(r.paid.saturating_add(r.burned)),
                    None => max_payment(lease.price_per_hour, o.spec.timeout_secs)
                        .map_err(|_| Violation::Overflow("a job's cost"))?,
                };
                if o.escrow < cap {
                    return Err(Violation::LeaseUncovered {
                        order: *id,
                        escrow: o.escrow,
                        cap,
                    });
                }
            }
            // A preparing lease holds its machine already, and a rental
            // saving its workspace holds it until saved.
            if matches!(
                o.status(),
                OrderStatus::Preparing | OrderStatus::Running | OrderStatus::Saving
            ) {
                let a = allocated.entry(lease.machine).or_default();
                let r = &o.spec.resources;
                let overflow = || Violation::Overflow("a machine's leased resources");
                a.cpu_cores = a.cpu_cores.checked_add(r.cpu_cores).ok_or_else(overflow)?;
                a.memory_mb = a.memory_mb.checked_add(r.memory_mb).ok_or_else(overflow)?;
                a.disk_mb = a.disk_mb.checked_add(r.disk_mb).ok_or_else(overflow)?;
                a.gpus = a.gpus.checked_add(r.gpu.count).ok_or_else(overflow)?;
            }
        }
        if !state.client_orders.contains(&(o.client, *id)) {
            return Err(Violation::NotUnderClient { order: *id });
        }
        if let Some(parent) = o.audit_of() {
            if !state
                .orders
                .get(&parent)
                .is_some_and(|p| p.audit_runs().contains(id))
            {
                return Err(Violation::AuditRunUnlisted { run: *id, parent });
            }
        }
        if o.status() == OrderStatus::Auditing {
            // Held for an audit: its escrow still covers its own provider's pay.
            let (Some(lease), Some(report)) = (o.lease(), o.report()) else {
                return Err(Violation::AuditedWithoutReport { order: *id });
            };
            let owed = crate::exec::payment(lease.price_per_hour, report.billable_ms)
                .map_err(|_| Violation::Overflow("an audited job's pay"))?;
            if o.escrow < owed {
                return Err(Violation::AuditedUnderfunded {
                    order: *id,
                    escrow: o.escrow,
                    owed,
                });
            }
        }
        if o.status() == OrderStatus::Reported {
            let settle_at = o.report().map_or(0, |r| {
                r.reported_ms.saturating_add(state.params.dispute_window_ms)
            });
            if !state.settle_queue.contains(&(settle_at, *id)) {
                return Err(Violation::NotQueued { order: *id });
            }
        }
    }
    let held = balances
        .checked_add(staked)
        .and_then(|s| s.checked_add(escrow))
        .and_then(|s| s.checked_add(g.burned))
        .ok_or(Violation::Overflow("supply"))?;
    let issued = g
        .genesis_supply
        .checked_add(g.minted)
        .ok_or(Violation::Overflow("issued supply"))?;
    if held != issued {
        return Err(Violation::SupplyNotConserved {
            balances,
            staked,
            escrow,
            burned: g.burned,
            held,
            issued,
        });
    }
    let stake_per_vote = state.params.stake_per_vote;
    for (address, v) in state.validators.iter() {
        let bonded = state.account(address).validator_bonded;
        let power = if v.tombstoned {
            0
        } else {
            bonded / stake_per_vote
        };
        if u128::from(v.power) != power {
            return Err(Violation::WrongPower {
                validator: *address,
                power: v.power,
                bonded,
            });
        }
    }
    let current = state.current_validators();
    if current.is_empty() {
        return Err(Violation::NoValidators);
    }
    if state.validator_sets.iter().next_back().map(|(_, s)| s) != Some(&current) {
        return Err(Violation::StaleValidatorSet);
    }
    for (id, m) in state.machines.iter() {
        let expect = allocated.remove(id).unwrap_or_default();
        if m.allocated != expect {
            return Err(Violation::AllocationMismatch {
                machine: *id,
                allocated: m.allocated.clone(),
                leased: expect,
            });
        }
        if m.allocated.gpus > m.spec.gpu_count() || m.allocated.cpu_cores > m.spec.cpu_cores {
            return Err(Violation::OverAllocated { machine: *id });
        }
        if let Some(c) = m.challenge {
            if state.challenges.get(&c).is_none_or(|ch| ch.machine != *id) {
                return Err(Violation::ForeignChallenge {
                    machine: *id,
                    challenge: c,
                });
            }
        }
    }
    if let Some(id) = allocated.keys().next() {
        return Err(Violation::LeaseOnMissingMachine { machine: *id });
    }
    if wanting != state.wanting.len() {
        return Err(Violation::WantingSize {
            pending: wanting,
            indexed: state.wanting.len(),
        });
    }
    if !state.offers_consistent() {
        return Err(Violation::OfferIndex);
    }
    check_challenges(state)
}

/// Every open challenge belongs to its machine and sits in exactly the index
/// its phase needs.
fn check_challenges(state: &State) -> Result<(), Violation> {
    let mut deadlines = 0;
    let mut awaiting = 0;
    for (id, ch) in state.challenges.iter() {
        if state.machines.get(&ch.machine).and_then(|m| m.challenge) != Some(*id) {
            return Err(Violation::OrphanChallenge { challenge: *id });
        }
        let indexed = match (&ch.phase, ch.deadline_key()) {
            (ChallengePhase::Committed { height, .. }, _) => {
                awaiting += 1;
                state.awaiting_beacon.contains(&(*height, *id))
            }
            (_, key) => {
                deadlines += 1;
                key.is_some_and(|k| state.challenge_deadlines.contains(&k))
            }
        };
        if !indexed {
            return Err(Violation::ChallengeNotIndexed { challenge: *id });
        }
    }
    if state.challenge_deadlines.len() != deadlines || state.awaiting_beacon.len() != awaiting {
        return Err(Violation::StaleChallengeIndex);
    }
    Ok(())
}
