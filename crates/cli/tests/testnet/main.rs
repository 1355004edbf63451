//! The Docker testnet of scripts/testnet.sh: four BFT validators and two
//! provider agents, each in its own container on a private network, with
//! real faults: one at a time, each checked as it happens (`faults`), a
//! validator stopped for 10,000 blocks (`long_stop`), and a seeded schedule
//! of them under load (`chaos`). One testnet at a time: they share the
//! network's addresses.

mod chaos;
mod faults;
mod long_stop;

use gpunet_client::jobfile::JobFile;
use gpunet_client::jobs::submit_job;
use gpunet_client::logs::current_logs;
use gpunet_client::{Keystore, NodeClient, Wallet};
use gpunet_primitives::Address;
use gpunet_types::NodeAddress;
use gpunet_types::OrderStatus;
use std::process::Command;
use std::time::Duration;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

struct Testnet {
    project: String,
    dir: tempfile::TempDir,
    ports: Vec<u16>,
    /// Settings of scripts/testnet.sh beyond the ports (`DATA_n`, `CLOCK_OFFSET_n`).
    env: Vec<(String, String)>,
    /// Held while it is up: the tests' testnets share one subnet.
    _alone: std::sync::MutexGuard<'static, ()>,
}

/// Taken by each test's testnet while it is up.
static ONE_TESTNET: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("runs docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

impl Testnet {
    /// Runs `scripts/testnet.sh ARGS DIR` with this testnet's settings.
    fn script(&self, args: &[&str]) -> std::process::Output {
        self.script_command(args)
            .output()
            .expect("runs scripts/testnet.sh")
    }

    fn script_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg(format!("{ROOT}/scripts/testnet.sh"))
            .args(args)
            .arg(self.dir.path())
            .env("GPUNET_BIN", env!("CARGO_BIN_EXE_gpunet"))
            .env("GPUNET_IMAGE", format!("gpunet/node:{}", self.project))
            .env("GPUNET_PROJECT", &self.project)
            // Snapshots often enough for a node to join from one during the test.
            .env("SNAPSHOT_EVERY", "20");
        for (i, port) in self.ports.iter().enumerate() {
            cmd.env(format!("API_PORT_{}", i + 1), port.to_string());
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    fn up() -> Testnet {
        Testnet::up_with(&[])
    }

    /// Brings a testnet up with scripts/testnet.sh's settings `env` (once
    /// no other test's is up).
    fn up_with(env: &[(String, String)]) -> Testnet {
        // A test that failed with its testnet up poisoned nothing: Drop took it down.
        let alone = ONE_TESTNET.lock().unwrap_or_else(|e| e.into_inner());
        let net = Testnet {
            project: format!("gpunet-test-{}", std::process::id()),
            dir: tempfile::tempdir().unwrap(),
            ports: (0..4).map(|_| free_port()).collect(),
            env: env.to_vec(),
            _alone: alone,
        };
        let out = net.script(&["up"]);
        assert!(
            out.status.success(),
            "testnet up: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        net
    }

    /// Writes every container's whole log to `dir/SERVICE.log`.
    fn save_logs(&self, dir: &std::path::Path) {
        std::fs::create_dir_all(dir).unwrap();
        for service in [
            "validator1",
            "validator2",
            "validator3",
            "validator4",
            "provider1",
            "provider2",
        ] {
            let out = Command::new("docker")
                .args(["logs", &self.container(service)])
                .output()
                .unwrap();
            let mut log = out.stdout;
            log.extend(out.stderr);
            std::fs::write(dir.join(format!("{service}.log")), log).unwrap();
        }
    }

    /// Recreates `service` with the setting `key=value` (its volume kept),
    /// as `testnet.sh apply` does.
    fn apply(&self, service: &str, key: &str, value: &str) {
        let mut cmd = self.script_command(&["apply", service]);
        let out = cmd
            .env(key, value)
            .output()
            .expect("runs scripts/testnet.sh");
        assert!(
            out.status.success(),
            "testnet.sh apply {service}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops and removes its containers, network and volumes.
    fn down(&self) {
        let out = self.script(&["down"]);
        assert!(
            out.status.success(),
            "testnet down: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The key validator `validator`'s API certificate carries (made by scripts/testnet.sh).
    fn api_key(&self, validator: usize) -> Address {
        let keystore = self
            .dir
            .path()
            .join(format!("validator{}-api.key", validator + 1));
        Keystore::load(&keystore).unwrap().address()
    }

    /// Validator `validator`'s API address, through its published port.
    fn address(&self, validator: usize) -> NodeAddress {
        NodeAddress::new(
            &format!("https://127.0.0.1:{}", self.ports[validator]),
            self.api_key(validator),
        )
    }

    fn client(&self, validator: usize) -> NodeClient {
        NodeClient::new(&self.address(validator).to_string()).unwrap()
    }

    fn container(&self, service: &str) -> String {
        docker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
        ])
    }

    fn network(&self) -> String {
        format!("{}_testnet", self.project)
    }

    /// Runs one more node container at `ip` on the testnet's network, with
    /// the key in `keystore` (under the testnet directory) and `extra`
    /// arguments, validators 1 and 2 its peers; returns its container id.
    fn start_node(&self, ip: &str, keystore: &str, extra: &[&str]) -> String {
        let keystore = format!("--validator-keystore=/testnet/{keystore}");
        let volume = format!("{}:/testnet:ro", self.dir.path().display());
        let image = format!("gpunet/node:{}", self.project);
        let args = [
            "-v",
            &volume,
            &image,
            "node",
            "--bft",
            "--genesis=/testnet/genesis.json",
            "--data-dir=/data",
            "--listen=0.0.0.0:8645",
            &keystore,
            "--peer=/ip4/172.29.0.11/tcp/26656",
            "--peer=/ip4/172.29.0.12/tcp/26656",
            "--gossip-peer=/ip4/172.29.0.11/tcp/26657",
        ];
        self.docker_run(ip, &[&args[..], extra].concat())
    }

    /// `docker run -d` on the testnet's network at `ip`, with `args` (image
    /// and command among them), labelled as the testnet's so that it goes
    /// with it; returns the container's id.
    fn docker_run(&self, ip: &str, args: &[&str]) -> String {
        let network = self.network();
        let label = format!("com.docker.compose.project={}", self.project);
        let run = [
            "run",
            "-d",
            "--network",
            &network,
            "--ip",
            ip,
            "--label",
            &label,
        ];
        docker(&[&run[..], args].concat())
    }

    /// Runs stopped `container`'s command once more, with `extra` arguments,
    /// in a new container with its volumes (stores and keys) at its address
    /// `ip`: an operator starting a node once with a flag. Returns its id.
    fn run_once_as(&self, container: &str, ip: &str, extra: &[&str]) -> String {
        let image = docker(&["inspect", "--format", "{{.Config.Image}}", container]);
        let command: Vec<String> = serde_json::from_str(&docker(&[
            "inspect",
            "--format",
            "{{json .Config.Cmd}}",
            container,
        ]))
        .unwrap();
        let mut args = vec!["--volumes-from", container, &image];
        args.extend(command.iter().map(String::as_str));
        args.extend(extra);
        self.docker_run(ip, &args)
    }

    /// `validator`'s committed height, or why it did not answer.
    async fn answer(&self, validator: usize) -> Result<u64, String> {
        self.client(validator)
            .status()
            .await
            .map(|s| s.height)
            .map_err(|e| e.to_string())
    }

    async fn height(&self, validator: usize) -> Option<u64> {
        self.answer(validator).await.ok()
    }

    /// The height `validator`'s node reports, asked from inside its container
    /// `container` (whose published port goes with its network).
    fn height_inside(&self, container: &str, validator: usize) -> u64 {
        let status = docker(&[
            "exec",
            container,
            "gpunet",
            "--node",
            &format!("https://127.0.0.1:8645#{}", self.api_key(validator)),
            "--output",
            "json",
            "status",
        ]);
        serde_json::from_str::<serde_json::Value>(&status).unwrap()["height"]
            .as_u64()
            .unwrap()
    }

    /// Waits until `validator` has committed `height`.
    async fn wait_height(&self, validator: usize, height: u64) {
        self.wait_height_within(validator, height, Duration::from_secs(120))
            .await;
    }

    /// As [`Testnet::wait_height`], waiting up to `limit`.
    async fn wait_height_within(&self, validator: usize, height: u64, limit: Duration) {
        let mut last = Err("not asked yet".to_string());
        let reached = tokio::time::timeout(limit, async {
            loop {
                last = self.answer(validator).await;
                if last.as_ref().is_ok_and(|h| *h >= height) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
        .await;
        assert!(
            reached.is_ok(),
            "validator {} did not reach height {height} in {limit:?}; it last answered {last:?}",
            validator + 1
        );
    }

    /// Every validator in `which` holds the same block at `height`.
    async fn assert_same_block(&self, which: &[usize], height: u64) {
        let mut hashes = Vec::new();
        for &v in which {
            self.wait_height(v, height).await;
            hashes.push(self.client(v).block(height).await.unwrap().hash);
        }
        assert!(
            hashes.windows(2).all(|w| w[0] == w[1]),
            "blocks at {height} differ: {hashes:?}"
        );
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(dir) = std::env::var("GPUNET_TESTNET_LOGS") {
                self.save_logs(std::path::Path::new(&dir));
            }
            for service in ["validator1", "validator2", "validator3", "validator4"] {
                let logs = Command::new("docker")
                    .args(["logs", "--tail", "60", &self.container(service)])
                    .output();
                if let Ok(logs) = logs {
                    eprintln!(
                        "---- {service}'s last log lines\n{}{}",
                        String::from_utf8_lossy(&logs.stdout),
                        String::from_utf8_lossy(&logs.stderr)
                    );
                }
            }
        }
        let _ = self.script(&["down"]);
        let _ = Command::new("docker")
            .args([
                "image",
                "rm",
                "-f",
                &format!("gpunet/node:{}", self.project),
            ])
            .output();
    }
}

/// What the node in `container` logged (to stderr).
fn node_log(container: &str) -> String {
    let logs = Command::new("docker")
        .args(["logs", container])
        .output()
        .unwrap();
    String::from_utf8_lossy(&logs.stderr).into_owned()
}

/// Waits until the node in `container` has committed `height` (asked from
/// inside it) and returns how long that took; fails, with its log, after
/// `limit`.
async fn reach_height(container: &str, height: u64, limit: Duration) -> Duration {
    let start = std::time::Instant::now();
    let mut last = None;
    while last.is_none_or(|h| h < height) {
        assert!(
            start.elapsed() < limit,
            "{container} did not reach height {height} in {limit:?}; it was at {last:?}:\n{}",
            node_log(container)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        last = exec_height(container);
    }
    start.elapsed()
}

/// The height the node in `container` has committed, asked from inside it
/// (its API is not published on the host); `None` while it does not answer.
fn exec_height(container: &str) -> Option<u64> {
    let status = Command::new("docker")
        .args(["exec", container, "sh", "-c"])
        .arg("gpunet --node \"$(cat /data/api-url)\" --output json status")
        .output()
        .unwrap();
    serde_json::from_slice::<serde_json::Value>(&status.stdout)
        .ok()
        .and_then(|s| s["height"].as_u64())
}
