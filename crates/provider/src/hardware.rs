//! What this machine has: CPU, memory, disk, network links, and NVIDIA GPUs
//! through NVML. Detected values are claims until proven by hardware challenges.

use gpunet_primitives::{GpuSpec, MachineSpec};
use nvml_wrapper::error::NvmlError;
use std::path::Path;

/// One GPU, as NVML reports it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct GpuInfo {
    /// Its model name, e.g. "NVIDIA H100 80GB HBM3".
    pub name: String,
    /// NVML's UUID of the device.
    pub uuid: String,
    /// Its memory, in MiB.
    pub vram_mb: u64,
    /// CUDA compute capability, e.g. "9.0".
    pub compute_capability: Option<String>,
    /// Current utilization of the GPU's cores, in percent.
    pub utilization_pct: Option<u32>,
}

/// What this machine has, as detected (claims until proven).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Hardware {
    /// The CPU's model name, where the kernel names it.
    pub cpu_model: Option<String>,
    /// Logical cores.
    pub cpu_cores: u32,
    /// Total memory, in MiB.
    pub memory_mb: u64,
    /// Free space where jobs run.
    pub disk_mb: u64,
    /// Fastest network link, in Mbit/s, as the kernel reports it.
    pub network_link_mbps: Option<u64>,
    /// Its NVIDIA GPUs.
    pub gpus: Vec<GpuInfo>,
    /// The NVIDIA driver's version, with GPUs.
    pub driver_version: Option<String>,
    /// Highest CUDA version the driver supports, e.g. "12.4".
    pub cuda_version: Option<String>,
    /// Why no GPU was found, when none was.
    pub gpu_note: Option<String>,
}

fn memory_mb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

fn free_disk_mb(dir: &Path) -> u64 {
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return 0;
    };
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return 0;
    }
    (st.f_bavail as u64).saturating_mul(st.f_frsize as u64) / (1024 * 1024)
}

fn cpu_model() -> Option<String> {
    std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|v| v.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    })
}

/// The fastest link among the physical interfaces (loopback and down links
/// report no speed).
fn network_link_mbps() -> Option<u64> {
    std::fs::read_dir("/sys/class/net")
        .ok()?
        .flatten()
        .filter_map(|iface| std::fs::read_to_string(iface.path().join("speed")).ok())
        .filter_map(|speed| speed.trim().parse::<i64>().ok())
        .filter_map(|mbps| u64::try_from(mbps).ok())
        .max()
}

struct NvidiaGpus {
    gpus: Vec<GpuInfo>,
    driver: String,
    cuda: Option<String>,
}

fn nvidia_gpus() -> Result<NvidiaGpus, NvmlError> {
    let nvml = nvml_wrapper::Nvml::init()?;
    let driver = nvml.sys_driver_version().unwrap_or_default();
    let cuda = nvml
        .sys_cuda_driver_version()
        .ok()
        .map(|v| format!("{}.{}", v / 1000, (v % 1000) / 10));
    let count = nvml.device_count()?;
    let mut gpus = Vec::new();
    for i in 0..count {
        let d = nvml.device_by_index(i)?;
        gpus.push(GpuInfo {
            name: d.name().unwrap_or_default(),
            uuid: d.uuid().unwrap_or_default(),
            vram_mb: d.memory_info().map_or(0, |m| m.total / (1024 * 1024)),
            compute_capability: d
                .cuda_compute_capability()
                .ok()
                .map(|c| format!("{}.{}", c.major, c.minor)),
            utilization_pct: d.utilization_rates().ok().map(|u| u.gpu),
        });
    }
    Ok(NvidiaGpus { gpus, driver, cuda })
}

/// Detects the hardware; `work_dir` is where disk space is measured.
pub fn detect(work_dir: &Path) -> Hardware {
    let (nvidia, gpu_note) = match nvidia_gpus() {
        Ok(n) if n.gpus.is_empty() => (Some(n), Some("NVML found no GPU".to_string())),
        Ok(n) => (Some(n), None),
        Err(e) => (
            None,
            Some(format!(
                "NVML not available ({e}); no NVIDIA GPU will be offered"
            )),
        ),
    };
    let (gpus, driver_version, cuda_version) = match nvidia {
        Some(n) => (n.gpus, Some(n.driver), n.cuda),
        None => (vec![], None, None),
    };
    Hardware {
        cpu_model: cpu_model(),
        network_link_mbps: network_link_mbps(),
        cuda_version,
        cpu_cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        memory_mb: memory_mb(),
        disk_mb: free_disk_mb(work_dir),
        gpus,
        driver_version,
        gpu_note,
    }
}

impl Hardware {
    /// The GPUs offered: those of the first GPU's model (a machine's offered
    /// GPUs are all of one model).
    pub fn offered_gpus(&self) -> impl Iterator<Item = &GpuInfo> {
        let model = self.gpus.first().map(|g| g.name.clone());
        self.gpus
            .iter()
            .filter(move |g| Some(&g.name) == model.as_ref())
    }

    /// The machine spec to register.
    pub fn machine_spec(&self, region: &str, executor: &str) -> MachineSpec {
        let gpu = self.gpus.first().map(|first| {
            let same: Vec<&GpuInfo> = self.offered_gpus().collect();
            GpuSpec {
                vendor: "nvidia".into(),
                model: first.name.clone(),
                count: same.len() as u32,
                vram_mb: same.iter().map(|g| g.vram_mb).min().unwrap_or(0),
            }
        });
        MachineSpec {
            cpu_cores: self.cpu_cores.max(1),
            memory_mb: self.memory_mb.max(1),
            disk_mb: self.disk_mb,
            gpu,
            region: region.to_string(),
            executor: executor.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_this_machine_without_failing_when_there_is_no_gpu() {
        let hw = detect(Path::new("/"));
        assert!(hw.cpu_cores >= 1);
        assert!(hw.memory_mb > 0, "reads /proc/meminfo");
        assert!(hw.disk_mb > 0, "reads statvfs");
        assert_eq!(
            hw.gpus.is_empty(),
            hw.gpu_note.is_some(),
            "no GPU is always explained"
        );
        let spec = hw.machine_spec("local", "process");
        assert_eq!(
            spec.gpu_count() as usize,
            hw.gpus
                .iter()
                .filter(|g| Some(&g.name) == hw.gpus.first().map(|f| &f.name))
                .count()
        );
    }
}
