//! What a job may ask for and a machine may declare: every field bounded,
//! every label printable, so that nothing on chain can overflow the ledger's
//! sums, hide text in a provider's log or wait forever for an input no one
//! can read. One [`SpecError`] per cause.

use gpunet_primitives::{Amount, Hash, JobSpec, MachineSpec, OnExit, MAX_SECRETS};
use gpunet_types::Params;
use std::collections::BTreeSet;

const MAX_NAME_LEN: usize = 128;
const MAX_ARG_LEN: usize = 4096;
const MAX_ARGS: usize = 256;
const MAX_ENV: usize = 128;
/// Most open files a job may ask for: Linux's default `nr_open`, which no
/// container can exceed.
const MAX_NOFILE: u64 = 1 << 20;
/// The largest image archive a job may name (`JobSpec::image_blob`): a
/// CUDA training image is 10-20 GB; a provider's cache must hold it.
pub(crate) const MAX_IMAGE_BYTES: u64 = 64 << 30;
/// Ports a rental may expose.
const MAX_PORTS: usize = 16;
/// Most runs a job may ask for (`max_attempts`): each failed run slashes a
/// provider, and each waits out a lease, so a few are worth it, not many.
pub(crate) const MAX_ATTEMPTS: u32 = 5;
pub(crate) const MAX_LABEL_LEN: usize = 128;
pub(crate) const EXECUTORS: [&str; 2] = ["process", "docker"];

/// Why a job or machine spec is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[allow(
    missing_docs,
    reason = "each variant's #[error] message says what it means; its fields are that message's parts"
)]
pub enum SpecError {
    #[error("{field} is longer than {max} bytes")]
    TooLong { field: &'static str, max: usize },
    /// A control character (NUL, newline, escape...) or a bidirectional
    /// override (U+202E...) in a name or label: text that would rewrite a
    /// log line or read differently from what it is.
    #[error("{field} holds a control or bidirectional-formatting character")]
    HiddenCharacter { field: &'static str },
    #[error("{field} is empty")]
    Empty { field: &'static str },
    #[error("command has more than {MAX_ARGS} arguments or an argument over {MAX_ARG_LEN} bytes")]
    CommandTooLong,
    #[error("environment has more than {MAX_ENV} variables or an invalid or oversized one")]
    BadEnvironment,
    /// Secret names must be sorted, unique and usable as variable names,
    /// and none may also be a public variable (which value would it get?).
    #[error("secrets must be at most {MAX_SECRETS} sorted, distinct variable names, none of them also in env")]
    BadSecrets,
    #[error("{field} must be {min}..={max}, not {got}")]
    OutOfRange {
        field: &'static str,
        got: u64,
        min: u64,
        max: u64,
    },
    #[error("GPU constraints given but gpu count is 0")]
    GpuConstraintsWithoutGpu,
    #[error("{field} is in basis points: at most 10000, not {got}")]
    NotBasisPoints { field: &'static str, got: u32 },
    #[error("ports must be at most {MAX_PORTS} distinct, non-zero port numbers")]
    BadPorts,
    #[error("exposing ports needs network = true")]
    PortsWithoutNetwork,
    #[error("only rentals expose ports; a job's results come back as outputs")]
    PortsOnAJob,
    #[error("rentals have no result to audit; audit_bps must be 0")]
    AuditedRental,
    /// A rental that stops bills until then and ends; it is not run again.
    #[error("a rental is not retried; max_attempts must be 1")]
    RetriedRental,
    /// A job's run ends with its program: what it left is its result.
    #[error("only a rental restarts its container; a job ends when its program exits (on_exit = \"end\")")]
    RestartedJob,
    /// A job's results are its outputs; only a rental has a workspace to
    /// save when it ends.
    #[error("only a rental saves its workspace when it ends; a job's results are its outputs (save_on_end = false)")]
    SavedJob,
    #[error("input path {0:?} is not a unique relative path")]
    BadInputPath(String),
    /// A zero hash or holder proof: no one can hold such a file, so every
    /// machine would decline the job and it would wait until it expired.
    #[error("input {0:?} names no file: its hash or holder proof is all zeros")]
    NoInputContent(String),
    /// A pushed image runs by the id it loads as: a name could mean
    /// another image in the provider's engine than the archive holds.
    #[error("an image pushed as a blob is named by its id, sha256: and 64 hex digits, not {0:?}")]
    PushedImageNotById(String),
    /// As for an input: no one holds such an archive.
    #[error("the image blob names no archive: its hash or holder proof is all zeros")]
    NoImageContent,
    #[error("executor must be one of {EXECUTORS:?}, not {0:?}")]
    UnknownExecutor(String),
    /// A pending order that pays nothing costs its client one fee and
    /// every validator a slot in the queue until it expires.
    #[error("the max price per hour must be positive")]
    FreeOrder,
    /// The job array's size (`SubmitArray`).
    #[error("a job array has 1..={max} members, not {got}", max = gpunet_types::MAX_ARRAY_SIZE)]
    ArraySize { got: u32 },
    /// A variable the ledger sets for each member of a job array.
    #[error("{0} is set for each member of a job array; the spec may not set it")]
    ReservedVariable(&'static str),
}

/// Whether `c` is a control character or one that reorders text.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A name or label: at most `max` bytes, nothing hidden in it.
fn label(field: &'static str, text: &str, max: usize) -> Result<(), SpecError> {
    if text.len() > max {
        return Err(SpecError::TooLong { field, max });
    }
    if text.chars().any(hidden) {
        return Err(SpecError::HiddenCharacter { field });
    }
    Ok(())
}

fn in_range(field: &'static str, got: u64, min: u64, max: u64) -> Result<(), SpecError> {
    if got < min || got > max {
        return Err(SpecError::OutOfRange {
            field,
            got,
            min,
            max,
        });
    }
    Ok(())
}

fn basis_points(field: &'static str, got: u32) -> Result<(), SpecError> {
    if got > 10_000 {
        return Err(SpecError::NotBasisPoints { field, got });
    }
    Ok(())
}

fn relative_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= MAX_ARG_LEN
        && !path.starts_with('/')
        && !path.chars().any(hidden)
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Checks an order for `spec` at `max_price_per_hour`, a rental or a job.
pub(crate) fn check_order(
    params: &Params,
    spec: &JobSpec,
    max_price_per_hour: Amount,
    rental: bool,
) -> Result<(), SpecError> {
    check_job(params, spec)?;
    if max_price_per_hour == 0 {
        return Err(SpecError::FreeOrder);
    }
    if rental && spec.audit_bps > 0 {
        return Err(SpecError::AuditedRental);
    }
    if rental && spec.max_attempts != 1 {
        return Err(SpecError::RetriedRental);
    }
    if !rental && !spec.ports.is_empty() {
        return Err(SpecError::PortsOnAJob);
    }
    if !rental && spec.on_exit == OnExit::Restart {
        return Err(SpecError::RestartedJob);
    }
    if !rental && spec.save_on_end {
        return Err(SpecError::SavedJob);
    }
    Ok(())
}

/// The names of a spec's secrets: each a variable name (letters, digits and
/// `_`, not starting with a digit; the agent sets them as such), sorted and
/// distinct, none in `env`.
fn check_secret_names(spec: &JobSpec) -> Result<(), SpecError> {
    let name_ok = |name: &str| {
        name.len() <= MAX_NAME_LEN
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let sorted = spec
        .secrets
        .iter()
        .zip(spec.secrets.iter().skip(1))
        .all(|(a, b)| a < b);
    let public = |name: &String| spec.env.iter().any(|(k, _)| k == name);
    if spec.secrets.len() > MAX_SECRETS
        || !sorted
        || !spec.secrets.iter().all(|n| name_ok(n))
        || spec.secrets.iter().any(public)
    {
        return Err(SpecError::BadSecrets);
    }
    Ok(())
}

/// Checks what a job asks for, whatever runs it (a client's order, an audit
/// or a referee run).
pub(crate) fn check_job(params: &Params, spec: &JobSpec) -> Result<(), SpecError> {
    let r = &spec.resources;
    label("name", &spec.name, MAX_NAME_LEN)?;
    if spec.image.is_empty() {
        return Err(SpecError::Empty { field: "image" });
    }
    label("image", &spec.image, MAX_ARG_LEN)?;
    if spec.image.contains(char::is_whitespace) {
        return Err(SpecError::HiddenCharacter { field: "image" });
    }
    if let Some(blob) = &spec.image_blob {
        if !is_image_id(&spec.image) {
            return Err(SpecError::PushedImageNotById(
                spec.image.chars().take(MAX_LABEL_LEN).collect(),
            ));
        }
        if blob.hash == Hash::ZERO || blob.holder_proof == Hash::ZERO {
            return Err(SpecError::NoImageContent);
        }
        in_range("image_blob.size", blob.size, 1, MAX_IMAGE_BYTES)?;
    }
    if spec.command.first().is_none_or(String::is_empty) {
        return Err(SpecError::Empty { field: "command" });
    }
    if spec.command.len() > MAX_ARGS || spec.command.iter().any(|a| a.len() > MAX_ARG_LEN) {
        return Err(SpecError::CommandTooLong);
    }
    if spec.env.len() > MAX_ENV
        || spec.env.iter().any(|(k, v)| {
            k.is_empty()
                || k.contains('=')
                || k.len() > MAX_NAME_LEN
                || k.chars().any(hidden)
                || v.len() > MAX_ARG_LEN
        })
    {
        return Err(SpecError::BadEnvironment);
    }
    check_secret_names(spec)?;
    in_range(
        "timeout_secs",
        spec.timeout_secs,
        1,
        params.max_job_timeout_secs,
    )?;
    in_range(
        "cpu",
        u64::from(r.cpu_cores),
        1,
        u64::from(params.max_cpu_cores),
    )?;
    in_range("memory_mb", r.memory_mb, 1, params.max_memory_mb)?;
    in_range("disk_mb", r.disk_mb, 1, params.max_disk_mb)?;
    // Shared, locked and stack memory all count within the job's memory.
    in_range("shm_mb", r.shm_mb, 0, r.memory_mb)?;
    let u = &r.ulimits;
    in_range("ulimits.nofile", u.nofile.unwrap_or(1), 1, MAX_NOFILE)?;
    in_range(
        "ulimits.memlock_mb",
        u.memlock_mb.unwrap_or(0),
        0,
        r.memory_mb,
    )?;
    in_range("ulimits.stack_mb", u.stack_mb.unwrap_or(1), 1, r.memory_mb)?;
    in_range("min_vram_mb", r.gpu.min_vram_mb, 0, params.max_vram_mb)?;
    in_range(
        "gpu count",
        u64::from(r.gpu.count),
        0,
        u64::from(params.max_gpus_per_machine),
    )?;
    if r.gpu.count == 0
        && (r.gpu.vendor.is_some() || r.gpu.model.is_some() || r.gpu.min_vram_mb > 0)
    {
        return Err(SpecError::GpuConstraintsWithoutGpu);
    }
    for (field, text) in [("gpu vendor", &r.gpu.vendor), ("gpu model", &r.gpu.model)] {
        if let Some(text) = text {
            label(field, text, MAX_LABEL_LEN)?;
        }
    }
    if let Some(region) = &spec.region {
        label("region", region, MAX_LABEL_LEN)?;
    }
    basis_points("audit_bps", spec.audit_bps)?;
    in_range(
        "max_attempts",
        u64::from(spec.max_attempts),
        1,
        u64::from(MAX_ATTEMPTS),
    )?;
    basis_points("min_reliability_bps", spec.min_reliability_bps)?;
    in_range(
        "inputs",
        spec.inputs.len() as u64,
        0,
        u64::from(params.max_inputs),
    )?;
    if !spec.ports.is_empty() {
        let unique: BTreeSet<_> = spec.ports.iter().collect();
        if spec.ports.len() > MAX_PORTS || unique.len() != spec.ports.len() || unique.contains(&0) {
            return Err(SpecError::BadPorts);
        }
        if !spec.network {
            return Err(SpecError::PortsWithoutNetwork);
        }
    }
    let mut paths = BTreeSet::new();
    for input in &spec.inputs {
        if !relative_path(&input.path) || !paths.insert(&input.path) {
            return Err(SpecError::BadInputPath(input.path.clone()));
        }
        if input.hash == Hash::ZERO || input.holder_proof() == Some(Hash::ZERO) {
            return Err(SpecError::NoInputContent(input.path.clone()));
        }
    }
    Ok(())
}

/// Whether `image` is an image's id as the engine prints it: `sha256:` and
/// 64 lowercase hex digits.
fn is_image_id(image: &str) -> bool {
    image.strip_prefix("sha256:").is_some_and(|digest| {
        digest.len() == 64
            && digest
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Checks the hardware a provider declares for a machine.
pub(crate) fn check_machine(params: &Params, spec: &MachineSpec) -> Result<(), SpecError> {
    in_range(
        "cpu_cores",
        u64::from(spec.cpu_cores),
        1,
        u64::from(params.max_cpu_cores),
    )?;
    in_range("memory_mb", spec.memory_mb, 1, params.max_memory_mb)?;
    in_range("disk_mb", spec.disk_mb, 0, params.max_disk_mb)?;
    if !EXECUTORS.contains(&spec.executor.as_str()) {
        return Err(SpecError::UnknownExecutor(
            spec.executor.chars().take(MAX_LABEL_LEN).collect(),
        ));
    }
    label("region", &spec.region, MAX_LABEL_LEN)?;
    if let Some(gpu) = &spec.gpu {
        in_range(
            "gpu count",
            u64::from(gpu.count),
            1,
            u64::from(params.max_gpus_per_machine),
        )?;
        in_range("vram_mb", gpu.vram_mb, 0, params.max_vram_mb)?;
        label("gpu model", &gpu.model, MAX_LABEL_LEN)?;
        label("gpu vendor", &gpu.vendor, MAX_LABEL_LEN)?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use gpunet_primitives::{InputRef, InputSource, Resources};

    /// A small valid spec: one core, no GPU, a minute.
    pub(crate) fn job() -> JobSpec {
        JobSpec {
            name: "job".into(),
            ..JobSpec::new(
                "gpunet/busybox",
                vec!["true".into()],
                Resources::new(1, 100, 100),
                60,
            )
        }
    }

    fn refused(change: impl FnOnce(&mut JobSpec)) -> SpecError {
        let mut spec = job();
        change(&mut spec);
        check_order(&Params::default(), &spec, 1, false).unwrap_err()
    }

    #[test]
    fn the_gaps_an_attacker_found_are_closed() {
        check_order(&Params::default(), &job(), 1, false).unwrap();
        assert_eq!(
            refused(|s| s.image.clear()),
            SpecError::Empty { field: "image" }
        );
        assert!(matches!(
            refused(|s| s.resources.disk_mb = 0),
            SpecError::OutOfRange {
                field: "disk_mb",
                ..
            }
        ));
        assert_eq!(
            check_order(&Params::default(), &job(), 0, false),
            Err(SpecError::FreeOrder)
        );
        for evil in ["a\0b", "abc\u{202e}gpj.exe", "line\nbreak", "\u{1b}[31mred"] {
            assert_eq!(
                refused(|s| s.name = evil.into()),
                SpecError::HiddenCharacter { field: "name" }
            );
            assert_eq!(
                refused(|s| s.region = Some(evil.into())),
                SpecError::HiddenCharacter { field: "region" }
            );
        }
        let input = |hash: Hash, holder_proof: Hash| InputRef {
            path: "data.bin".into(),
            hash,
            size: 1,
            source: InputSource::Held { holder_proof },
        };
        assert_eq!(
            refused(|s| s.inputs = vec![input(Hash::ZERO, Hash::ZERO)]),
            SpecError::NoInputContent("data.bin".into())
        );
        assert_eq!(
            refused(|s| s.inputs = vec![input(Hash::digest(b"x"), Hash::ZERO)]),
            SpecError::NoInputContent("data.bin".into())
        );
        // A pushed image: run by its id, with an archive someone holds.
        let id = format!("sha256:{}", "ab".repeat(32));
        let blob = |hash: Hash, size: u64| gpunet_primitives::ImageBlob {
            hash,
            size,
            holder_proof: Hash::digest(b"proof"),
        };
        let mut pushed = job();
        pushed.image.clone_from(&id);
        pushed.image_blob = Some(blob(Hash::digest(b"tar"), 1 << 20));
        check_order(&Params::default(), &pushed, 1, false).unwrap();
        assert!(pushed.is_deterministic());
        for name in [
            "gpunet/busybox",
            "sha256:AB",
            &id.to_uppercase(),
            &format!("{id}0"),
        ] {
            assert_eq!(
                refused(|s| {
                    s.image = name.into();
                    s.image_blob = Some(blob(Hash::digest(b"tar"), 1));
                }),
                SpecError::PushedImageNotById(name.into())
            );
        }
        assert_eq!(
            refused(|s| {
                s.image.clone_from(&id);
                s.image_blob = Some(blob(Hash::ZERO, 1));
            }),
            SpecError::NoImageContent
        );
        for size in [0, MAX_IMAGE_BYTES + 1, u64::MAX] {
            assert!(matches!(
                refused(|s| {
                    s.image.clone_from(&id);
                    s.image_blob = Some(blob(Hash::digest(b"tar"), size));
                }),
                SpecError::OutOfRange {
                    field: "image_blob.size",
                    ..
                }
            ));
        }
        // Commands keep their newlines: a shell script is one argument.
        let mut script = job();
        script.command = vec!["sh".into(), "-c".into(), "echo a\necho b".into()];
        check_order(&Params::default(), &script, 1, false).unwrap();
    }

    #[test]
    fn a_job_asks_for_one_to_max_attempts_runs_and_a_rental_for_one() {
        for attempts in [0, MAX_ATTEMPTS + 1, u32::MAX] {
            assert!(matches!(
                refused(|s| s.max_attempts = attempts),
                SpecError::OutOfRange {
                    field: "max_attempts",
                    ..
                }
            ));
        }
        let mut retried = job();
        retried.max_attempts = MAX_ATTEMPTS;
        check_order(&Params::default(), &retried, 1, false).unwrap();
        assert_eq!(
            check_order(&Params::default(), &retried, 1, true),
            Err(SpecError::RetriedRental)
        );
    }

    #[test]
    fn only_a_rental_restarts_its_container() {
        let mut restarting = job();
        restarting.on_exit = OnExit::Restart;
        assert_eq!(
            check_order(&Params::default(), &restarting, 1, false),
            Err(SpecError::RestartedJob)
        );
        check_order(&Params::default(), &restarting, 1, true).unwrap();
    }

    #[test]
    fn only_a_rental_saves_its_workspace_when_it_ends() {
        let saving = JobSpec {
            save_on_end: true,
            ..job()
        };
        assert_eq!(
            check_order(&Params::default(), &saving, 1, false),
            Err(SpecError::SavedJob)
        );
        check_order(&Params::default(), &saving, 1, true).unwrap();
    }

    #[test]
    fn shared_locked_and_stack_memory_stay_within_the_jobs_memory() {
        let mut big = job();
        big.resources.shm_mb = big.resources.memory_mb;
        big.resources.ulimits = gpunet_primitives::Ulimits {
            nofile: Some(MAX_NOFILE),
            memlock_mb: Some(big.resources.memory_mb),
            stack_mb: Some(64),
        };
        check_order(&Params::default(), &big, 1, false).unwrap();
        let out_of_range = |e: SpecError| match e {
            SpecError::OutOfRange { field, .. } => field,
            other => panic!("{other}"),
        };
        assert_eq!(
            out_of_range(refused(|s| s.resources.shm_mb = 101)),
            "shm_mb"
        );
        assert_eq!(
            out_of_range(refused(|s| s.resources.ulimits.memlock_mb = Some(u64::MAX))),
            "ulimits.memlock_mb"
        );
        assert_eq!(
            out_of_range(refused(|s| s.resources.ulimits.nofile = Some(0))),
            "ulimits.nofile"
        );
        assert_eq!(
            out_of_range(refused(
                |s| s.resources.ulimits.nofile = Some(MAX_NOFILE + 1)
            )),
            "ulimits.nofile"
        );
        assert_eq!(
            out_of_range(refused(|s| s.resources.ulimits.stack_mb = Some(0))),
            "ulimits.stack_mb"
        );
    }

    #[test]
    fn machines_declare_printable_labels_within_bounds() {
        let machine = MachineSpec {
            cpu_cores: 4,
            memory_mb: 8_000,
            disk_mb: 10_000,
            gpu: None,
            region: "eu-west".into(),
            executor: "docker".into(),
        };
        check_machine(&Params::default(), &machine).unwrap();
        let mut evil = machine.clone();
        evil.region = "eu\0west".into();
        assert_eq!(
            check_machine(&Params::default(), &evil),
            Err(SpecError::HiddenCharacter { field: "region" })
        );
        let mut huge = machine;
        huge.disk_mb = u64::MAX;
        assert!(matches!(
            check_machine(&Params::default(), &huge),
            Err(SpecError::OutOfRange {
                field: "disk_mb",
                ..
            })
        ));
    }
}
