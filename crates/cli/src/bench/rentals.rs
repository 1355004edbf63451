//! `gpunet bench rentals`: what a renter feels, through a Docker devnet's
//! provider peer reached directly and through a relay, against the Docker
//! engine on the provider's own host in the same run (no network, no
//! gpunet in the way):
//! - a shell's round trip: one byte echoed by `cat` in the rental, through
//!   a `rent exec` session, against `docker exec -i` on the host;
//! - `rent cp` of a file into the rental's workspace (hashing on both sides
//!   included), against `docker cp` on the host.
//!
//! A renter's own tools are the other baseline: OpenSSH's `ssh` and `scp`
//! over loopback to an sshd in a container of gpunet/ssh on this host.

use super::quantile;
use crate::output::Output;
use anyhow::Context;
use gpunet_client::jobfile::JobFile;
use gpunet_client::jobs::{submit_rental, wait_for_order};
use gpunet_client::rental_session::RentalLink;
use gpunet_devnet::{Devnet, DevnetConfig};
use gpunet_p2p::access::{AccessRequest, FromRental, ToRental};
use gpunet_p2p::Reach;
use gpunet_p2p::Relay;
use gpunet_primitives::{OrderId, TxBody};
use gpunet_provider::data_plane::DataPlaneConfig;
use gpunet_provider::executor::ExecutorKind;
use gpunet_types::OrderStatus;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Round trips of one way, in microseconds.
#[derive(serde::Serialize)]
struct RoundTrips {
    p50_us: u64,
    p99_us: u64,
}

/// One way of reaching the rental, measured.
#[derive(serde::Serialize)]
struct Way {
    /// "docker (host)", "ssh (loopback)", "direct" or "relayed".
    way: &'static str,
    shell: RoundTrips,
    /// The file copied into the workspace, verified.
    copy_ms: u64,
    copy_mib_per_s: String,
}

#[derive(serde::Serialize)]
struct RentalsBench {
    mib: u64,
    samples: usize,
    ways: Vec<Way>,
    /// The shell's p50 through gpunet directly over the host's.
    shell_ratio: String,
    /// `rent cp` directly over `docker cp`.
    copy_ratio: String,
    /// The shell's p50 through gpunet directly over `ssh`'s on loopback.
    shell_vs_ssh: String,
    /// `rent cp` directly over `scp` on loopback.
    copy_vs_scp: String,
    /// `rent cp` through a relay over `scp` on loopback.
    relayed_copy_vs_scp: String,
}

pub(super) async fn run(mib: u64, samples: usize, output: Output) -> anyhow::Result<()> {
    anyhow::ensure!(
        samples > 0 && mib > 0,
        "--samples and --mib must be positive"
    );
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("payload.bin");
    write_payload(&file, mib)?;
    let openssh = through_openssh(dir.path(), &file, samples, mib).await?;
    let relay = Relay::start("127.0.0.1:0".parse()?).await?;
    let mut ways = Vec::new();
    let direct = Reach::Direct {
        bind: "127.0.0.1:0".parse()?,
        relay: None,
    };
    let relayed = Reach::RelayOnly { relay: relay.url() };
    for (way, reach) in [("direct", direct), ("relayed", relayed)] {
        let measured = measure(way, reach, &dir.path().join(way), &file, samples, mib).await?;
        ways.extend(measured);
    }
    relay.shutdown().await;
    ways.insert(1, openssh);
    let way = |name: &str| {
        ways.iter()
            .find(|w| w.way == name)
            .context(name.to_string())
    };
    let (host, ssh, direct, relayed) = (
        way("docker (host)")?,
        way("ssh (loopback)")?,
        way("direct")?,
        way("relayed")?,
    );
    let ratio = |a: u64, b: u64| format!("{:.3}", a as f64 / b.max(1) as f64);
    let result = RentalsBench {
        mib,
        samples,
        shell_ratio: ratio(direct.shell.p50_us, host.shell.p50_us),
        copy_ratio: ratio(direct.copy_ms, host.copy_ms),
        shell_vs_ssh: ratio(direct.shell.p50_us, ssh.shell.p50_us),
        copy_vs_scp: ratio(direct.copy_ms, ssh.copy_ms),
        relayed_copy_vs_scp: ratio(relayed.copy_ms, ssh.copy_ms),
        ways,
    };
    output.print(&result, || {
        let mut text = format!("a rental's shell ({samples} round trips) and a {mib} MiB copy:\n");
        for way in &result.ways {
            text += &format!(
                "  {:<15} shell p50 {:>6} us, p99 {:>6} us; copy {:>6} ms ({} MiB/s)\n",
                way.way, way.shell.p50_us, way.shell.p99_us, way.copy_ms, way.copy_mib_per_s
            );
        }
        text += &format!(
            "  direct/host: shell {}, copy {}; direct/ssh: shell {}, copy {}; relayed/scp: copy {}",
            result.shell_ratio,
            result.copy_ratio,
            result.shell_vs_ssh,
            result.copy_vs_scp,
            result.relayed_copy_vs_scp
        );
        text
    });
    Ok(())
}

/// `mib` MiB that do not compress (as model weights do not).
pub(super) fn write_payload(path: &Path, mib: u64) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for chunk in block.chunks_mut(8) {
            // xorshift: cheap bytes no compressor shrinks.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        file.write_all(&block)?;
    }
    file.flush()?;
    Ok(())
}

/// A devnet whose provider's peer is reached as `reach`, a rental on it,
/// and the measurements through it; the first way also measures the host's
/// engine (the baseline).
async fn measure(
    way: &'static str,
    reach: Reach,
    dir: &Path,
    file: &Path,
    samples: usize,
    mib: u64,
) -> anyhow::Result<Vec<Way>> {
    let mut config = DevnetConfig::new(dir.join("devnet"));
    config.providers = 1;
    config.executor = ExecutorKind::Docker;
    config.provider_peer = Some(DataPlaneConfig::new(reach));
    let devnet = Devnet::start(config).await?;
    let wallet = devnet.client_wallet();
    let spec = dir.join("rental.toml");
    std::fs::write(
        &spec,
        format!(
            "name = \"bench\"\nimage = \"gpunet/busybox\"\n\
             command = [\"sh\", \"-c\", \"exec sleep 2147483647\"]\ntimeout_secs = 3600\n\
             [resources]\ndisk_mb = {}\nmemory_mb = 256\n[price]\nmax_per_hour = \"50\"\n",
            3 * mib + 64
        ),
    )?;
    let id = submit_rental(&wallet, &JobFile::load(&spec)?).await?;
    let running = |o: &gpunet_types::OrderView| o.status != OrderStatus::Pending;
    let order =
        wait_for_order(wallet.node(), id, Duration::from_secs(120), running, |_| {}).await?;
    anyhow::ensure!(
        order.status == OrderStatus::Running,
        "the rental did not start: {order:?}"
    );
    let container = devnet
        .provider(0)
        .context("the devnet's provider")?
        .run_name(id);

    let link = RentalLink::connect(&wallet, id).await?;
    let shell = through_gpunet(&link, id, samples).await?;
    let started = Instant::now();
    crate::copy::upload(&link, file, "/workspace/copied.bin").await?;
    let copy_ms = started.elapsed().as_millis() as u64;
    link.close().await;
    let mut measured = Vec::new();
    if way == "direct" {
        let shell = through_docker_exec(&container, samples).await?;
        let started = Instant::now();
        output_of(
            "docker",
            &[
                "cp",
                &file.display().to_string(),
                &format!("{container}:/workspace/docker.bin"),
            ],
        )
        .await?;
        measured.push(way_of("docker (host)", shell, started.elapsed(), mib));
    }
    measured.push(way_of(way, shell, Duration::from_millis(copy_ms), mib));
    wallet
        .send(TxBody::EndRental {
            order: id,
            save: false,
        })
        .await?;
    devnet.shutdown().await;
    Ok(measured)
}

fn way_of(way: &'static str, shell: RoundTrips, copy: Duration, mib: u64) -> Way {
    let copy_ms = copy.as_millis() as u64;
    Way {
        way,
        shell,
        copy_ms,
        copy_mib_per_s: format!("{:.1}", mib as f64 / copy.as_secs_f64().max(1e-9)),
    }
}

/// One byte echoed by `cat` in rental `order`, `samples` times, through a
/// `rent exec` session.
async fn through_gpunet(
    link: &RentalLink,
    order: OrderId,
    samples: usize,
) -> anyhow::Result<RoundTrips> {
    let request = AccessRequest::Exec {
        order,
        command: vec!["cat".into()],
        terminal: None,
    };
    let (mut sender, mut receiver) = link.open(&request).await?.split();
    let mut trips = Vec::with_capacity(samples);
    // The first trip starts the command: not counted.
    for sample in 0..=samples {
        let sent = Instant::now();
        sender.send(&ToRental::Stdin(vec![b'x'])).await?;
        loop {
            match receiver.recv().await? {
                Some(FromRental::Stdout(bytes)) if bytes == b"x" => break,
                Some(FromRental::Stdout(_) | FromRental::Stderr(_)) => {}
                other => anyhow::bail!("the echo ended: {other:?}"),
            }
        }
        if sample > 0 {
            trips.push(sent.elapsed().as_secs_f64() * 1e6);
        }
    }
    sender.send(&ToRental::StdinClosed).await?;
    Ok(round_trips(&mut trips))
}

/// The same through `docker exec -i` on the provider's host.
async fn through_docker_exec(container: &str, samples: usize) -> anyhow::Result<RoundTrips> {
    let mut cat = tokio::process::Command::new("docker");
    cat.args(["exec", "-i", container, "cat"]);
    through_process(cat, samples).await
}

/// One byte echoed by `command` (a `cat` somewhere), `samples` times after
/// one warm-up.
async fn through_process(
    mut command: tokio::process::Command,
    samples: usize,
) -> anyhow::Result<RoundTrips> {
    let program = command
        .as_std()
        .get_program()
        .to_string_lossy()
        .into_owned();
    let mut cat = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("running {program}"))?;
    let (mut input, mut echoed) = (
        cat.stdin.take().context("the echo's input")?,
        cat.stdout.take().context("the echo's output")?,
    );
    let mut trips = Vec::with_capacity(samples);
    let mut byte = [0u8; 1];
    for sample in 0..=samples {
        let sent = Instant::now();
        input.write_all(b"x").await?;
        input.flush().await?;
        echoed
            .read_exact(&mut byte)
            .await
            .with_context(|| format!("{program}'s echo ended"))?;
        if sample > 0 {
            trips.push(sent.elapsed().as_secs_f64() * 1e6);
        }
    }
    drop(input);
    cat.wait().await?;
    Ok(round_trips(&mut trips))
}

/// OpenSSH over loopback, as a renter uses it on a machine they reach
/// directly: an sshd in a container of gpunet/ssh on this host (its port
/// published on 127.0.0.1), a byte echoed by `ssh -T ... cat` and the file
/// sent by `scp` (which, unlike `rent cp`, verifies nothing end to end).
async fn through_openssh(dir: &Path, file: &Path, samples: usize, mib: u64) -> anyhow::Result<Way> {
    let key = dir.join("ssh_key");
    output_of(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-f",
            &key.display().to_string(),
        ],
    )
    .await
    .context("the ssh baseline needs OpenSSH's client (ssh, scp, ssh-keygen)")?;
    let public = std::fs::read_to_string(key.with_extension("pub"))?;
    output_of("docker", &["image", "inspect", SSH_IMAGE])
        .await
        .with_context(|| {
            format!("the ssh baseline runs {SSH_IMAGE}: build it with scripts/images/ssh.sh")
        })?;
    let sshd = Sshd(
        output_of(
            "docker",
            &[
                "run",
                "-d",
                "--rm",
                "-p",
                "127.0.0.1::22",
                "-e",
                &format!("GPUNET_SSH_KEYS={}", public.trim()),
                SSH_IMAGE,
                "sh",
                "-c",
                "mkdir -p /root/.ssh /run/sshd \
                 && printf '%s\\n' \"$GPUNET_SSH_KEYS\" > /root/.ssh/authorized_keys \
                 && chmod 700 /root/.ssh && chmod 600 /root/.ssh/authorized_keys \
                 && ssh-keygen -A && exec /usr/sbin/sshd -D -e -o UsePAM=no",
            ],
        )
        .await?
        .trim()
        .to_string(),
    );
    let published = output_of("docker", &["port", &sshd.0, "22/tcp"]).await?;
    let port = published
        .lines()
        .next()
        .and_then(|line| line.rsplit(':').next())
        .context("the sshd's published port")?
        .to_string();
    let openssh = |program: &str, port_flag: &str| {
        let mut command = tokio::process::Command::new(program);
        command.args([port_flag, &port, "-i", &key.display().to_string()]);
        for option in [
            "StrictHostKeyChecking=no",
            "UserKnownHostsFile=/dev/null",
            "BatchMode=yes",
            "LogLevel=ERROR",
        ] {
            command.args(["-o", option]);
        }
        command
    };
    let started = Instant::now();
    loop {
        let mut probe = openssh("ssh", "-p");
        let up = probe
            .args(["root@127.0.0.1", "true"])
            .stderr(std::process::Stdio::null())
            .status()
            .await?;
        if up.success() {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "the sshd in {SSH_IMAGE} did not let the bench in within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut cat = openssh("ssh", "-p");
    cat.args(["-T", "root@127.0.0.1", "cat"]);
    let shell = through_process(cat, samples).await?;
    let started = Instant::now();
    let mut scp = openssh("scp", "-P");
    let copied = scp
        .args([&file.display().to_string(), "root@127.0.0.1:/root/scp.bin"])
        .status()
        .await
        .context("running scp")?;
    anyhow::ensure!(copied.success(), "scp failed: {copied}");
    let copy = started.elapsed();
    Ok(way_of("ssh (loopback)", shell, copy, mib))
}

/// The image of the ssh rental template (scripts/images/ssh.sh).
const SSH_IMAGE: &str = "gpunet/ssh";

/// A container of the ssh baseline, removed when dropped.
struct Sshd(String);

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rm", "-f", &self.0])
            .output();
    }
}

/// What `program args` printed, or why it failed.
async fn output_of(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .with_context(|| format!("running {program}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{program} {} failed: {}",
        args.first().unwrap_or(&""),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn round_trips(trips: &mut [f64]) -> RoundTrips {
    RoundTrips {
        p50_us: quantile(trips, 0.5) as u64,
        p99_us: quantile(trips, 0.99) as u64,
    }
}
