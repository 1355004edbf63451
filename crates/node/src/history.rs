//! What the console charts over time: the network's GPUs, listed and
//! rented, sampled by each node from its ledger. A node's own memory, not
//! the chain's: a node started an hour ago charts an hour.

use crate::census::census;
use gpunet_ledger::Ledger;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Samples kept: a day at one a minute.
const HISTORY_SAMPLES: usize = 1440;

/// How often [`sample_every_minute`] samples.
const SAMPLE_EVERY: Duration = Duration::from_secs(60);

/// One sample of the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The block time of the head it was read at.
    pub time_ms: u64,
    /// GPUs on listed machines.
    pub listed_gpus: u64,
    /// GPUs held by open leases.
    pub rented_gpus: u64,
}

/// The latest samples, oldest first, at most a day's.
#[derive(Debug, Default)]
pub struct UtilizationHistory {
    samples: Mutex<VecDeque<Sample>>,
}

impl UtilizationHistory {
    /// Reads `ledger` now and keeps the sample (once per head).
    pub fn sample(&self, ledger: &Ledger) {
        let census = census(ledger.state());
        let sample = Sample {
            time_ms: ledger.head().time_ms,
            listed_gpus: census.gpus.iter().map(|m| m.listed).sum(),
            rented_gpus: census.gpus.iter().map(|m| m.rented).sum(),
        };
        let mut samples = self.samples.lock().expect("history lock");
        if samples
            .back()
            .is_some_and(|last| last.time_ms == sample.time_ms)
        {
            return;
        }
        if samples.len() == HISTORY_SAMPLES {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .expect("history lock")
            .iter()
            .copied()
            .collect()
    }

    /// Samples `ledger` every minute, until the process ends. Spawned once
    /// per node.
    pub(crate) async fn sample_every_minute(self: Arc<Self>, ledger: Arc<RwLock<Ledger>>) {
        let mut every = tokio::time::interval(SAMPLE_EVERY);
        loop {
            every.tick().await;
            let (history, ledger) = (self.clone(), ledger.clone());
            // A pass over every machine: off the async workers.
            let _ = tokio::task::spawn_blocking(move || {
                history.sample(&ledger.read().expect("ledger lock"));
            })
            .await;
        }
    }
}
