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

/// The JSON error `gpunet ARGS` failed with, whose message says `why`.
fn refused(args: &[String], why: &str) -> serde_json::Value {
    let error = error_of(&gpunet(args));
    assert!(error["message"].as_str().unwrap().contains(why), "{error}");
    error
}

/// `global` (a devnet's options), then `gpunet rent ARGS`.
fn rent_args(global: &[String], args: &[&str]) -> Vec<String> {
    global
        .iter()
        .cloned()
        .chain(std::iter::once("rent".to_string()))
        .chain(args.iter().map(|a| a.to_string()))
        .collect()
}

/// `args` with a new wallet's keystore (made under `dir`) instead.
fn as_stranger(dir: &Path, mut args: Vec<String>) -> Vec<String> {
    let stranger = dir.join("stranger.json");
    new_wallet(&stranger);
    let at = args.iter().position(|a| a == "--keystore").unwrap();
    args[at + 1] = path(&stranger).to_string();
    args
}

/// `gpunet rent forward ID FORWARDING` running, and the local address it
/// said it listens on (its first line of JSON).
fn start_forward(global: &[String], id: &str, forwarding: &str) -> (Child, String) {
    let mut command = gpunet_command();
    command.args(rent_args(global, &["forward", id, forwarding]));
    let (forward, listening) = spawn_first_line(command);
    let listening: serde_json::Value =
        serde_json::from_str(&listening).unwrap_or_else(|e| panic!("{e}: {listening:?}"));
    assert_eq!(listening["order"].to_string(), id, "{listening}");
    let remote = forwarding.rsplit(':').next().unwrap();
    assert_eq!(listening["port"].to_string(), remote, "{listening}");
    (forward, listening["local"].as_str().unwrap().to_string())
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
    let error = refused(
        &as_stranger(dir.path(), exec(&["true"])),
        &format!("only rental {id}'s renter may open a session in it"),
    );
    assert_eq!(error["code"], "rental_session", "{error}");

    // Ended: no more sessions.
    ok(&[&global[..], &["rent".into(), "end".into(), id.clone()]].concat());
    let error = refused(&exec(&["true"]), "sessions open only while it runs");
    assert_eq!(error["code"], "rental_session", "{error}");
}

/// `rent forward` reaches a server listening only on the rental's own
/// localhost, a connection each time on one link, and `rent ssh-proxy`
/// carries its input and output to a port the same way (its end of input a
/// half-close the server answers); a port nobody listens on is said so, and
/// another key, or the renter after the rental ended, is refused.
#[test]
fn a_renter_reaches_a_port_in_its_rental_and_no_one_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, global, id) = rented(dir.path());
    let rent = |args: &[&str]| rent_args(&global, args);
    // A web server on the rental's loopback only, as Jupyter's default is.
    ok(&rent(&[
        "exec",
        &id,
        "--",
        "sh",
        "-c",
        "mkdir -p /tmp/www && echo hello from the rental > /tmp/www/index.html \
         && httpd -p 127.0.0.1:8888 -h /tmp/www",
    ]));
    let get = |address: &str| {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .write_all(b"GET /index.html HTTP/1.0\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
        answer
    };

    let (forward, local) = start_forward(&global, &id, "0:8888");
    for _ in 0..3 {
        let answer = get(&local);
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.ends_with("hello from the rental\n"), "{answer}");
    }
    // Ctrl-C stops it.
    let stopped = Command::new("kill")
        .args(["-INT", &forward.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let out = forward.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");

    // The proxy: a request, the end of input, and the whole answer.
    let mut proxy = gpunet_command()
        .args(rent(&["ssh-proxy", &id, "--port", "8888"]))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    proxy
        .stdin
        .take()
        .unwrap()
        .write_all(b"GET /index.html HTTP/1.0\r\n\r\n")
        .unwrap();
    let out = proxy.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let answer = String::from_utf8_lossy(&out.stdout);
    assert!(answer.ends_with("hello from the rental\n"), "{answer}");

    // Nothing listens there.
    let error = refused(
        &rent(&["ssh-proxy", &id, "--port", "9"]),
        "nothing listens on port 9 in the rental",
    );
    assert_eq!(error["code"], "rental_session", "{error}");

    // Another key: the provider refuses it.
    let stranger = as_stranger(dir.path(), rent(&["ssh-proxy", &id, "--port", "8888"]));
    refused(
        &stranger,
        &format!("only rental {id}'s renter may open a session in it"),
    );

    // Ended: no more connections.
    ok(&rent(&["end", &id]));
    refused(
        &rent(&["ssh-proxy", &id, "--port", "8888"]),
        "sessions open only while it runs",
    );
}

/// A rental of the ssh template started with the renter's public key:
/// `rent ssh-config` prints the Host block through which OpenSSH's own ssh
/// and scp reach its sshd (no port published), files go both ways, and
/// another key is not let in.
#[test]
fn ssh_and_scp_reach_a_rental_through_the_proxy_with_the_renters_key() {
    super::workloads::example_image("ssh");
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, global) = devnet_with(dir.path(), 1, "docker");
    let keygen = |name: &str| {
        let key = dir.path().join(name);
        let made = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f", path(&key)])
            .status()
            .expect("ssh-keygen runs");
        assert!(made.success());
        key
    };
    let key = keygen("id_renter");
    let public = key.with_extension("pub");
    let rental = json(
        &[
            &global[..],
            &[
                "rent",
                "start",
                "--template",
                "shell",
                "--duration",
                "10m",
                "--ssh-key",
                path(&public),
            ]
            .map(String::from),
        ]
        .concat(),
    );
    assert_eq!(rental["status"], "running", "{rental}");
    let id = rental["order"].to_string();
    let host = format!("gpunet-{id}");
    let printed = json(
        &[
            &global[..],
            &["rent".into(), "ssh-config".into(), id.clone()],
        ]
        .concat(),
    );
    assert_eq!(printed["host"], host.as_str());
    let config = dir.path().join("ssh_config");
    std::fs::write(&config, printed["config"].as_str().unwrap()).unwrap();
    // OpenSSH's client, as a person runs it (the proxy finds the passphrase
    // in the environment ssh passes on).
    let openssh = |program: &str, key: &Path| {
        let mut command = Command::new(program);
        command
            .env("GPUNET_PASSPHRASE", PASSPHRASE)
            .env("GPUNET_CONFIG", test_config())
            .args(["-F", path(&config), "-i", path(key)])
            .args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]);
        command
    };

    // The sshd is up once the rental's container has started it.
    let mut last = None;
    let logged_in = eventually(Duration::from_secs(90), || {
        let out = openssh("ssh", &key)
            .args([&host, "echo \"$(whoami):$((6*7))\"; pwd"])
            .output()
            .unwrap();
        let done = out.status.success();
        last = Some(out);
        done
    });
    let out = last.unwrap();
    assert!(
        logged_in,
        "{out:?}\nthe devnet's log: {}",
        std::fs::read_to_string(dir.path().join("devnet.log")).unwrap_or_default()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "root:42\n/root\n");

    // Files both ways with scp.
    let sent = dir.path().join("data.bin");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&sent, &bytes).unwrap();
    let out = openssh("scp", &key)
        .args([path(&sent), &format!("{host}:/workspace/data.bin")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let listed = ok(&[
        &global[..],
        &["rent", "exec", &id, "--", "wc", "-c", "/workspace/data.bin"].map(String::from),
    ]
    .concat());
    assert_eq!(listed.trim(), "300000 /workspace/data.bin");
    let back = dir.path().join("back.bin");
    let out = openssh("scp", &key)
        .args([&format!("{host}:/workspace/data.bin"), path(&back)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read(&back).unwrap(), bytes);

    // Another key pair: the sshd does not let it in.
    let other = keygen("id_other");
    let out = openssh("ssh", &other)
        .args([&host, "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{out:?}"
    );
}

/// `rent cp` copies a directory into a rental and back (empty directories
/// and modes too), sends again only what changed, goes on with a file from
/// where an interrupted copy left it (or from the start when what is there
/// is not its beginning), and says what it cannot copy. Ctrl-C on the
/// devnet then removes the rental's container.
#[test]
fn a_renter_copies_files_and_directories_both_ways_resumably() {
    let dir = tempfile::tempdir().unwrap();
    let (mut devnet, global, id) = rented(dir.path());
    let rent = |args: &[&str]| rent_args(&global, args);
    let remote = |path: &str| format!("{id}:{path}");
    let bytes =
        |n: u32, seed: u32| -> Vec<u8> { (0..n).map(|i| ((i * seed) % 251) as u8).collect() };

    // A tree: text, binary, an empty directory, an executable script.
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::create_dir_all(data.join("empty")).unwrap();
    std::fs::write(data.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(data.join("sub/b.bin"), bytes(300_000, 7)).unwrap();
    std::fs::write(data.join("run.sh"), "#!/bin/sh\necho ran\n").unwrap();
    std::fs::set_permissions(
        data.join("run.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let copied = json(&rent(&["cp", path(&data), &remote("/workspace/")]));
    assert_eq!(copied["files"], 3, "{copied}");
    assert_eq!(copied["unchanged"], 0, "{copied}");
    assert_eq!(copied["destination"], remote("/workspace/data").as_str());
    let there = ok(&rent(&[
        "exec",
        &id,
        "--",
        "sh",
        "-c",
        "cd /workspace/data && cat a.txt && ./run.sh && test -d empty && wc -c < sub/b.bin",
    ]));
    assert_eq!(there, "alpha\nran\n300000\n");

    // Again: nothing to send; one file changed: that one.
    let copied = json(&rent(&["cp", path(&data), &remote("/workspace/")]));
    assert_eq!(
        (copied["files"].clone(), copied["unchanged"].clone()),
        (0.into(), 3.into())
    );
    std::fs::write(data.join("a.txt"), "alpha, changed\n").unwrap();
    let copied = json(&rent(&["cp", path(&data), &remote("/workspace/")]));
    assert_eq!(
        (copied["files"].clone(), copied["unchanged"].clone()),
        (1.into(), 2.into())
    );

    // And back, into a directory that does not exist yet.
    let back = dir.path().join("back");
    let copied = json(&rent(&["cp", &remote("/workspace/data"), path(&back)]));
    assert_eq!(copied["files"], 3, "{copied}");
    assert_eq!(
        std::fs::read_to_string(back.join("a.txt")).unwrap(),
        "alpha, changed\n"
    );
    assert_eq!(
        std::fs::read(back.join("sub/b.bin")).unwrap(),
        bytes(300_000, 7)
    );
    assert!(back.join("empty").is_dir());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(back.join("run.sh"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o755);

    // A file whose copy stopped halfway goes on from there.
    let big = dir.path().join("big.bin");
    let content = bytes(2_000_000, 13);
    std::fs::write(&big, &content).unwrap();
    let put_partial = |partial: &[u8]| {
        let mut cat = gpunet_command()
            .args(rent(&[
                "exec",
                &id,
                "--",
                "sh",
                "-c",
                "cat > /workspace/big.bin.gpunet-partial",
            ]))
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        cat.stdin.take().unwrap().write_all(partial).unwrap();
        assert!(cat.wait().unwrap().success());
    };
    put_partial(&content[..1_000_000]);
    let copied = json(&rent(&["cp", path(&big), &remote("/workspace/big.bin")]));
    assert_eq!(copied["bytes"], 1_000_000, "{copied}");
    // What is there is not its beginning: sent again whole, and right.
    put_partial(&vec![0u8; 1_000_000]);
    let copied = json(&rent(&["cp", path(&big), &remote("/workspace/big.bin")]));
    assert_eq!(copied["bytes"], 3_000_000, "{copied}");
    let got = dir.path().join("got.bin");
    let mut partial = got.as_os_str().to_owned();
    partial.push(".gpunet-partial");
    std::fs::write(&partial, &content[..500_000]).unwrap();
    let copied = json(&rent(&["cp", &remote("/workspace/big.bin"), path(&got)]));
    assert_eq!(copied["bytes"], 1_500_000, "{copied}");
    assert_eq!(std::fs::read(&got).unwrap(), content);
    assert!(!Path::new(&partial).exists());

    // What cannot be copied is said.
    refused(
        &rent(&["cp", &remote("/nowhere"), path(dir.path())]),
        "has no file or directory \"/nowhere\"",
    );
    refused(
        &rent(&["cp", path(&big), path(&got)]),
        "neither side is in a rental",
    );

    // Ctrl-C stops the devnet, and its provider's containers with it: the
    // rental's (whose hostname is its container's id) is gone.
    let container = ok(&rent(&["exec", &id, "--", "hostname"]));
    let container = container.trim();
    assert!(
        docker_has(container),
        "{container} is the rental's container"
    );
    devnet.interrupt();
    let stopped = devnet.exit_within(Duration::from_secs(60));
    assert!(stopped.is_some_and(|s| s.success()), "{stopped:?}");
    assert!(
        !docker_has(container),
        "the rental's container {container} outlived its devnet"
    );
}

/// Whether the Docker engine has a container (running or not) whose id
/// starts with `id`.
fn docker_has(id: &str) -> bool {
    let all = Command::new("docker")
        .args(["ps", "-aq", "--no-trunc"])
        .output()
        .unwrap();
    assert!(all.status.success(), "{all:?}");
    String::from_utf8_lossy(&all.stdout)
        .lines()
        .any(|c| c.starts_with(id))
}

/// `rent start --template jupyter` says how to connect, and the notebook
/// server, listening on the rental's localhost only, answers through
/// `rent forward` as that says.
#[test]
fn the_jupyter_template_answers_through_the_forward_it_prints() {
    super::workloads::example_image("jupyter");
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, global) = devnet_with(dir.path(), 1, "docker");
    // As a person reads it: text.
    let text = &global[..global.len() - 2];
    assert_eq!(&global[global.len() - 2..], ["--output", "json"]);
    let started = ok(&[
        text,
        &[
            "rent",
            "start",
            "--template",
            "jupyter",
            "--duration",
            "10m",
        ]
        .map(String::from),
    ]
    .concat());
    let hint = started
        .lines()
        .find_map(|l| l.strip_prefix("connect: gpunet rent forward "))
        .unwrap_or_else(|| panic!("no way to connect printed: {started}"));
    let id = hint.split_whitespace().next().unwrap().to_string();
    assert!(
        hint.starts_with(&format!("{id} 8888, then open http://127.0.0.1:8888")),
        "{hint}"
    );

    let (mut forward, local) = start_forward(&global, &id, "0:8888");
    // The server takes a few seconds to start.
    let mut answer = String::new();
    let answered = eventually(Duration::from_secs(90), || {
        let Ok(mut stream) = std::net::TcpStream::connect(&local) else {
            return false;
        };
        answer.clear();
        let asked = stream.write_all(b"GET /api HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        asked.is_ok()
            && std::io::Read::read_to_string(&mut stream, &mut answer).is_ok()
            && answer.starts_with("HTTP/1.1 200")
    });
    let _ = forward.kill();
    let _ = forward.wait();
    assert!(
        answered,
        "{answer}\nthe devnet's log: {}",
        std::fs::read_to_string(dir.path().join("devnet.log")).unwrap_or_default()
    );
    assert!(answer.contains("\"version\""), "{answer}");
}

/// `gpunet bench rentals`: a shell's round trips and a copy measured four
/// ways (the host's engine, OpenSSH over loopback, through the provider's
/// peer directly and through a relay), each copy through gpunet verified.
#[test]
fn the_rentals_benchmark_measures_the_host_ssh_direct_and_relayed() {
    super::workloads::example_image("ssh");
    let result = json(&[
        "--output",
        "json",
        "bench",
        "rentals",
        "--mib",
        "4",
        "--samples",
        "20",
    ]);
    let ways = result["ways"].as_array().unwrap();
    let names: Vec<&str> = ways.iter().map(|w| w["way"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["docker (host)", "ssh (loopback)", "direct", "relayed"],
        "{result}"
    );
    for way in ways {
        let (p50, p99) = (&way["shell"]["p50_us"], &way["shell"]["p99_us"]);
        assert!(p50.as_u64().unwrap() > 0, "{result}");
        assert!(p99.as_u64() >= p50.as_u64(), "{result}");
        assert!(way["copy_ms"].as_u64().unwrap() > 0, "{result}");
    }
    for ratio in ["shell_ratio", "copy_ratio", "shell_vs_ssh", "copy_vs_scp"] {
        let ratio: f64 = result[ratio].as_str().unwrap().parse().unwrap();
        assert!(ratio > 0.0, "{result}");
    }
}

/// A rental whose spec says `on_exit = "restart"` gets its container back
/// when its program exits, with the same `/workspace`, and its renter reads
/// why in its logs; one whose container keeps stopping ends, billed only
/// to then, rather than bill its renter for a machine that runs nothing.
#[test]
fn a_restarting_rental_gets_its_container_back_and_one_that_keeps_stopping_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, global) = devnet_with(dir.path(), 1, "docker");
    let start = |name: &str, script: &str| -> String {
        let file = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &file,
            format!(
                "name = \"{name}\"\nimage = \"gpunet/busybox\"\n\
                 command = [\"sh\", \"-c\", {script:?}]\ntimeout_secs = 600\n\
                 on_exit = \"restart\"\n[price]\nmax_per_hour = \"50\"\n"
            ),
        )
        .unwrap();
        let rental = json(&rent_args(
            &global,
            &["start", path(&file), "--duration", "10m"],
        ));
        assert_eq!(rental["status"], "running", "{rental}");
        rental["order"].to_string()
    };
    let with = |args: &[&str]| -> Vec<String> {
        [
            &global[..],
            &args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        ]
        .concat()
    };

    // Its first start leaves a mark in /workspace and exits 3; the next
    // start finds the mark and stays up.
    let id = start(
        "comeback",
        "if [ -e /workspace/mark ]; then echo back; exec sleep 600; fi; \
         touch /workspace/mark; echo first; exit 3",
    );
    let mut logs = serde_json::Value::Null;
    let came_back = eventually(Duration::from_secs(60), || {
        logs = json(&with(&["job", "logs", &id]));
        logs["stdout"] == "first\nback\n"
    });
    assert!(came_back, "{logs}");
    assert_eq!(
        logs["stderr"],
        "gpunet: its program exited with code 3; starting the container again in 1 s \
         (on_exit = \"restart\")\n"
    );
    let out = gpunet(&rent_args(
        &global,
        &["exec", &id, "--", "ls", "/workspace"],
    ));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "mark\n", "{out:?}");
    let mut as_text = with(&["job", "describe", &id]);
    let format = as_text.iter().position(|a| a == "--output").unwrap() + 1;
    as_text[format] = "text".into();
    let described = ok(&as_text);
    assert!(
        described.contains("on exit   its container is started again when its program exits"),
        "{described}"
    );
    ok(&rent_args(&global, &["end", &id]));

    // Stopping at once, each start: after five in a row the rental ends.
    let id = start("broken", "echo cannot start; exit 1");
    let (mut order, mut starts_seen) = (serde_json::Value::Null, 0);
    let ended = eventually(Duration::from_secs(90), || {
        // Its live logs, while it runs: a line per start.
        let logs = gpunet(&with(&["job", "logs", &id]));
        if let Ok(logs) = serde_json::from_slice::<serde_json::Value>(&logs.stdout) {
            let stdout = logs["stdout"].as_str().unwrap_or_default();
            starts_seen = starts_seen.max(stdout.matches("cannot start\n").count());
        }
        order = json(&with(&["job", "describe", &id]));
        order["status"] == "settled"
    });
    assert!(ended, "{order}");
    assert!(starts_seen >= 2, "started again: {starts_seen} starts seen");
    assert_eq!(
        order["rental"]["stopped"],
        serde_json::json!({"kept_stopping": {"starts": 5}}),
        "{order}"
    );
    // Billed for the seconds it tried, not the ten minutes booked.
    let gpn = |v: &serde_json::Value| parse_amount(v.as_str().unwrap()).unwrap();
    let (refunded, deposit) = (
        gpn(&order["settlement"]["refunded"]),
        gpn(&order["deposit"]),
    );
    assert!(refunded > deposit / 10 * 9, "{order}");
}

/// `rent end --save` stores the rental's /workspace and prints its root;
/// `job get` fetches it, and a later rental started `--workspace ROOT` on
/// another machine (whose provider fetches it from the first one's peer)
/// finds the files there, as do a job started `--workspace ROOT` and a
/// rental back on the first machine. The root is its renter's only:
/// another wallet cannot start with it.
#[test]
fn a_saved_workspace_moves_to_a_later_rental_on_another_machine() {
    let dir = tempfile::tempdir().unwrap();
    // Providers keep what they save and serve it peer to peer.
    let (_devnet, global) = devnet_with_args(dir.path(), 2, "docker", &["--serve-outputs"]);
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rental.toml");
    let start = |more: &[&str]| -> serde_json::Value {
        let args = [&["start", path(&examples), "--duration", "10m"][..], more].concat();
        let rental = json(&rent_args(&global, &args));
        assert_eq!(rental["status"], "running", "{rental}");
        rental
    };
    let exec = |id: &str, script: &str| -> String {
        let out = gpunet(&rent_args(&global, &["exec", id, "--", "sh", "-c", script]));
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    let first = start(&[]);
    let id = first["order"].to_string();
    exec(
        &id,
        "mkdir -p /workspace/notes && echo 'day one' > /workspace/notes/today.txt \
         && head -c 100000 /dev/urandom > /workspace/weights.bin \
         && ln -s notes/today.txt /workspace/latest && sha256sum /workspace/weights.bin",
    );
    let weights = exec(&id, "sha256sum < /workspace/weights.bin");

    let ended = json(&rent_args(&global, &["end", &id, "--save"]));
    assert_eq!(ended["status"], "settled", "{ended}");
    let saved = &ended["workspace"];
    assert_eq!(saved["state"], "saved", "{ended}");
    assert_eq!(saved["held_by"], "provider", "{ended}");
    assert_eq!(saved["bytes"], 100_000 + 8, "the link is left out: {ended}");
    let root = saved["root"].as_str().unwrap().to_string();
    let mut as_text = [&global[..], &["job".into(), "describe".into(), id.clone()]].concat();
    let format = as_text.iter().position(|a| a == "--output").unwrap() + 1;
    as_text[format] = "text".into();
    let described = ok(&as_text);
    assert!(
        described.contains(&format!(
            "workspace saved: 100008 bytes, root {root}, kept by its provider"
        )),
        "{described}"
    );

    // Its renter fetches it, verified, as a result.
    let got = dir.path().join("got");
    ok(&[
        &global[..],
        &[
            "job".into(),
            "get".into(),
            id.clone(),
            "--out".into(),
            path(&got).into(),
        ],
    ]
    .concat());
    assert_eq!(
        std::fs::read_to_string(got.join("workspace/notes/today.txt")).unwrap(),
        "day one\n"
    );

    // Both machines idle: the next rental goes to the one leased longest
    // ago, the other one, and fetches the workspace from the first.
    let second = start(&["--workspace", &root]);
    let machine = |order: &serde_json::Value| order["lease"]["machine"].clone();
    assert_ne!(machine(&second), machine(&first), "{second}");
    let id2 = second["order"].to_string();
    assert_eq!(
        second["spec"]["workspace"],
        serde_json::json!({"order": id.parse::<u64>().unwrap(), "root": root}),
        "{second}"
    );
    assert_eq!(exec(&id2, "cat /workspace/notes/today.txt"), "day one\n");
    assert_eq!(exec(&id2, "sha256sum < /workspace/weights.bin"), weights);

    // A job starts with it too, in a sandbox still: its root stays read-only.
    let job = json(
        &[
            &global[..],
            &[
                "job",
                "run",
                "--image",
                "gpunet/busybox",
                "--max-price",
                "50",
            ]
            .map(String::from),
            &[
                "--workspace".into(),
                root.clone(),
                "--wait".into(),
                "--".into(),
            ],
            &[
                "sh",
                "-c",
                "cat notes/today.txt; touch /etc/x 2>/dev/null || echo read-only",
            ]
            .map(String::from),
        ]
        .concat(),
    );
    assert_eq!(job["status"], "settled", "{job}");
    let logs = json(
        &[
            &global[..],
            &["job".into(), "logs".into(), job["order"].to_string()],
        ]
        .concat(),
    );
    assert_eq!(logs["stdout"], "day one\nread-only\n", "{logs}");

    // Another wallet has no rental that saved it.
    let stranger = as_stranger(
        dir.path(),
        rent_args(
            &global,
            &[
                "start",
                path(&examples),
                "--duration",
                "10m",
                "--workspace",
                &root,
            ],
        ),
    );
    refused(&stranger, "saved the workspace");

    // Back on the machine that saved it (the other one is busy with the
    // second rental), its own provider hands it over.
    let third = start(&["--workspace", &root]);
    assert_eq!(machine(&third), machine(&first), "{third}");
    let id3 = third["order"].to_string();
    assert_eq!(exec(&id3, "cat /workspace/notes/today.txt"), "day one\n");
    for id in [id2, id3] {
        ok(&rent_args(&global, &["end", &id]));
    }
}

/// A rental started with `--save-on-end` whose time runs out has its
/// workspace saved, not deleted: `job describe` says so before and after,
/// and its renter fetches the files with `job get`.
#[test]
fn a_rental_that_saves_on_end_keeps_its_workspace_when_its_time_runs_out() {
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, global) = devnet_with(dir.path(), 1, "docker");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rental.toml");
    let rental = json(&rent_args(
        &global,
        &[
            "start",
            path(&example),
            "--duration",
            "20s",
            "--save-on-end",
        ],
    ));
    assert_eq!(rental["status"], "running", "{rental}");
    assert_eq!(rental["spec"]["save_on_end"], true, "{rental}");
    let id = rental["order"].to_string();
    let out = gpunet(&rent_args(
        &global,
        &[
            "exec",
            &id,
            "--",
            "sh",
            "-c",
            "echo kept > /workspace/notes.txt",
        ],
    ));
    assert!(out.status.success(), "{out:?}");
    let describe = |format: &str| {
        let mut args = [&global[..], &["job".into(), "describe".into(), id.clone()]].concat();
        let at = args.iter().position(|a| a == "--output").unwrap() + 1;
        args[at] = format.into();
        ok(&args)
    };
    assert!(
        describe("text").contains(
            "on end    its workspace is saved when its time runs out or its container stops"
        ),
        "{}",
        describe("text")
    );

    // Nobody ends it: its time runs out and its provider saves it.
    let mut order = serde_json::Value::Null;
    let saved = eventually(Duration::from_secs(90), || {
        order = serde_json::from_str(&describe("json")).unwrap();
        order["workspace"]["state"] == "saved"
    });
    assert!(
        saved,
        "{order}\nthe devnet's log: {}",
        std::fs::read_to_string(dir.path().join("devnet.log")).unwrap_or_default()
    );
    assert_eq!(order["status"], "settled", "{order}");
    assert_eq!(order["workspace"]["bytes"], 5, "{order}");
    let got = dir.path().join("got");
    ok(&[
        &global[..],
        &[
            "job".into(),
            "get".into(),
            id,
            "--out".into(),
            path(&got).into(),
        ],
    ]
    .concat());
    assert_eq!(
        std::fs::read_to_string(got.join("workspace/notes.txt")).unwrap(),
        "kept\n"
    );
}
