//! Every kept fuzz input is a test: the seeds and what fuzzing kept
//! (`corpus/<target>/`) and the inputs that once failed
//! (`regressions/<target>/`) go through their target again.

use std::path::{Path, PathBuf};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_kept_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for target in gpunet_fuzz::TARGETS {
        let seeds = inputs(&root.join("corpus").join(target.name));
        assert!(
            !seeds.is_empty(),
            "target {} has no seed under corpus/{}",
            target.name,
            target.name
        );
        let regressions = inputs(&root.join("regressions").join(target.name));
        for file in seeds.iter().chain(&regressions) {
            let data = std::fs::read(file).expect("a readable input");
            let outcome = std::panic::catch_unwind(|| (target.run)(&data));
            assert!(
                outcome.is_ok(),
                "{} fails on {}",
                target.name,
                file.display()
            );
        }
    }
}

/// The binary a user reproduces a crash with names its targets when asked
/// for none, and replays a file.
#[test]
fn the_binary_replays_a_file_through_a_target() {
    let binary = env!("CARGO_BIN_EXE_gpunet-fuzz");
    let usage = std::process::Command::new(binary).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&usage.stderr);
    assert!(stderr.contains("targets: tx, block"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("garbage");
    std::fs::write(&file, b"\xff\xffnot a transaction").unwrap();
    let replay = std::process::Command::new(binary)
        .arg("tx")
        .arg(&file)
        .output()
        .unwrap();
    assert!(replay.status.success(), "{replay:?}");
    assert!(String::from_utf8_lossy(&replay.stdout).contains("no finding"));
}
