//! The CPU backend: the reference prover, always built and tested.

use crate::challenge::{entry, Challenge};
use crate::prover::{Backend, Cancelled};
use gpunet_primitives::Hash;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

/// Computes C on every core of this machine, row by row.
pub struct CpuBackend {
    threads: usize,
}

impl Default for CpuBackend {
    fn default() -> Self {
        CpuBackend {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

impl CpuBackend {
    /// A CPU prover on `threads` threads (at least one).
    pub fn with_threads(threads: usize) -> CpuBackend {
        CpuBackend {
            threads: threads.max(1),
        }
    }
}

/// Row `i` of C = A·B into `out`, given B and a buffer for the row of A.
pub(crate) fn product_row(ch: &Challenge, b: &[u8], i: u32, a_row: &mut [u8], out: &mut [i32]) {
    let cols = ch.cols as usize;
    ch.fill_a_row(i, a_row);
    out.fill(0);
    for (kk, &a) in a_row.iter().enumerate() {
        let a = entry(a);
        let b_row = &b[kk * cols..(kk + 1) * cols];
        // Contiguous in both operands: the compiler vectorizes this.
        for (c, &bv) in out.iter_mut().zip(b_row) {
            *c += a * entry(bv);
        }
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn row_hashes(
        &self,
        ch: &Challenge,
        rows: Range<u32>,
        cancel: &AtomicBool,
    ) -> Result<Vec<Hash>, Cancelled> {
        let b = ch.b();
        let first = rows.start as usize;
        let mut hashes = vec![Hash::ZERO; rows.len()];
        let per_thread = hashes.len().div_ceil(self.threads).max(1);
        std::thread::scope(|scope| {
            for (t, chunk) in hashes.chunks_mut(per_thread).enumerate() {
                let b = &b;
                scope.spawn(move || {
                    let mut a_row = vec![0u8; ch.inner as usize];
                    let mut row = vec![0i32; ch.cols as usize];
                    for (j, slot) in chunk.iter_mut().enumerate() {
                        if j % 64 == 0 && cancel.load(Ordering::Relaxed) {
                            return;
                        }
                        let i = (first + t * per_thread + j) as u32;
                        product_row(ch, b, i, &mut a_row, &mut row);
                        *slot = ch.row_hash(i, &row);
                    }
                });
            }
        });
        if cancel.load(Ordering::Relaxed) {
            return Err(Cancelled);
        }
        Ok(hashes)
    }

    fn rows(&self, ch: &Challenge, indices: &[u32]) -> Vec<Vec<i32>> {
        let b = ch.b();
        let mut a_row = vec![0u8; ch.inner as usize];
        indices
            .iter()
            .map(|&i| {
                let mut row = vec![0i32; ch.cols as usize];
                product_row(ch, &b, i, &mut a_row, &mut row);
                row
            })
            .collect()
    }
}
