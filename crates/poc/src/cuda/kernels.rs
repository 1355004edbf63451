//! The BLAKE3 kernels (`blake3.cu`), compiled by NVRTC for the device when the
//! backend opens it, and their launches.

use super::{cuda, CudaError};
use crate::challenge::{Challenge, A_ROW_PREFIX, ROW_HASH_PREFIX};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DeviceRepr, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions};
use std::ops::Range;
use std::sync::Arc;

const SOURCE: &str = include_str!("blake3.cu");
const THREADS: u32 = 256;
/// Words of a hash (node or row) on the device.
pub(super) const HASH_WORDS: usize = 8;
/// BLAKE3 chunk: the unit of one `hash_chunks` thread.
const CHUNK_LEN: usize = 1024;

/// A message prefix (at most 60 bytes, a u32 row index follows it), as the
/// kernels' `Prefix`; its length is compiled into them.
#[repr(C)]
#[derive(Clone, Copy)]
struct Prefix([u32; 16]);

// SAFETY: plain words, laid out as the kernels' `struct Prefix`.
unsafe impl DeviceRepr for Prefix {}

impl Prefix {
    fn new(bytes: &[u8]) -> Prefix {
        assert!(bytes.len() <= 60, "a prefix leaves room for its row index");
        let mut words = [0u32; 16];
        for (i, &b) in bytes.iter().enumerate() {
            words[i / 4] |= u32::from(b) << (8 * (i % 4));
        }
        Prefix(words)
    }
}

/// A BLAKE3 key as the kernels' `struct Key`.
#[repr(C)]
#[derive(Clone, Copy)]
struct Key([u32; 8]);

// SAFETY: plain words, laid out as the kernels' `struct Key`.
unsafe impl DeviceRepr for Key {}

fn grid(threads: u64) -> Result<LaunchConfig, CudaError> {
    let blocks = u32::try_from(threads.div_ceil(u64::from(THREADS)))
        .map_err(|_| CudaError(format!("{threads} threads do not fit one launch")))?;
    Ok(LaunchConfig {
        grid_dim: (blocks.max(1), 1, 1),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    })
}

/// The BLAKE3 chunks of a row's message: the prefix, its index, the entries.
pub(super) fn chunks_per_row(cols: usize) -> usize {
    (ROW_HASH_PREFIX.len() + 4 + 4 * cols).div_ceil(CHUNK_LEN)
}

pub(super) struct Kernels {
    gen_a: CudaFunction,
    hash_chunks: CudaFunction,
    hash_merge: CudaFunction,
    merkle_level: CudaFunction,
}

impl Kernels {
    pub(super) fn compile(context: &Arc<CudaContext>) -> Result<Kernels, CudaError> {
        let (major, minor) = context.compute_capability().map_err(cuda)?;
        let options = CompileOptions {
            options: vec![
                format!("--gpu-architecture=compute_{major}{minor}"),
                format!("-DA_PREFIX_LEN={}u", A_ROW_PREFIX.len()),
                format!("-DROW_PREFIX_LEN={}u", ROW_HASH_PREFIX.len()),
            ],
            name: Some("blake3.cu".into()),
            ..Default::default()
        };
        let ptx = compile_ptx_with_opts(SOURCE, options)
            .map_err(|e| CudaError(format!("compiling blake3.cu: {e:?}")))?;
        let module = context.load_module(ptx).map_err(cuda)?;
        let function = |name| module.load_function(name).map_err(cuda);
        Ok(Kernels {
            gen_a: function("gen_a")?,
            hash_chunks: function("hash_chunks")?,
            hash_merge: function("hash_merge")?,
            merkle_level: function("merkle_level")?,
        })
    }

    /// Rows `rows` of A into `a` (row-major, `inner` bytes each).
    pub(super) fn gen_a(
        &self,
        stream: &CudaStream,
        ch: &Challenge,
        rows: Range<u32>,
        a: &mut CudaSlice<u8>,
    ) -> Result<(), CudaError> {
        let (first, rows) = (rows.start, rows.len() as u32);
        assert!(a.len() >= rows as usize * ch.inner as usize);
        let key = Key(std::array::from_fn(|i| {
            u32::from_le_bytes(ch.seed.0[4 * i..4 * i + 4].try_into().expect("4 bytes"))
        }));
        let prefix = Prefix::new(A_ROW_PREFIX);
        let config = grid(u64::from(rows) * u64::from(ch.inner.div_ceil(64)))?;
        let mut launch = stream.launch_builder(&self.gen_a);
        launch
            .arg(&key)
            .arg(&prefix)
            .arg(&first)
            .arg(&rows)
            .arg(&ch.inner)
            .arg(a);
        // SAFETY: the arguments match gen_a's signature and `a` holds the
        // `rows × inner` bytes it writes.
        unsafe { launch.launch(config) }.map_err(cuda)?;
        Ok(())
    }

    /// The hashes of rows `rows` of C, given those rows in `c`, into `hashes`
    /// (8 words each); `cvs` holds the chunks' chaining values.
    pub(super) fn hash_rows(
        &self,
        stream: &CudaStream,
        ch: &Challenge,
        rows: Range<u32>,
        c: &CudaSlice<i32>,
        cvs: &mut CudaSlice<u32>,
        hashes: &mut CudaSlice<u32>,
    ) -> Result<(), CudaError> {
        let (first, rows) = (rows.start, rows.len() as u32);
        let chunks = chunks_per_row(ch.cols as usize);
        assert!(c.len() >= rows as usize * ch.cols as usize);
        assert!(cvs.len() >= rows as usize * chunks * HASH_WORDS);
        assert!(hashes.len() >= rows as usize * HASH_WORDS);
        let prefix = Prefix::new(ROW_HASH_PREFIX);
        let mut launch = stream.launch_builder(&self.hash_chunks);
        launch
            .arg(&prefix)
            .arg(&first)
            .arg(&rows)
            .arg(&ch.cols)
            .arg(c)
            .arg(&mut *cvs);
        // SAFETY: the arguments match hash_chunks' signature; the buffers hold
        // what it reads and writes (asserted above).
        unsafe { launch.launch(grid(u64::from(rows) * chunks as u64)?) }.map_err(cuda)?;
        let mut launch = stream.launch_builder(&self.hash_merge);
        launch.arg(&rows).arg(&ch.cols).arg(&*cvs).arg(hashes);
        // SAFETY: as above, for hash_merge.
        unsafe { launch.launch(grid(u64::from(rows))?) }.map_err(cuda)?;
        Ok(())
    }

    /// The parents of `count` Merkle nodes in `nodes` into `parents`
    /// (`count.div_ceil(2)` nodes).
    pub(super) fn merkle_level(
        &self,
        stream: &CudaStream,
        nodes: &CudaSlice<u32>,
        count: u32,
        parents: &mut CudaSlice<u32>,
    ) -> Result<(), CudaError> {
        let up = count.div_ceil(2);
        assert!(nodes.len() >= count as usize * HASH_WORDS);
        assert!(parents.len() >= up as usize * HASH_WORDS);
        let mut launch = stream.launch_builder(&self.merkle_level);
        launch.arg(nodes).arg(&count).arg(parents);
        // SAFETY: the arguments match merkle_level's signature; the buffers
        // hold what it reads and writes (asserted above).
        unsafe { launch.launch(grid(u64::from(up))?) }.map_err(cuda)?;
        Ok(())
    }
}
