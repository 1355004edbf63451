//! `gpunet-fuzz TARGET [FILE...]`: replays FILEs through a target, or, with
//! no file, runs it under AFL++ (built with `--features afl`) or on standard
//! input once.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let names: Vec<_> = gpunet_fuzz::TARGETS.iter().map(|t| t.name).collect();
    let Some(target) = args.next().and_then(|name| gpunet_fuzz::target(&name)) else {
        eprintln!(
            "usage: gpunet-fuzz TARGET [FILE...]; targets: {}",
            names.join(", ")
        );
        return ExitCode::from(2);
    };
    let files: Vec<String> = args.collect();
    for file in &files {
        match std::fs::read(file) {
            Ok(data) => {
                (target.run)(&data);
                println!("{file}: no finding");
            }
            Err(e) => {
                eprintln!("cannot read {file}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if files.is_empty() {
        fuzz(target.run);
    }
    ExitCode::SUCCESS
}

#[cfg(feature = "afl")]
fn fuzz(run: fn(&[u8])) {
    afl::fuzz!(|data: &[u8]| run(data));
}

#[cfg(not(feature = "afl"))]
fn fuzz(run: fn(&[u8])) {
    use std::io::Read as _;
    let mut data = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut data) {
        eprintln!("cannot read standard input: {e}");
        return;
    }
    run(&data);
}
