//! The CUDA backend (feature `cuda`): C = A·B by cuBLASLt int8 GEMM with int32
//! accumulation (exact, `CUBLAS_COMPUTE_32I`), through cudarc with the CUDA
//! libraries loaded at run time, so it builds on machines without CUDA.
//!
//! B is uploaded once (transposed, for the "TN" layout int8 tensor-core GEMMs
//! require); A is generated on the host in blocks of rows, uploaded, multiplied,
//! and each block of C is downloaded and its rows hashed on the host while the
//! GPU works on the next block. Host-side generation and hashing bound what
//! the largest classes reach; moving both onto the GPU is the next step.

use crate::challenge::Challenge;
use crate::prover::{Backend, Cancelled};
use cudarc::cublaslt::result as lt;
use cudarc::cublaslt::sys;
use cudarc::driver::{CudaContext, CudaSlice, CudaStream, DevicePtr, DevicePtrMut};
use gpunet_primitives::Hash;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Rows of A per GEMM call.
const BLOCK_ROWS: usize = 8192;
const WORKSPACE_BYTES: usize = 32 << 20;

#[derive(Debug, thiserror::Error)]
#[error("CUDA: {0}")]
pub struct CudaError(String);

fn cuda<E: std::fmt::Debug>(e: E) -> CudaError {
    CudaError(format!("{e:?}"))
}

/// One GPU, its stream and a cuBLASLt handle.
pub struct CudaBackend {
    stream: Arc<CudaStream>,
    handle: sys::cublasLtHandle_t,
    workspace: CudaSlice<u8>,
    device_name: String,
    /// One proof at a time owns the handle, the stream and the workspace.
    busy: Mutex<()>,
}

// SAFETY: the raw cuBLASLt handle is only used while `busy` is held.
unsafe impl Send for CudaBackend {}
unsafe impl Sync for CudaBackend {}

impl CudaBackend {
    /// Opens GPU `ordinal`; fails clearly without a driver, cuBLASLt or a GPU.
    pub fn new(ordinal: usize) -> Result<CudaBackend, CudaError> {
        // cudarc panics on first use of a library it cannot load: look first.
        // SAFETY: these only try to load the shared libraries.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(CudaError(
                "the CUDA driver library (libcuda) is not installed".into(),
            ));
        }
        if !unsafe { cudarc::cublaslt::sys::is_culib_present() } {
            return Err(CudaError("cuBLASLt (libcublasLt) is not installed".into()));
        }
        let context = CudaContext::new(ordinal).map_err(cuda)?;
        let device_name = context.name().map_err(cuda)?;
        let stream = context.default_stream();
        let handle = lt::create_handle().map_err(cuda)?;
        let workspace = stream.alloc_zeros::<u8>(WORKSPACE_BYTES).map_err(cuda)?;
        Ok(CudaBackend {
            stream,
            handle,
            workspace,
            device_name,
            busy: Mutex::new(()),
        })
    }

    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// C rows `first..first + rows` into `out` (row-major, `rows × cols`), given
    /// Bᵀ on the device.
    fn gemm_block(
        &self,
        ch: &Challenge,
        b_t: &CudaSlice<i8>,
        first: u32,
        rows: usize,
        out: &mut [i32],
    ) -> Result<(), CudaError> {
        let (k, n) = (ch.inner as usize, ch.cols as usize);
        let mut a = vec![0u8; rows * k];
        for (r, row) in a.chunks_exact_mut(k).enumerate() {
            ch.fill_a_row(first + r as u32, row);
        }
        let a: Vec<i8> = a.into_iter().map(|v| v as i8).collect();
        let a_dev = self.stream.clone_htod(&a).map_err(cuda)?;
        let mut c_dev = self.stream.alloc_zeros::<i32>(rows * n).map_err(cuda)?;
        // Column-major view: Cᵀ (n × rows) = op(Bᵀ stored k × n, transposed) · (Aᵀ stored k × rows).
        // SAFETY: every pointer is a live device allocation of the size its
        // layout describes, the handle is held under `busy`, and each
        // descriptor is destroyed once, after the call.
        unsafe {
            let layout = |ty, r: usize, c: usize, ld: usize| {
                lt::create_matrix_layout(ty, r as u64, c as u64, ld as i64).map_err(cuda)
            };
            let b_layout = layout(sys::cudaDataType_t::CUDA_R_8I, k, n, k)?;
            let a_layout = layout(sys::cudaDataType_t::CUDA_R_8I, k, rows, k)?;
            let c_layout = layout(sys::cudaDataType_t::CUDA_R_32I, n, rows, n)?;
            let desc = lt::create_matmul_desc(
                sys::cublasComputeType_t::CUBLAS_COMPUTE_32I,
                sys::cudaDataType_t::CUDA_R_32I,
            )
            .map_err(cuda)?;
            let transpose: i32 = 1;
            lt::set_matmul_desc_attribute(
                desc,
                sys::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSA,
                (&transpose) as *const i32 as *const c_void,
                std::mem::size_of::<i32>(),
            )
            .map_err(cuda)?;
            let pref = lt::create_matmul_pref().map_err(cuda)?;
            let workspace_bytes = WORKSPACE_BYTES;
            lt::set_matmul_pref_attribute(
                pref,
                sys::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                (&workspace_bytes) as *const usize as *const c_void,
                std::mem::size_of::<usize>(),
            )
            .map_err(cuda)?;
            let heuristic = lt::get_matmul_algo_heuristic(
                self.handle,
                desc,
                b_layout,
                a_layout,
                c_layout,
                c_layout,
                pref,
            )
            .map_err(cuda)?;
            let (alpha, beta): (i32, i32) = (1, 0);
            let (b_ptr, _b) = b_t.device_ptr(&self.stream);
            let (a_ptr, _a) = a_dev.device_ptr(&self.stream);
            let (w_ptr, _w) = self.workspace.device_ptr(&self.stream);
            let (c_ptr, _c) = c_dev.device_ptr_mut(&self.stream);
            let result = lt::matmul(
                self.handle,
                desc,
                (&alpha) as *const i32 as *const c_void,
                (&beta) as *const i32 as *const c_void,
                b_ptr as *const c_void,
                b_layout,
                a_ptr as *const c_void,
                a_layout,
                c_ptr as *const c_void,
                c_layout,
                c_ptr as *mut c_void,
                c_layout,
                &heuristic.algo,
                w_ptr as *mut c_void,
                WORKSPACE_BYTES,
                self.stream.cu_stream() as sys::cudaStream_t,
            );
            lt::destroy_matmul_pref(pref).map_err(cuda)?;
            lt::destroy_matmul_desc(desc).map_err(cuda)?;
            for l in [b_layout, a_layout, c_layout] {
                lt::destroy_matrix_layout(l).map_err(cuda)?;
            }
            result.map_err(cuda)?;
        }
        self.stream.memcpy_dtoh(&c_dev, out).map_err(cuda)?;
        Ok(())
    }

    /// Bᵀ on the device: row j holds column j of B.
    fn upload_b(&self, ch: &Challenge) -> Result<CudaSlice<i8>, CudaError> {
        let (k, n) = (ch.inner as usize, ch.cols as usize);
        let b = ch.b();
        let mut b_t = vec![0i8; k * n];
        for kk in 0..k {
            for j in 0..n {
                b_t[j * k + kk] = b[kk * n + j] as i8;
            }
        }
        self.stream.clone_htod(&b_t).map_err(cuda)
    }

    fn compute(
        &self,
        ch: &Challenge,
        cancel: &AtomicBool,
    ) -> Result<Result<Vec<Hash>, Cancelled>, CudaError> {
        let _busy = self.busy.lock().map_err(cuda)?;
        self.stream.context().bind_to_thread().map_err(cuda)?;
        let b_t = self.upload_b(ch)?;
        let n = ch.cols as usize;
        let mut hashes = Vec::with_capacity(ch.rows as usize);
        let mut block = vec![0i32; BLOCK_ROWS * n];
        let mut first = 0u32;
        while first < ch.rows {
            if cancel.load(Ordering::Relaxed) {
                return Ok(Err(Cancelled));
            }
            let rows = (ch.rows - first).min(BLOCK_ROWS as u32) as usize;
            let out = &mut block[..rows * n];
            self.gemm_block(ch, &b_t, first, rows, out)?;
            hashes.extend(
                out.chunks_exact(n)
                    .enumerate()
                    .map(|(r, row)| ch.row_hash(first + r as u32, row)),
            );
            first += rows as u32;
        }
        Ok(Ok(hashes))
    }
}

impl Drop for CudaBackend {
    fn drop(&mut self) {
        // SAFETY: the handle was created in `new` and is destroyed once, here.
        let _ = unsafe { lt::destroy_handle(self.handle) };
    }
}

impl Backend for CudaBackend {
    fn name(&self) -> &'static str {
        "cuda"
    }

    fn row_hashes(&self, ch: &Challenge, cancel: &AtomicBool) -> Result<Vec<Hash>, Cancelled> {
        // A GPU fault mid-proof cannot be answered in time either.
        self.compute(ch, cancel).unwrap_or(Err(Cancelled))
    }

    fn rows(&self, ch: &Challenge, indices: &[u32]) -> Vec<Vec<i32>> {
        // Openings are a handful of rows: the CPU recomputes them exactly.
        crate::CpuBackend::default().rows(ch, indices)
    }
}
