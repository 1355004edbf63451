//! The network's machines and GPUs counted from the ledger, as the metrics
//! and the console show them: one pass over the machines, one answer for
//! both, so a dashboard and a page never disagree.

use gpunet_ledger::State;
use gpunet_primitives::Amount;
use gpunet_types::HardwareStatus;
use std::collections::BTreeMap;

/// Machines and GPUs, counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Census {
    /// Every registered machine.
    pub machines: u64,
    /// Machines that take new leases.
    pub online: u64,
    /// Machines whose hardware is proven.
    pub verified: u64,
    /// GPUs by model, by model name.
    pub gpus: Vec<ModelCensus>,
}

/// The GPUs of one model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelCensus {
    /// The model, as the first of its machines spells it.
    pub model: String,
    /// On every registered machine.
    pub registered: u64,
    /// On listed machines: online and verified, offered to clients.
    pub listed: u64,
    /// Held by open leases.
    pub rented: u64,
    /// What one GPU-hour costs on each listed machine (its base price plus
    /// its per-GPU price), ascending.
    pub listed_prices: Vec<Amount>,
}

impl ModelCensus {
    /// The median of `listed_prices` (the lower middle of an even count),
    /// if any machine lists the model.
    pub fn median_price(&self) -> Option<Amount> {
        let n = self.listed_prices.len();
        (n > 0).then(|| self.listed_prices[(n - 1) / 2])
    }
}

/// Counts `state`'s machines and GPUs.
pub fn census(state: &State) -> Census {
    let mut census = Census::default();
    // By interned model id: one integer lookup per machine.
    let mut models: BTreeMap<u32, ModelCensus> = BTreeMap::new();
    for (_, machine) in state.machines.iter() {
        let verified = machine.hardware == HardwareStatus::Verified;
        let listed = machine.online && verified;
        census.machines += 1;
        census.online += u64::from(machine.online);
        census.verified += u64::from(verified);
        let Some(gpu) = &machine.spec.gpu else {
            continue;
        };
        let model = models
            .entry(machine.gpu_model_id)
            .or_insert_with(|| ModelCensus {
                model: gpu.model.clone(),
                ..ModelCensus::default()
            });
        model.registered += u64::from(gpu.count);
        model.rented += u64::from(machine.allocated.gpus);
        if listed {
            model.listed += u64::from(gpu.count);
            model.listed_prices.push(
                machine
                    .price_per_hour
                    .saturating_add(machine.resource_prices.per_gpu_hour),
            );
        }
    }
    census.gpus = models.into_values().collect();
    for model in &mut census.gpus {
        model.listed_prices.sort_unstable();
    }
    census.gpus.sort_by(|a, b| a.model.cmp(&b.model));
    census
}

#[cfg(test)]
mod tests {
    use super::ModelCensus;

    #[test]
    fn the_median_price_is_the_middle_one_or_the_lower_middle() {
        let model = |prices: &[u128]| ModelCensus {
            listed_prices: prices.to_vec(),
            ..ModelCensus::default()
        };
        assert_eq!(model(&[]).median_price(), None);
        assert_eq!(model(&[5]).median_price(), Some(5));
        assert_eq!(model(&[1, 5, 9]).median_price(), Some(5));
        assert_eq!(model(&[1, 5, 7, 9]).median_price(), Some(5));
    }
}
