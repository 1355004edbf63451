//! Honest provers pass; cheaters are caught at the stated rates.

use gpunet_poc::{
    check_deadline, sample_rows, verify_openings, Backend, Cancelled, Challenge, Commitment,
    ComputeClass, CpuBackend, Fault, Opening,
};
use gpunet_primitives::Hash;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn challenge(n: u32, rows: u32) -> Challenge {
    Challenge::new(Hash::digest(&n.to_le_bytes()), rows, 48, 40).unwrap()
}

/// Commits with `backend`, opens `count` rows drawn from `beacon`, verifies.
fn run(backend: &dyn Backend, ch: &Challenge, beacon: &Hash, count: u32) -> Result<(), Fault> {
    let commitment = Commitment::compute(backend, ch, &AtomicBool::new(false)).unwrap();
    let rows = sample_rows(ch, &commitment.root(), beacon, count);
    let openings = commitment.open(backend, &rows).unwrap();
    verify_openings(ch, &commitment.root(), beacon, &rows, &openings)
}

#[test]
fn an_honest_prover_passes() {
    for n in 0..20 {
        let ch = challenge(n, 64 + n);
        run(&CpuBackend::default(), &ch, &Hash::digest(b"beacon"), 16).unwrap();
    }
}

#[test]
fn cpu_rows_are_the_true_product() {
    let ch = Challenge::new(Hash::digest(b"x"), 3, 5, 4).unwrap();
    let b = ch.b();
    let mut a = vec![0u8; 5];
    let rows = CpuBackend::default().rows(&ch, &[0, 2]);
    for (row, i) in rows.iter().zip([0u32, 2]) {
        ch.fill_a_row(i, &mut a);
        for (j, &c) in row.iter().enumerate() {
            let expected: i32 = (0..5)
                .map(|k| gpunet_poc::entry(a[k]) * gpunet_poc::entry(b[k * 4 + j]))
                .sum();
            assert_eq!(c, expected);
        }
    }
}

/// Skips the rows `skip` selects: commits to a made-up hash for them, and when
/// asked to open one either computes it late (`late_compute`) or opens the
/// made-up row it committed to.
struct Skipper {
    skip: fn(u32) -> bool,
    late_compute: bool,
}

impl Skipper {
    fn fake_row(ch: &Challenge) -> Vec<i32> {
        vec![0; ch.cols as usize]
    }
}

impl Backend for Skipper {
    fn name(&self) -> &'static str {
        "skipper"
    }
    fn row_hashes(
        &self,
        ch: &Challenge,
        rows: Range<u32>,
        cancel: &AtomicBool,
    ) -> Result<Vec<Hash>, Cancelled> {
        let honest = CpuBackend::default().row_hashes(ch, rows.clone(), cancel)?;
        Ok(rows
            .zip(honest)
            .map(|(i, h)| {
                if (self.skip)(i) {
                    ch.row_hash(i, &Self::fake_row(ch))
                } else {
                    h
                }
            })
            .collect())
    }
    fn rows(&self, ch: &Challenge, indices: &[u32]) -> Vec<Vec<i32>> {
        let honest = CpuBackend::default().rows(ch, indices);
        honest
            .into_iter()
            .zip(indices)
            .map(|(row, &i)| {
                if (self.skip)(i) && !self.late_compute {
                    Self::fake_row(ch)
                } else {
                    row
                }
            })
            .collect()
    }
}

/// Probability that `opened` distinct rows out of `rows` all miss `bad` rows.
fn miss_probability(rows: u32, bad: u32, opened: u32) -> f64 {
    (0..opened)
        .map(|j| f64::from(rows - bad - j) / f64::from(rows - j))
        .product()
}

#[test]
fn a_prover_that_skips_a_fifth_of_the_rows_is_caught_at_the_predicted_rate() {
    // 40 of 200 rows skipped, 8 opened: caught with probability
    // 1 - C(160,8)/C(200,8) = 0.837 per challenge.
    let (rows, opened, trials) = (200u32, 8u32, 300u32);
    let p_caught = 1.0 - miss_probability(rows, rows / 5, opened);
    for late_compute in [false, true] {
        let skipper = Skipper {
            skip: |i| i % 5 == 0,
            late_compute,
        };
        let mut caught = 0;
        for t in 0..trials {
            let ch = challenge(t, rows);
            match run(&skipper, &ch, &Hash::digest(b"beacon"), opened) {
                Ok(()) => {}
                Err(Fault::WrongProduct { .. }) if !late_compute => caught += 1,
                Err(Fault::NotCommitted { .. }) if late_compute => caught += 1,
                Err(other) => panic!("unexpected fault {other}"),
            }
        }
        let expected = p_caught * f64::from(trials);
        eprintln!(
            "late_compute={late_compute}: caught {caught} of {trials}, predicted {expected:.1}"
        );
        let sigma = (expected * (1.0 - p_caught)).sqrt();
        assert!(
            (f64::from(caught) - expected).abs() < 4.0 * sigma,
            "caught {caught} of {trials}, expected {expected:.0} ± {sigma:.1}"
        );
    }
}

#[test]
fn a_single_skipped_row_is_caught_whenever_it_is_opened() {
    let skipper = Skipper {
        skip: |i| i == 7,
        late_compute: false,
    };
    let ch = challenge(1, 16);
    // Opening every row finds it.
    assert_eq!(
        run(&skipper, &ch, &Hash::ZERO, 16),
        Err(Fault::WrongProduct { index: 7 })
    );
}

#[test]
fn forged_rows_fail_freivalds_even_with_a_valid_merkle_path() {
    let ch = challenge(3, 32);
    let backend = CpuBackend::default();
    let commitment = Commitment::compute(&backend, &ch, &AtomicBool::new(false)).unwrap();
    let beacon = Hash::digest(b"b");
    let rows = sample_rows(&ch, &commitment.root(), &beacon, 4);
    let mut openings = commitment.open(&backend, &rows).unwrap();
    // A forged row with a forged tree: the path checks against the forged root.
    let mut forged = openings[0].row.clone();
    forged[5] += 1;
    let mut leaves: Vec<Hash> = backend
        .row_hashes(&ch, 0..ch.rows, &AtomicBool::new(false))
        .unwrap();
    leaves[rows[0] as usize] = ch.row_hash(rows[0], &forged);
    let tree = gpunet_primitives::MerkleTree::new(leaves);
    let forged_rows = sample_rows(&ch, &tree.root(), &beacon, 4);
    let forged_openings: Vec<Opening> = commitment
        .open(&backend, &forged_rows)
        .unwrap()
        .into_iter()
        .map(|mut o| {
            o.path = tree.proof(o.index as usize).unwrap();
            if o.index == rows[0] {
                o.row = forged.clone();
            }
            o
        })
        .collect();
    let result = verify_openings(&ch, &tree.root(), &beacon, &forged_rows, &forged_openings);
    if forged_rows.contains(&rows[0]) {
        assert_eq!(result, Err(Fault::WrongProduct { index: rows[0] }));
    } else {
        result.unwrap();
    }
    // Against the honest root the forged row is not even committed.
    openings[0].row = forged;
    assert_eq!(
        verify_openings(&ch, &commitment.root(), &beacon, &rows, &openings),
        Err(Fault::NotCommitted { index: rows[0] })
    );
}

#[test]
fn refusing_or_choosing_openings_is_a_fault() {
    let ch = challenge(4, 50);
    let backend = CpuBackend::default();
    let commitment = Commitment::compute(&backend, &ch, &AtomicBool::new(false)).unwrap();
    let beacon = Hash::digest(b"b");
    let rows = sample_rows(&ch, &commitment.root(), &beacon, 6);
    let openings = commitment.open(&backend, &rows).unwrap();
    let root = commitment.root();
    assert!(matches!(
        verify_openings(&ch, &root, &beacon, &rows, &openings[..5]),
        Err(Fault::WrongRows { .. })
    ));
    let other: Vec<u32> = rows.iter().map(|r| (r + 1) % 50).collect();
    let chosen = commitment.open(&backend, &other).unwrap();
    assert!(matches!(
        verify_openings(&ch, &root, &beacon, &rows, &chosen),
        Err(Fault::WrongRows { .. })
    ));
    let mut short = openings.clone();
    short[0].row.pop();
    assert!(matches!(
        verify_openings(&ch, &root, &beacon, &rows, &short),
        Err(Fault::WrongLength { .. })
    ));
}

#[test]
fn openings_depend_on_the_commitment_and_the_beacon() {
    let ch = challenge(5, 1000);
    let a = sample_rows(&ch, &Hash::digest(b"r1"), &Hash::digest(b"b"), 16);
    let b = sample_rows(&ch, &Hash::digest(b"r2"), &Hash::digest(b"b"), 16);
    let c = sample_rows(&ch, &Hash::digest(b"r1"), &Hash::digest(b"c"), 16);
    assert_eq!(a.len(), 16);
    assert!(a.windows(2).all(|w| w[0] < w[1]), "distinct and sorted");
    assert_ne!(a, b);
    assert_ne!(a, c);
    assert_eq!(sample_rows(&ch, &Hash::ZERO, &Hash::ZERO, 5000).len(), 1000);
}

#[test]
fn a_late_commitment_is_a_fault() {
    assert!(check_deadline(1_000, 1_000).is_ok());
    assert_eq!(
        check_deadline(1_001, 1_000),
        Err(Fault::Late {
            committed_ms: 1_001,
            deadline_ms: 1_000
        })
    );
}

#[test]
fn a_cpu_claiming_to_be_an_h100_misses_the_deadline() {
    // A challenge sized for 20 ms of an H100's required throughput (10^13
    // operations); the prover is stopped at the deadline, as the network stops
    // waiting for it.
    let h100 = ComputeClass::of_model(Some("NVIDIA H100 80GB HBM3"));
    let (ch, deadline_ms) = h100.plan(Hash::digest(b"claim"), 1, 20, 200);
    let cancel = Arc::new(AtomicBool::new(false));
    let timer = {
        let cancel = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(deadline_ms));
            cancel.store(true, Ordering::Relaxed);
        })
    };
    let begin = Instant::now();
    let result = Commitment::compute(&CpuBackend::default(), &ch, &cancel);
    timer.join().unwrap();
    assert!(result.is_err(), "a CPU matched an H100's deadline");
    assert!(begin.elapsed() < Duration::from_millis(deadline_ms) + Duration::from_secs(5));
}

#[test]
fn a_commitment_too_large_to_keep_every_row_hash_still_opens_any_row() {
    // Past 2^20 rows the prover keeps subtree roots and rebuilds a subtree to
    // open a row in it; proofs are the same as from the whole tree.
    let ch = Challenge::new(Hash::digest(b"large"), (1 << 20) + 4_321, 8, 8).unwrap();
    let backend = CpuBackend::default();
    let commitment = Commitment::compute(&backend, &ch, &AtomicBool::new(false)).unwrap();
    let beacon = Hash::digest(b"beacon");
    let rows = sample_rows(&ch, &commitment.root(), &beacon, 8);
    let openings = commitment.open(&backend, &rows).unwrap();
    verify_openings(&ch, &commitment.root(), &beacon, &rows, &openings).unwrap();
    let last = commitment.open(&backend, &[ch.rows - 1]).unwrap().remove(0);
    let whole = gpunet_primitives::MerkleTree::new(
        backend
            .row_hashes(&ch, 0..ch.rows, &AtomicBool::new(false))
            .unwrap(),
    );
    assert_eq!(commitment.root(), whole.root());
    assert_eq!(Some(last.path), whole.proof(ch.rows as usize - 1));
}
