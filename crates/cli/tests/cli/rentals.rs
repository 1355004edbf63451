//! Rentals people work in, through a devnet whose provider runs them in
//! Docker containers: commands and shells in the rented container.

use super::*;
use std::io::Write;
use std::process::Stdio;

/// A rental of README's example on a one-provider Docker devnet: the
/// devnet, its global options and the rental's id.
fn rented(dir: &Path) -> (Node, Vec<String>, String) {
    let (devnet, global) = devnet_with(dir, 1, "docker");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rental.toml");
    let rental = json(
        &[
            &global[..],
            &["rent", "start", path(&examples), "--duration", "10m"].map(String::from),
        ]
        .concat(),
    );
    assert_eq!(rental["status"], "running", "{rental}");
    (devnet, global, rental["order"].to_string())
}

/// The JSON error a failed command printed.
fn error_of(out: &Output) -> serde_json::Value {
    assert!(!out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stderr)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// `rent exec` runs a command in the renter's rental with its output,
/// errors, input and exit code as if it ran here, and `rent shell` gives a
/// shell on a terminal; another key is refused by the provider, and the
/// renter too once the rental has ended.
#[test]
fn a_renter_runs_commands_and_a_shell_in_its_rental_and_no_one_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, global, id) = rented(dir.path());
    let exec = |args: &[&str]| {
        [
            &global[..],
            &["rent".into(), "exec".into(), id.clone(), "--".into()],
            &args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        ]
        .concat()
    };

    // Output and errors apart, the exit code as the command's.
    let out = gpunet(&exec(&["sh", "-c", "echo out; echo err >&2; exit 3"]));
    assert_eq!(
        out.status.code(),
        Some(3),
        "{out:?}\nthe rental: {}\nthe devnet's log: {}",
        ok(&[&global[..], &["job".into(), "describe".into(), id.clone()]].concat()),
        std::fs::read_to_string(dir.path().join("devnet.log")).unwrap_or_default()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");

    // Its input, to its end: the command sees the end and exits.
    let mut cat = gpunet_command()
        .args(exec(&["sh", "-c", "wc -c; cat > /tmp/got; cat /tmp/got"]))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    cat.stdin
        .take()
        .unwrap()
        .write_all(b"twelve bytes")
        .unwrap();
    let out = cat.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "12");

    // A shell on a terminal (script(1) gives this test one): what is typed
    // runs, and the shell's exit code is the command's.
    let command = [env!("CARGO_BIN_EXE_gpunet")]
        .into_iter()
        .chain(global.iter().map(String::as_str))
        .chain(["rent", "shell", &id])
        .collect::<Vec<_>>()
        .join(" ");
    let mut shell = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("GPUNET_PASSPHRASE", PASSPHRASE)
        .env("GPUNET_CONFIG", test_config())
        .env("TERM", "xterm-256color")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("script(1) runs");
    let mut typing = shell.stdin.take().unwrap();
    typing
        .write_all(b"echo \"$TERM:$((6*7))\"; exit 5\n")
        .unwrap();
    let out = shell.wait_with_output().unwrap();
    drop(typing);
    let screen = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(5), "{screen}");
    assert!(screen.contains("xterm-256color:42"), "{screen}");

    // Another key: the provider refuses it.
    let stranger = dir.path().join("stranger.json");
    new_wallet(&stranger);
    let mut as_stranger = exec(&["true"]);
    let at = as_stranger.iter().position(|a| a == "--keystore").unwrap();
    as_stranger[at + 1] = path(&stranger).to_string();
    let error = error_of(&gpunet(&as_stranger));
    assert_eq!(error["code"], "rental_session", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains(&format!(
            "only rental {id}'s renter may open a session in it"
        )),
        "{error}"
    );

    // Ended: no more sessions.
    ok(&[&global[..], &["rent".into(), "end".into(), id.clone()]].concat());
    let error = error_of(&gpunet(&exec(&["true"])));
    assert_eq!(error["code"], "rental_session", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("sessions open only while it runs"),
        "{error}"
    );
}
