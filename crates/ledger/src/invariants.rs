//! Ledger invariants. They must hold after every block; property tests check them
//! over random transaction sequences and the node can check them at runtime.

use crate::state::State;
use gpunet_primitives::{Amount, MachineId};
use gpunet_types::{max_payment, Allocation, ChallengePhase, OrderStatus};
use std::collections::BTreeMap;

/// Checks every invariant; returns a description of the first violation.
pub fn check(state: &State) -> Result<(), String> {
    let g = state.globals();
    let mut balances: Amount = 0;
    let mut staked: Amount = 0;
    for (_, a) in state.accounts.iter() {
        balances = balances.checked_add(a.balance).ok_or("balances overflow")?;
        staked = staked
            .checked_add(a.bonded)
            .and_then(|s| s.checked_add(a.validator_bonded))
            .and_then(|s| s.checked_add(a.unbonding_total()))
            .ok_or("stake overflows")?;
    }
    let mut escrow: Amount = 0;
    let mut allocated: BTreeMap<MachineId, Allocation> = BTreeMap::new();
    if state.client_orders.len() != state.orders.len() {
        return Err("the client index does not hold exactly the orders".into());
    }
    for (id, o) in state.orders.iter() {
        escrow = escrow.checked_add(o.escrow).ok_or("escrow overflows")?;
        if !o.status().is_open() && o.escrow != 0 {
            return Err(format!("closed order {id} still holds escrow {}", o.escrow));
        }
        let rental = o.is_rental();
        let indexed = |t: bool, name: &str| {
            if t != matches!(
                (o.status(), name, rental),
                (OrderStatus::Pending, "pending", _)
                    | (OrderStatus::Running, "deadlines", false)
                    | (OrderStatus::Running, "rental_billing", true)
                    | (OrderStatus::Reported, "settle_queue", _)
            ) {
                Err(format!(
                    "order {id} ({:?}) is {}in the {name} index",
                    o.status(),
                    if t { "" } else { "not " }
                ))
            } else {
                Ok(())
            }
        };
        indexed(state.pending.contains(&(o.submitted_ms, *id)), "pending")?;
        if o.status().is_open() && o.declines.len() >= state.params.max_declines as usize {
            return Err(format!(
                "open order {id} has {} declines; it should have closed",
                o.declines.len()
            ));
        }
        if let Some(lease) = o.lease() {
            if o.declines.iter().any(|d| d.machine == lease.machine) {
                return Err(format!(
                    "order {id} is leased to machine {}, which declined it",
                    lease.machine
                ));
            }
            if lease.price_per_hour > o.max_price_per_hour {
                return Err(format!("order {id} leased above its max price"));
            }
            indexed(
                state.deadlines.contains(&(lease.deadline_ms, *id)),
                "deadlines",
            )?;
            if let Some(r) = o.rental() {
                indexed(
                    state.rental_billing.contains(&(r.next_bill_ms, *id)),
                    "rental_billing",
                )?;
                if let Some(probe) = r.probe {
                    if !state.probe_deadlines.contains(&(probe.deadline_ms, *id)) {
                        return Err(format!("rental {id}'s liveness probe is not indexed"));
                    }
                }
            }
            if o.status() == OrderStatus::Running {
                let cap = match o.rental() {
                    // What the rest of the rented time will cost.
                    Some(r) => crate::exec::payment(
                        lease.price_per_hour,
                        r.ends_ms.saturating_sub(lease.start_ms),
                    )
                    .map_err(|e| e.to_string())?
                    .saturating_sub(r.paid + r.burned),
                    None => max_payment(lease.price_per_hour, o.spec.timeout_secs)
                        .map_err(|e| e.to_string())?,
                };
                if o.escrow < cap {
                    return Err(format!(
                        "open lease of order {id} is not covered by escrow ({} < {cap})",
                        o.escrow
                    ));
                }
                let a = allocated.entry(lease.machine).or_default();
                let r = &o.spec.resources;
                a.cpu_cores += r.cpu_cores;
                a.memory_mb += r.memory_mb;
                a.disk_mb += r.disk_mb;
                a.gpus += r.gpu.count;
            }
        }
        if !state.client_orders.contains(&(o.client, *id)) {
            return Err(format!("order {id} is not indexed under its client"));
        }
        if let Some(parent) = o.audit_of() {
            if !state
                .orders
                .get(&parent)
                .is_some_and(|p| p.audit_runs().contains(id))
            {
                return Err(format!("audit run {id} is not listed by order {parent}"));
            }
        }
        if o.status() == OrderStatus::Auditing {
            // Held for an audit: its escrow still covers its own provider's pay.
            let (Some(lease), Some(report)) = (o.lease(), o.report()) else {
                return Err(format!("order {id} is audited without a report"));
            };
            let owed = crate::exec::payment(lease.price_per_hour, report.billable_ms)
                .map_err(|e| e.to_string())?;
            if o.escrow < owed {
                return Err(format!(
                    "audited order {id} holds {} < its pay {owed}",
                    o.escrow
                ));
            }
        }
        if o.status() == OrderStatus::Reported {
            let settle_at = o.report().map_or(0, |r| {
                r.reported_ms.saturating_add(state.params.dispute_window_ms)
            });
            if !state.settle_queue.contains(&(settle_at, *id)) {
                return Err(format!("reported order {id} is not queued for settlement"));
            }
        }
    }
    let held = balances
        .checked_add(staked)
        .and_then(|s| s.checked_add(escrow))
        .and_then(|s| s.checked_add(g.burned))
        .ok_or("supply overflows")?;
    let issued = g
        .genesis_supply
        .checked_add(g.minted)
        .ok_or("issued overflows")?;
    if held != issued {
        return Err(format!(
            "supply not conserved: balances {balances} + stake {staked} + escrow {escrow} + burned {} = {held}, issued {issued}",
            g.burned
        ));
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
            return Err(format!(
                "validator {address} has power {} for stake {bonded}",
                v.power
            ));
        }
    }
    let current = state.current_validators();
    if current.is_empty() {
        return Err("the validator set is empty".into());
    }
    if state.validator_sets.iter().next_back().map(|(_, s)| s) != Some(&current) {
        return Err("the recorded next validator set is not the current one".into());
    }
    for (id, m) in state.machines.iter() {
        let expect = allocated.remove(id).unwrap_or_default();
        if m.allocated != expect {
            return Err(format!(
                "machine {id} allocation {:?} differs from its leases {expect:?}",
                m.allocated
            ));
        }
        if m.allocated.gpus > m.spec.gpu_count() || m.allocated.cpu_cores > m.spec.cpu_cores {
            return Err(format!("machine {id} is over-allocated"));
        }
        if let Some(c) = m.challenge {
            if state.challenges.get(&c).is_none_or(|ch| ch.machine != *id) {
                return Err(format!(
                    "machine {id} points at challenge {c}, which is not its"
                ));
            }
        }
    }
    if let Some(id) = allocated.keys().next() {
        return Err(format!("leases point at missing machine {id}"));
    }
    if !state.offers_consistent() {
        return Err("the offer indexes differ from the machines that can take work".into());
    }
    check_challenges(state)
}

/// Every open challenge belongs to its machine and sits in exactly the index
/// its phase needs.
fn check_challenges(state: &State) -> Result<(), String> {
    let mut deadlines = 0;
    let mut awaiting = 0;
    for (id, ch) in state.challenges.iter() {
        if state.machines.get(&ch.machine).and_then(|m| m.challenge) != Some(*id) {
            return Err(format!(
                "challenge {id} is not its machine's open challenge"
            ));
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
            return Err(format!("challenge {id} is missing from its deadline index"));
        }
    }
    if state.challenge_deadlines.len() != deadlines || state.awaiting_beacon.len() != awaiting {
        return Err("challenge indexes hold entries of no open challenge".into());
    }
    Ok(())
}
