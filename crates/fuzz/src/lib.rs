//! Coverage-guided fuzz targets: every decoder that takes bytes from a peer
//! or a user, and the ledger executing arbitrary transactions in a live
//! market.
//!
//! Each [`Target`] is a function of raw bytes that panics on a finding: a
//! decoder that panics, a value that decodes from bytes that are not its
//! encoding (one message, one encoding: otherwise a replayed transaction or a
//! repeated vote could pass for another), or a ledger whose invariants or
//! replicas disagree after a block.
//!
//! Three ways to run them:
//! - `cargo test -p gpunet-fuzz` replays every file under `corpus/<target>/`
//!   (seeds and what fuzzing kept) and `regressions/<target>/` (inputs that
//!   once failed; each stays as a test);
//! - `scripts/fuzz.sh [SECONDS]` builds the targets instrumented
//!   (`cargo afl build --features afl`) and runs AFL++ on each for the
//!   given time, failing on any crash (CI runs it briefly);
//! - `gpunet-fuzz TARGET FILE...` replays files, to reproduce a crash
//!   under a debugger.
//!
//! Fuzz builds (profile `fuzz`: the dev profile, optimized) keep overflow
//! checks on, so an arithmetic wrap is a crash here even where a release
//! build would go on silently.
#![warn(missing_docs)]

pub mod decoders;
pub mod market;

/// A fuzz target: a name and the function its input goes through.
pub struct Target {
    /// Its name on the command line and under `corpus/` and `regressions/`.
    pub name: &'static str,
    /// Runs one input; panics on a finding.
    pub run: fn(&[u8]),
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "tx",
        run: decoders::tx,
    },
    Target {
        name: "block",
        run: decoders::block,
    },
    Target {
        name: "consensus",
        run: gpunet_bft::fuzzing::network_message,
    },
    Target {
        name: "manifest",
        run: decoders::manifest,
    },
    Target {
        name: "snapshot_manifest",
        run: decoders::snapshot_manifest,
    },
    Target {
        name: "signed_request",
        run: decoders::signed_request,
    },
    Target {
        name: "job_file",
        run: decoders::job_file,
    },
    Target {
        name: "query",
        run: decoders::query,
    },
    Target {
        name: "market",
        run: market::run,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}
