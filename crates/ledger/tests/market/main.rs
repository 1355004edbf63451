//! The market among several providers: placement and reliability in matching,
//! and job verification tiers (audited jobs are re-run by random other
//! providers; for deterministic jobs the party two runs contradict is slashed,
//! for non-deterministic ones nobody is).

#[macro_use]
#[path = "../common/mod.rs"]
mod common;
mod net;

mod audits;
mod chained;
mod declines;
mod disputes;
mod durations;
mod jobs;
mod matching;
mod preparing;
mod rentals;
mod retries;
mod secrets;
mod workspaces;
