//! The CUDA backend against the CPU reference, on a machine with a GPU.
//! Built with `--features cuda` (CI compiles it); without a GPU it says so and
//! checks nothing, since CI machines have none.
#![cfg(feature = "cuda")]

use gpunet_poc::cuda::CudaBackend;
use gpunet_poc::{sample_rows, verify_openings, Backend, Challenge, Commitment, CpuBackend};
use gpunet_primitives::Hash;
use std::sync::atomic::AtomicBool;

#[test]
fn gpu_rows_equal_the_cpu_reference_and_pass_verification() {
    let gpu = match CudaBackend::new(0) {
        Ok(gpu) => gpu,
        Err(e) => {
            eprintln!("no GPU here ({e}); the CUDA backend is exercised on GPU machines");
            return;
        }
    };
    // Shapes that are not multiples of the GEMM block size, and one that spans blocks.
    for (rows, inner, cols) in [(100, 256, 256), (20_000, 512, 128), (7, 4096, 1024)] {
        let ch = Challenge::new(Hash::digest(b"cuda"), rows, inner, cols).unwrap();
        let no = AtomicBool::new(false);
        assert_eq!(
            gpu.row_hashes(&ch, &no).unwrap(),
            CpuBackend::default().row_hashes(&ch, &no).unwrap(),
            "{} disagrees with the CPU on {rows}x{inner}x{cols}",
            gpu.device_name()
        );
        let commitment = Commitment::compute(&gpu, &ch, &no).unwrap();
        let beacon = Hash::digest(b"beacon");
        let opened = sample_rows(&ch, &commitment.root(), &beacon, 8);
        let openings = commitment.open(&gpu, &opened);
        verify_openings(&ch, &commitment.root(), &beacon, &opened, &openings).unwrap();
    }
}
