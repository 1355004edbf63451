//! Whether a machine can take an order now, and if not, why: matching asks
//! only whether (stopping at the first reason, cheapest checks first), and a
//! client whose order waits asks why, of every machine (`Ledger::unmatched`).
//! One function answers both, so the reasons given are the rules applied.

use crate::order::Order;
use crate::state::State;
use gpunet_primitives::{Address, Amount, Resources};
use gpunet_types::{required_stake, HardwareStatus, Machine};
use gpunet_types::{Misfit, Unmatched};

/// The reasons a machine cannot take an order, as a set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Misfits(u32);

impl Misfits {
    pub(super) fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(super) fn len(self) -> u32 {
        self.0.count_ones()
    }

    fn add(&mut self, m: Misfit) {
        self.0 |= 1 << m as u32;
    }

    pub(super) fn contains(self, m: Misfit) -> bool {
        self.0 & (1 << m as u32) != 0
    }

    /// Its reasons, in declaration order.
    pub(super) fn iter(self) -> impl Iterator<Item = Misfit> {
        Misfit::ALL.into_iter().filter(move |m| self.contains(*m))
    }
}

/// Whether `asked` more on top of `allocated` stays within `total`; a sum
/// that would overflow does not (validation bounds every resource, so none
/// should, but a wrapped sum once leased a huge job onto a busy machine).
fn within(allocated: impl Into<u64>, asked: impl Into<u64>, total: impl Into<u64>) -> bool {
    allocated
        .into()
        .checked_add(asked.into())
        .is_some_and(|sum| sum <= total.into())
}

/// Whether `haystack` contains `needle`, ignoring case as `to_lowercase`
/// does; without lowercased copies when both are ASCII (GPU model names
/// are), since matching asks this of every machine it checks.
fn contains_ci(haystack: &str, needle: &str) -> bool {
    if haystack.is_ascii() && needle.is_ascii() {
        let (haystack, needle) = (haystack.as_bytes(), needle.as_bytes());
        return needle.is_empty()
            || haystack
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle));
    }
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

/// The job's hourly price on `m`; `None` on overflow.
pub(crate) fn price_on(m: &Machine, r: &Resources) -> Option<Amount> {
    m.resource_prices.job_price(m.price_per_hour, r)
}

/// Why `m` cannot take `order` now (none: it can). With `all`, every reason;
/// without, at most the first found, the owner's stake (an account lookup)
/// checked last, as matching needs.
pub(crate) fn misfits(
    state: &State,
    order: &Order,
    m: &Machine,
    excluded: &[Address],
    all: bool,
) -> Misfits {
    let mut found = Misfits::default();
    let r = &order.spec.resources;
    let s = &m.spec;
    let a = &m.allocated;
    let gpu = &r.gpu;
    let checks: [(Misfit, &dyn Fn() -> bool); 16] = [
        (Misfit::Price, &|| {
            price_on(m, r).is_some_and(|p| p <= order.max_price_per_hour)
        }),
        (Misfit::Offline, &|| m.online),
        (Misfit::Unverified, &|| {
            m.hardware == HardwareStatus::Verified
        }),
        (Misfit::GpuCount, &|| {
            gpu.count == 0
                || s.gpu
                    .as_ref()
                    .is_some_and(|g| within(a.gpus, gpu.count, g.count))
        }),
        (Misfit::GpuVendor, &|| {
            gpu.count == 0
                || gpu.vendor.as_ref().is_none_or(|v| {
                    s.gpu
                        .as_ref()
                        .is_some_and(|g| g.vendor.eq_ignore_ascii_case(v))
                })
        }),
        (Misfit::GpuModel, &|| {
            gpu.count == 0
                || gpu
                    .model
                    .as_ref()
                    .is_none_or(|w| s.gpu.as_ref().is_some_and(|g| contains_ci(&g.model, w)))
        }),
        (Misfit::GpuMemory, &|| {
            gpu.count == 0 || s.gpu.as_ref().is_some_and(|g| g.vram_mb >= gpu.min_vram_mb)
        }),
        (Misfit::Cpu, &|| {
            within(a.cpu_cores, r.cpu_cores, s.cpu_cores)
        }),
        (Misfit::Memory, &|| {
            within(a.memory_mb, r.memory_mb, s.memory_mb)
        }),
        (Misfit::Disk, &|| within(a.disk_mb, r.disk_mb, s.disk_mb)),
        (Misfit::Region, &|| {
            order
                .spec
                .region
                .as_ref()
                .is_none_or(|reg| reg == &s.region)
        }),
        (Misfit::Reliability, &|| {
            m.reliability_bps() >= order.spec.min_reliability_bps
        }),
        (Misfit::Declined, &|| {
            !order.declines.iter().any(|d| d.machine == m.id)
        }),
        (Misfit::FailedBefore, &|| {
            !order.attempts().iter().any(|a| a.machine == m.id)
        }),
        (Misfit::Audited, &|| !excluded.contains(&m.owner)),
        // Last: the only check that looks anything up.
        (Misfit::Stake, &|| {
            state.accounts.get(&m.owner).is_some_and(|owner| {
                required_stake(&state.params, owner).is_ok_and(|need| owner.bonded >= need)
            })
        }),
    ];
    for (misfit, holds) in checks {
        if !holds() {
            found.add(misfit);
            if !all {
                break;
            }
        }
    }
    found
}

/// [`Unmatched`] of `order` over every machine in `state`, with at most
/// `closest` machines named: those that miss fewest, the cheapest for the
/// job first among them.
pub(crate) fn unmatched(state: &State, order: &Order, closest: usize) -> Unmatched {
    let mut missed = std::collections::BTreeMap::<Misfit, usize>::new();
    let mut ranked: Vec<(u32, &Machine, Misfits)> = Vec::new();
    let mut machines = 0;
    for (_, m) in state.machines.iter() {
        machines += 1;
        let found = misfits(state, order, m, &[], true);
        for misfit in found.iter() {
            *missed.entry(misfit).or_default() += 1;
        }
        ranked.push((found.len(), m, found));
    }
    let fitting = ranked.iter().filter(|(n, ..)| *n == 0).count();
    ranked.sort_by_key(|(n, m, _)| {
        let price = price_on(m, &order.spec.resources).unwrap_or(Amount::MAX);
        (*n, price, m.id)
    });
    Unmatched {
        machines,
        fitting,
        missed: missed.into_iter().collect(),
        closest: ranked
            .into_iter()
            .take(closest)
            .map(|(_, m, found)| (m.clone(), found.iter().collect()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::contains_ci;

    #[test]
    fn a_model_filter_matches_whatever_the_case_ascii_or_not() {
        assert!(contains_ci("NVIDIA GeForce RTX 4090", "rtx 4090"));
        assert!(contains_ci("nvidia h100 80gb hbm3", "H100"));
        assert!(contains_ci("A100", ""));
        assert!(!contains_ci("RTX 409", "rtx 4090"));
        assert!(!contains_ci("NVIDIA A100", "h100"));
        // Beyond ASCII, as `to_lowercase` reads it.
        assert!(contains_ci("Ärger GPU Ω", "äRGER gpu ω"));
        assert!(!contains_ci("Ärger GPU", "aerger"));
    }
}
