//! The CUDA backend against the CPU reference, on a machine with a GPU.
//! Built with `--features cuda` (CI compiles it); without a GPU it says so and
//! checks nothing, since CI machines have none.
#![cfg(feature = "cuda")]

use gpunet_poc::cuda::CudaBackend;
use gpunet_poc::{sample_rows, verify_openings, Backend, Challenge, Commitment, CpuBackend};
use gpunet_primitives::{verify_merkle_proof, Hash};
use std::sync::atomic::AtomicBool;

fn gpu() -> Option<CudaBackend> {
    match CudaBackend::new(0) {
        Ok(gpu) => Some(gpu),
        Err(e) => {
            eprintln!("no GPU here ({e}); the CUDA backend is exercised on GPU machines");
            None
        }
    }
}

/// Shapes that exercise the kernels' edges: a row message of one BLAKE3 chunk
/// (its hash is the chunk's root) and of several, a partial last chunk, rows
/// of A that are not whole 64-byte XOF blocks, and the GPU classes' shape.
const SHAPES: [(u32, u32, u32); 7] = [
    (100, 256, 256),
    (3_000, 512, 128),
    (77, 100, 250),
    (50, 64, 1_019),
    (9, 1_000, 2_000),
    (7, 4_096, 1_024),
    (5, 16_384, 1_024),
];

#[test]
fn gpu_row_hashes_equal_the_cpu_reference() {
    let Some(gpu) = gpu() else { return };
    let (cpu, no) = (CpuBackend::default(), AtomicBool::new(false));
    for (rows, inner, cols) in SHAPES {
        let ch = Challenge::new(Hash::digest(&inner.to_le_bytes()), rows, inner, cols).unwrap();
        for range in [0..rows, rows / 3..rows, 1..2] {
            assert_eq!(
                gpu.row_hashes(&ch, range.clone(), &no).unwrap(),
                cpu.row_hashes(&ch, range.clone(), &no).unwrap(),
                "{} disagrees with the CPU on rows {range:?} of {rows}x{inner}x{cols}",
                gpu.device_name()
            );
        }
    }
}

#[test]
fn gpu_subtree_roots_equal_the_cpu_reduction() {
    let Some(gpu) = gpu() else { return };
    let no = AtomicBool::new(false);
    let ch = Challenge::new(Hash::digest(b"subtrees"), 3_001, 256, 64).unwrap();
    for depth in [0, 1, 3, 10, 12] {
        assert_eq!(
            gpu.subtree_roots(&ch, depth, &no).unwrap(),
            CpuBackend::default()
                .subtree_roots(&ch, depth, &no)
                .unwrap(),
            "subtrees of 2^{depth} rows"
        );
    }
}

#[test]
fn gpu_commitments_equal_the_cpu_ones_and_pass_verification() {
    let Some(gpu) = gpu() else { return };
    let (cpu, no) = (CpuBackend::default(), AtomicBool::new(false));
    let beacon = Hash::digest(b"beacon");
    // The last is past the rows a commitment keeps every hash of: the GPU
    // reduces subtrees and rebuilds one to open a row.
    for (rows, inner, cols) in [
        (20_000, 512, 128),
        (7, 4_096, 1_024),
        ((1 << 20) + 4_321, 64, 32),
    ] {
        let ch = Challenge::new(Hash::digest(b"cuda"), rows, inner, cols).unwrap();
        let on_gpu = Commitment::compute(&gpu, &ch, &no).unwrap();
        assert_eq!(
            on_gpu.root(),
            Commitment::compute(&cpu, &ch, &no).unwrap().root()
        );
        let opened = sample_rows(&ch, &on_gpu.root(), &beacon, 8);
        let openings = on_gpu.open(&gpu, &opened).unwrap();
        verify_openings(&ch, &on_gpu.root(), &beacon, &opened, &openings).unwrap();
        // The last row sits in the only subtree that is not whole.
        let last = on_gpu.open(&gpu, &[rows - 1]).unwrap().remove(0);
        let leaf = ch.row_hash(last.index, &last.row);
        let root = on_gpu.root();
        assert!(verify_merkle_proof(
            &root,
            &leaf,
            last.index as usize,
            rows as usize,
            &last.path
        ));
    }
}

#[test]
fn several_gpus_share_a_proof_and_agree_with_the_cpu() {
    let Some(gpu) = gpu() else { return };
    // This machine's GPU twice, as two devices: what is tested is how rows
    // are shared out and the parts joined in order.
    let pair = CudaBackend::with_devices(&[0, 0]).unwrap();
    assert_eq!(pair.devices(), 2);
    let (cpu, no) = (CpuBackend::default(), AtomicBool::new(false));
    let ch = Challenge::new(Hash::digest(b"pair"), 3_001, 256, 64).unwrap();
    for depth in [0, 3, 10, 12] {
        assert_eq!(
            pair.subtree_roots(&ch, depth, &no).unwrap(),
            cpu.subtree_roots(&ch, depth, &no).unwrap(),
            "subtrees of 2^{depth} rows over two devices"
        );
    }
    assert_eq!(
        pair.row_hashes(&ch, 5..2_000, &no).unwrap(),
        cpu.row_hashes(&ch, 5..2_000, &no).unwrap()
    );
    // A machine's GPUs are found by the model name NVML gives, as many as it offers.
    let name = gpu.device_name();
    assert_eq!(CudaBackend::of_model(name, 1).unwrap().devices(), 1);
    assert!(CudaBackend::of_model(name, 1_000).is_err());
    assert!(CudaBackend::of_model("No Such GPU", 1).is_err());
}
