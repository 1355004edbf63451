//! A provider whose network lets nothing in and no UDP out, as behind a
//! strict NAT or a corporate firewall: its agent runs in a network
//! namespace of its own, and clients and renters reach it through a relay.

use super::*;

/// A network namespace joined to this host by a veth pair, whose firewall
/// accepts no inbound connection and lets no UDP leave (so no QUIC, direct
/// or hole-punched): TCP out to this host is all it has. Removed on drop.
struct Firewalled {
    name: String,
    host_link: String,
    /// This host's address on the link: what the namespace can dial.
    host_ip: String,
}

/// Runs `program args`; panics with its errors if it fails.
fn must(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs (iproute2 and iptables, as root): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Firewalled {
    fn new() -> Firewalled {
        let id = std::process::id() % 50_000;
        let subnet = format!("10.213.{}", id % 250);
        let wall = Firewalled {
            name: format!("gpunet-fw-{id}"),
            host_link: format!("gpfw{id}h"),
            host_ip: format!("{subnet}.1"),
        };
        let inside_link = format!("gpfw{id}n");
        let inside_ip = format!("{subnet}.2/30");
        must("ip", &["netns", "add", &wall.name]);
        must(
            "ip",
            &[
                "link",
                "add",
                &wall.host_link,
                "type",
                "veth",
                "peer",
                "name",
                &inside_link,
            ],
        );
        must("ip", &["link", "set", &inside_link, "netns", &wall.name]);
        must(
            "ip",
            &[
                "addr",
                "add",
                &format!("{}/30", wall.host_ip),
                "dev",
                &wall.host_link,
            ],
        );
        must("ip", &["link", "set", &wall.host_link, "up"]);
        let inside = |args: &[&str]| {
            must("ip", &[&["netns", "exec", &wall.name][..], args].concat());
        };
        inside(&["ip", "addr", "add", &inside_ip, "dev", &inside_link]);
        inside(&["ip", "link", "set", &inside_link, "up"]);
        inside(&["ip", "link", "set", "lo", "up"]);
        inside(&["ip", "route", "add", "default", "via", &wall.host_ip]);
        for rule in [
            "-A INPUT -i lo -j ACCEPT",
            "-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
            "-P INPUT DROP",
            "-A OUTPUT -o lo -j ACCEPT",
            "-A OUTPUT -p udp -j DROP",
        ] {
            let rule: Vec<&str> = rule.split(' ').collect();
            inside(&[&["iptables"][..], &rule].concat());
        }
        wall
    }

    /// How many packets from outside the firewall turned away.
    fn turned_away(&self) -> u64 {
        let out = Command::new("ip")
            .args([
                "netns", "exec", &self.name, "iptables", "-L", "INPUT", "-n", "-v", "-x",
            ])
            .output()
            .expect("iptables runs");
        // "Chain INPUT (policy DROP 12 packets, 3456 bytes)"
        let listing = String::from_utf8_lossy(&out.stdout);
        listing
            .split_whitespace()
            .skip_while(|word| *word != "DROP")
            .nth(1)
            .and_then(|count| count.parse().ok())
            .unwrap_or_else(|| panic!("no policy count in {listing}"))
    }

    /// `gpunet` run inside the namespace, as [`gpunet_command`] runs it here.
    fn gpunet_command(&self) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.name, env!("CARGO_BIN_EXE_gpunet")])
            .env("GPUNET_PASSPHRASE", PASSPHRASE)
            .env("GPUNET_CONFIG", test_config());
        command
    }
}

impl Drop for Firewalled {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_link])
            .output();
    }
}

/// A provider that accepts no connection and sends no UDP, told only a
/// relay's URL: a client fetches its job's outputs from it and a renter runs
/// commands and copies files both ways in its rental, all through the relay;
/// with the relay gone, nothing reaches it.
#[test]
fn a_provider_that_lets_nothing_in_is_reached_through_a_relay() {
    let wall = Firewalled::new();
    let dir = tempfile::tempdir().unwrap();
    let net = SoloNode::start_on(dir.path(), &wall.host_ip, &[]);
    let (mut relay, _, url) = start_relay(dir.path(), &wall.host_ip);
    // Not --relay-only: the agent listens as usual and announces its own
    // addresses; the firewall, not a flag, leaves the relay as the only way.
    let agent_log = dir.path().join("agent.log");
    let _agent = net.spawn_agent(
        wall.gpunet_command(),
        "docker",
        &dir.path().join("agent"),
        &["--serve-outputs", "--relay", &url],
    );
    assert!(
        eventually(Duration::from_secs(120), || net.online_machines() == 1),
        "the agent registers its machine and proves it: {}",
        std::fs::read_to_string(&agent_log).unwrap_or_default()
    );

    // A job's outputs, kept by the provider and fetched from it.
    net.run_job("echo behind the wall > \"$GPUNET_OUTPUT_DIR/note.txt\"");
    let results = dir.path().join("results");
    ok(&net.with(&["job", "get", "0", "--out", path(&results)]));
    assert_eq!(
        std::fs::read_to_string(results.join("outputs/note.txt")).unwrap(),
        "behind the wall\n"
    );

    // A rental: a command in it, a file in and back out.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rental.toml");
    let rental = json(&net.with(&["rent", "start", path(&example), "--duration", "10m"]));
    assert_eq!(rental["status"], "running", "{rental}");
    let id = rental["order"].to_string();
    // The command goes last, after the global options.
    let exec = |command: &[&str]| {
        let mut args = net.global.clone();
        args.extend(["rent", "exec", &id, "--"].map(String::from));
        args.extend(command.iter().map(|a| a.to_string()));
        gpunet(&args)
    };
    let out = exec(&["sh", "-c", "echo $((6*7))"]);
    assert!(
        out.status.success(),
        "{out:?}\nthe agent's log: {}",
        std::fs::read_to_string(&agent_log).unwrap_or_default()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "42\n");
    let sent = dir.path().join("sent.bin");
    let bytes: Vec<u8> = (0..2_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&sent, &bytes).unwrap();
    ok(&net.with(&[
        "rent",
        "cp",
        path(&sent),
        &format!("{id}:/workspace/in.bin"),
    ]));
    let back = dir.path().join("back.bin");
    ok(&net.with(&[
        "rent",
        "cp",
        &format!("{id}:/workspace/in.bin"),
        path(&back),
    ]));
    assert!(
        std::fs::read(&back).unwrap() == bytes,
        "the file came back whole"
    );
    // The client tried the provider's own addresses too; the firewall
    // dropped that, so all of the above came through the relay.
    assert!(
        wall.turned_away() > 0,
        "the client dialled the provider directly"
    );

    // No relay, no way in.
    let _ = relay.0.kill();
    let _ = relay.0.wait();
    let out = exec(&["true"]);
    assert!(!out.status.success(), "{out:?}");
    let error: serde_json::Value = serde_json::from_slice(&out.stderr)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("relay {url} did not answer")),
        "{message}"
    );

    // Ended through the node, which needs no relay: its agent stops the
    // container (a killed agent would leave it running).
    ok(&net.with(&["rent", "end", &id]));
    let stopped = eventually(Duration::from_secs(60), || {
        std::fs::read_to_string(&agent_log)
            .is_ok_and(|log| log.contains(&format!("rental {id} ended")))
    });
    assert!(
        stopped,
        "{}",
        std::fs::read_to_string(&agent_log).unwrap_or_default()
    );
}
