//! int8 GEMM with exact int32 accumulation (`CUBLAS_COMPUTE_32I`) by cuBLASLt.

use super::{cuda, CudaError};
use cudarc::cublaslt::result as lt;
use cudarc::cublaslt::sys;
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DevicePtrMut};
use std::ffi::c_void;
use std::sync::Arc;

const WORKSPACE_BYTES: usize = 32 << 20;

/// A cuBLASLt handle and its workspace.
pub(super) struct Gemm {
    handle: sys::cublasLtHandle_t,
    workspace: CudaSlice<u8>,
}

impl Gemm {
    pub(super) fn new(stream: &Arc<CudaStream>) -> Result<Gemm, CudaError> {
        Ok(Gemm {
            handle: lt::create_handle().map_err(cuda)?,
            workspace: stream.alloc_zeros::<u8>(WORKSPACE_BYTES).map_err(cuda)?,
        })
    }

    /// C (`rows × n`, row-major i32) = A (`rows × k`, row-major i8) · B, given
    /// Bᵀ (`n × k`, row-major): the "TN" layout int8 tensor-core GEMMs require.
    /// Enqueued on `stream`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn multiply(
        &self,
        stream: &CudaStream,
        b_t: &CudaSlice<i8>,
        a: &CudaSlice<u8>,
        c: &mut CudaSlice<i32>,
        rows: usize,
        k: usize,
        n: usize,
    ) -> Result<(), CudaError> {
        assert!(a.len() >= rows * k && c.len() >= rows * n && b_t.len() >= k * n);
        // Column-major view: Cᵀ (n × rows) = op(Bᵀ stored k × n, transposed) · (Aᵀ stored k × rows).
        // SAFETY: every pointer is a live device allocation at least the size
        // its layout describes (asserted above), the caller holds the handle
        // alone, and each descriptor is destroyed once, after the call.
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
            .map_err(cuda);
            let result = heuristic.and_then(|heuristic| {
                let (alpha, beta): (i32, i32) = (1, 0);
                let (b_ptr, _b) = b_t.device_ptr(stream);
                let (a_ptr, _a) = a.device_ptr(stream);
                let (w_ptr, _w) = self.workspace.device_ptr(stream);
                let (c_ptr, _c) = c.device_ptr_mut(stream);
                lt::matmul(
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
                    stream.cu_stream() as sys::cudaStream_t,
                )
                .map_err(cuda)
            });
            lt::destroy_matmul_pref(pref).map_err(cuda)?;
            lt::destroy_matmul_desc(desc).map_err(cuda)?;
            for l in [b_layout, a_layout, c_layout] {
                lt::destroy_matrix_layout(l).map_err(cuda)?;
            }
            result
        }
    }
}

impl Drop for Gemm {
    fn drop(&mut self) {
        // SAFETY: the handle was created in `new` and is destroyed once, here.
        let _ = unsafe { lt::destroy_handle(self.handle) };
    }
}
