//! The `gpunet` binary as users run it: keystores, a genesis file, a node
//! process, wallet and job commands over HTTP, and clear errors.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::Duration;

use gpunet_primitives::json::parse_rfc3339;
use gpunet_primitives::parse_amount;

mod behind_firewall;
mod rentals;
mod secrets;
mod sim;
mod workloads;

/// The passphrase the tests' keystores are sealed with.
const PASSPHRASE: &str = "test passphrase, not a secret";

/// The `gpunet` binary, with the tests' passphrase in its environment and
/// the configuration file of the test calling it.
fn gpunet_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gpunet"));
    command
        .env("GPUNET_PASSPHRASE", PASSPHRASE)
        .env("GPUNET_CONFIG", test_config())
        .env("GPUNET_IMAGES", test_config().with_file_name("images"))
        .env("GPUNET_SERVED", test_config().with_file_name("served"));
    command
}

/// A configuration file (profiles) for each test, named after its thread, so
/// that the devnets tests start register themselves only where that test
/// looks, never in the user's own configuration; its pushed images
/// (`gpunet image push`) and served inputs (`gpunet serve`) beside it.
fn test_config() -> std::path::PathBuf {
    let test = std::thread::current()
        .name()
        .unwrap_or("main")
        .replace("::", "-");
    std::env::temp_dir()
        .join(format!("gpunet-cli-tests-{}", std::process::id()))
        .join(test)
        .join("config.toml")
}

/// Starts `command` and returns it with the first line it printed on
/// stdout (a long-running command saying where it serves).
fn spawn_first_line(mut command: Command) -> (Child, String) {
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    (child, line)
}

fn gpunet<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    gpunet_command().args(args).output().expect("gpunet runs")
}

fn ok<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> String {
    let out = gpunet(args);
    assert!(
        out.status.success(),
        "gpunet {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// An amount in JSON (an exact decimal GPN string) in base units.
fn gpn(amount: &serde_json::Value) -> u128 {
    let text = amount
        .as_str()
        .unwrap_or_else(|| panic!("{amount} is no GPN string"));
    parse_amount(text).unwrap()
}

/// A command's JSON output, checked against the one schema every command
/// follows (README, "JSON").
fn json<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> serde_json::Value {
    let value = serde_json::from_str(&ok(args)).unwrap();
    assert_one_schema(&value, &format!("gpunet {args:?}"));
    value
}

/// The JSON error (`{"code", "message"}` on stderr) of a command run with
/// `--output json` that must fail.
fn json_error<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> serde_json::Value {
    let out = gpunet(args);
    assert!(!out.status.success(), "gpunet {args:?} succeeded");
    serde_json::from_slice(&out.stderr)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// Keys that hold an amount wherever they appear.
const AMOUNT_KEYS: &[&str] = &[
    "amount",
    "balance",
    "bonded",
    "burned",
    "deposit",
    "escrow",
    "fee",
    "fees_paid",
    "genesis",
    "max_cost",
    "max_price_per_hour",
    "minted",
    "padded",
    "paid",
    "paid_to_provider",
    "per_cpu_hour",
    "per_gb_ram_hour",
    "per_gpu_hour",
    "price_per_hour",
    "refunded",
    "slashed",
    "validator_bonded",
];

/// Keys that hold an instant, besides those ending in `_at`.
const INSTANT_KEYS: &[&str] = &[
    "commit_deadline",
    "deadline",
    "down_since",
    "paid_until",
    "time",
];

/// Amounts are exact decimal GPN strings, instants RFC 3339, durations
/// integers under `_ms` keys, ids named after what they name, and no number is
/// too large for a reader that parses numbers as doubles.
fn assert_one_schema(value: &serde_json::Value, what: &str) {
    use serde_json::Value;
    match value {
        Value::Number(n) => assert!(
            n.as_u64().is_some_and(|n| n < 1 << 53)
                || n.as_i64().is_some_and(|n| n.unsigned_abs() < 1 << 53)
                || n.is_f64(),
            "{what}: {n} is no number a double holds exactly"
        ),
        Value::Array(items) => items.iter().for_each(|item| assert_one_schema(item, what)),
        Value::Object(fields) => {
            assert!(
                !fields.contains_key("id"),
                "{what}: an id is named after what it names (`order`, `machine`): {value}"
            );
            for (key, field) in fields {
                let what = format!("{what}.{key}");
                if field.is_null() {
                    continue;
                }
                if AMOUNT_KEYS.contains(&key.as_str()) {
                    let text = field.as_str().unwrap_or_default();
                    let decimals = text.split_once('.').map_or(0, |(_, d)| d.len());
                    assert!(
                        decimals == 6 && parse_amount(text).is_ok(),
                        "{what}: {field} is no exact GPN amount (\"12.500000\")"
                    );
                } else if key.ends_with("_at") || INSTANT_KEYS.contains(&key.as_str()) {
                    let text = field.as_str().unwrap_or_default();
                    assert!(
                        text.ends_with('Z') && parse_rfc3339(text).is_ok(),
                        "{what}: {field} is no RFC 3339 time"
                    );
                } else if key.ends_with("_ms") {
                    assert!(field.is_u64(), "{what}: {field} is no duration in ms");
                } else {
                    assert_one_schema(field, &what);
                }
            }
        }
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
}

struct Node(Child);

impl Node {
    /// Ctrl-C, as its operator would press it.
    fn interrupt(&self) {
        // SAFETY: kill(2) with a child's pid and a signal number reads no memory.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
    }

    /// Its exit status, if it exits within `limit`.
    fn exit_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        poll(limit, || self.0.try_wait().unwrap())
    }
}

/// What `probe` finds, asked every 100 ms until it finds something or `limit` passes.
fn poll<T>(limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let start = std::time::Instant::now();
    loop {
        if let Some(found) = probe() {
            return Some(found);
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether `condition` comes to hold within `limit` (asked every 100 ms).
fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    poll(limit, || condition().then_some(())).is_some()
}

impl Drop for Node {
    /// Ctrl-C first, as a person stops it, so that a devnet removes the
    /// containers its providers run; killed if it has not stopped soon after
    /// (an agent that drains waits for its jobs).
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            self.interrupt();
            if self.exit_within(Duration::from_secs(5)).is_some() {
                return;
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Makes a wallet at `keystore` with `gpunet wallet new`; returns its address.
fn new_wallet(keystore: &Path) -> String {
    json(&["wallet", "new", "--keystore", path(keystore), "-o", "json"])["address"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A `gpunet node` process on a fresh genesis that funds a client with 100
/// and a provider with 1000.
struct SoloNode {
    node: Node,
    /// The `gpunet` arguments that start the node.
    node_command: Vec<String>,
    validator: String,
    validator_keystore: std::path::PathBuf,
    provider_keystore: std::path::PathBuf,
    /// The node's API address, with its key.
    address: String,
    /// The global options (node, client keystore, JSON output) of client commands.
    global: Vec<String>,
}

fn spawn_node(args: &[String]) -> Node {
    Node(gpunet_command().args(args).spawn().unwrap())
}

impl SoloNode {
    /// Stops the node as `docker stop` and systemd do, with SIGTERM, which
    /// it obeys at once (its data stays); `restart_node` starts it again.
    fn stop_node(&mut self) {
        // SAFETY: kill(2) with a child's pid and a signal number reads no memory.
        unsafe { libc::kill(self.node.0.id() as i32, libc::SIGTERM) };
        let stopped = self.node.exit_within(Duration::from_secs(10));
        assert!(
            stopped.is_some_and(|s| s.success()),
            "the node stops on SIGTERM: {stopped:?}"
        );
    }

    fn restart_node(&mut self) {
        self.node = spawn_node(&self.node_command);
    }

    /// How many verified machines are online (offered work).
    fn online_machines(&self) -> usize {
        json(&self.with(&["machines", "list", "verified=true", "online=true"]))
            .as_array()
            .unwrap()
            .len()
    }

    fn start(dir: &Path, node_args: &[&str]) -> SoloNode {
        Self::start_on(dir, "127.0.0.1", node_args)
    }

    /// [`Self::start`] with the node's API listening on `host`.
    fn start_on(dir: &Path, host: &str, node_args: &[&str]) -> SoloNode {
        let (v, c, p) = (
            dir.join("validator.json"),
            dir.join("client.json"),
            dir.join("provider.json"),
        );
        let (validator, client, provider) = (new_wallet(&v), new_wallet(&c), new_wallet(&p));
        let genesis = dir.join("genesis.json");
        ok(&[
            "genesis",
            "--chain-id",
            "cli-test",
            "--validator",
            &validator,
            "--fund",
            &format!("{client}=100"),
            "--fund",
            &format!("{provider}=1000"),
            // Short proofs of compute: ten tests share two cores here.
            "--challenge-work-ms",
            "1000",
            "--out",
            path(&genesis),
        ]);
        let listen = format!("{host}:{}", free_port());
        let node_command: Vec<String> = [
            "node",
            "--genesis",
            path(&genesis),
            "--validator-keystore",
            path(&v),
            "--listen",
            &listen,
            "--block-ms",
            "50",
            "--data-dir",
            path(&dir.join("node")),
        ]
        .iter()
        .chain(node_args)
        .map(|a| a.to_string())
        .collect();
        let node = spawn_node(&node_command);
        let address = api_address(&dir.join("node"));
        let global = [
            "--node",
            &address,
            "--keystore",
            path(&c),
            "--output",
            "json",
        ]
        .map(String::from)
        .to_vec();
        let net = SoloNode {
            node,
            node_command,
            validator,
            validator_keystore: v,
            provider_keystore: p,
            address,
            global,
        };
        let up = eventually(Duration::from_secs(20), || {
            gpunet(&net.with(&["wallet", "balance"])).status.success()
        });
        assert!(up, "the node came up");
        net
    }

    /// `args` followed by the client's global options.
    fn with(&self, args: &[&str]) -> Vec<String> {
        args.iter()
            .map(|s| s.to_string())
            .chain(self.global.iter().cloned())
            .collect()
    }

    /// A `gpunet provider` agent (process executor) of the funded provider,
    /// keeping its data in `data_dir` and its log in `data_dir`.log.
    fn start_agent(&self, data_dir: &Path) -> Node {
        self.start_agent_with(data_dir, &[])
    }

    /// [`Self::start_agent`] with `extra` arguments.
    fn start_agent_with(&self, data_dir: &Path, extra: &[&str]) -> Node {
        self.spawn_agent(gpunet_command(), "process", data_dir, extra)
    }

    /// `gpunet provider` of the funded provider as `gpunet` runs it (here, or
    /// in a network namespace), its jobs run by `executor`, with `extra`
    /// arguments, keeping its data in `data_dir` and its log in `data_dir`.log.
    fn spawn_agent(
        &self,
        mut gpunet: Command,
        executor: &str,
        data_dir: &Path,
        extra: &[&str],
    ) -> Node {
        let log = std::fs::File::create(data_dir.with_extension("log")).unwrap();
        Node(
            gpunet
                .args(["provider", "--executor", executor, "--price", "1"])
                .args(extra)
                .args(["--data-dir", path(data_dir)])
                .args(["--node", &self.address])
                .args(["--keystore", path(&self.provider_keystore)])
                .stdout(std::process::Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        )
    }

    /// Starts an agent (with `agent_args`) of the funded provider, waits
    /// for its machine to be proven, and runs job 0 there to its end:
    /// `sh -c script`. Returns the agent.
    fn run_one_job(&self, dir: &Path, agent_args: &[&str], script: &str) -> Node {
        let agent = self.start_agent_with(&dir.join("agent"), agent_args);
        assert!(
            eventually(Duration::from_secs(120), || self.online_machines() == 1),
            "the agent registers its machine and proves it"
        );
        self.run_job(script);
        agent
    }

    /// Runs the next job, `sh -c script` in gpunet/busybox, to its end.
    fn run_job(&self, script: &str) {
        // The command goes last, after the global options.
        let mut run = self.with(&[
            "job",
            "run",
            "--image",
            "gpunet/busybox",
            "--max-price",
            "50",
            "--wait",
        ]);
        run.extend(["--", "sh", "-c", script].map(String::from));
        ok(&run);
    }

    /// `args` followed by the global options, as the provider.
    fn as_provider(&self, args: &[&str]) -> Vec<String> {
        let mut args = self.with(args);
        let keystore = args.iter().position(|a| a == "--keystore").unwrap() + 1;
        args[keystore] = path(&self.provider_keystore).into();
        args
    }
}

#[test]
fn the_cli_talks_only_to_a_node_whose_key_it_pinned_and_says_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let net = SoloNode::start(dir.path(), &[]);
    let status = json(&net.with(&["status"]));
    assert_eq!(status["chain_id"], "cli-test");
    assert_eq!(status["validators"][0], net.validator.as_str());

    let (url, key) = net.address.split_once('#').unwrap();
    let refused = |node: &str| {
        let out = gpunet_command()
            .args(["--node", node, "status"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{node}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // Another key at the node's address: an impostor, as far as the client knows.
    let other = net.validator.as_str();
    assert_ne!(other, key);
    let err = refused(&format!("{url}#{other}"));
    assert!(
        err.contains(&format!("certificate key {key} is not the key pinned")),
        "{err}"
    );
    assert!(refused(url).contains("no key pinned"));
    assert!(refused(&format!("http://{}#{key}", &url["https://".len()..])).contains("https://"));
    // No --node, and no devnet in the working directory.
    let out = gpunet_command()
        .arg("status")
        .env_remove("GPUNET_NODE")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no --node given"), "{err}");
    // Where a devnet started by default would write its address, it is found.
    let devnet_dir = dir.path().join(".gpunet/devnet");
    std::fs::create_dir_all(&devnet_dir).unwrap();
    std::fs::write(devnet_dir.join("api-url"), format!("{}\n", net.address)).unwrap();
    let out = gpunet_command()
        .args(["--output", "json", "status"])
        .env_remove("GPUNET_NODE")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn wallet_genesis_node_and_jobs_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let net = SoloNode::start(dir.path(), &[]);
    let validator = net.validator.clone();
    let v = &net.validator_keystore;
    assert_eq!(
        std::fs::metadata(v).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = gpunet(&["wallet", "new", "--keystore", path(v)]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let with = |args: &[&str]| net.with(args);
    let balance = json(&with(&["wallet", "balance"]));
    assert_eq!(balance["account"]["balance"], "100.000000", "{balance}");

    ok(&with(&["wallet", "transfer", &validator, "1.5"]));
    let after = json(&with(&["wallet", "balance"]));
    let fee = 1_000; // Params::default().min_fee
    assert_eq!(
        gpn(&after["account"]["balance"]),
        100_000_000 - 1_500_000 - fee
    );

    // No provider is online: the job waits in the queue and can be cancelled.
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello.toml");
    let order = json(&with(&["job", "run", path(&examples)]))["order"]
        .as_u64()
        .unwrap();
    assert_eq!(
        json(&with(&["job", "describe", &order.to_string()]))["status"],
        "pending"
    );
    ok(&with(&["job", "cancel", &order.to_string()]));
    assert_eq!(
        json(&with(&["job", "describe", &order.to_string()]))["status"],
        "cancelled"
    );
    // Text spells a status as JSON does.
    let mut text = with(&["job", "describe", &order.to_string()]);
    text.truncate(text.len() - 2);
    assert!(ok(&text).contains("status    cancelled\n"));
    let second = json(&with(&["job", "run", path(&examples)]))["order"]
        .as_u64()
        .unwrap();
    let listed = |args: &[&str]| -> Vec<(u64, String)> {
        let orders = json(&with(&[&["job", "list"], args].concat()));
        orders
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o["order"].as_u64().unwrap(), o["status"].to_string()))
            .collect()
    };
    let (pending, cancelled) = ("\"pending\"".to_string(), "\"cancelled\"".to_string());
    assert_eq!(
        listed(&[]),
        [(second, pending.clone()), (order, cancelled.clone())],
        "newest first"
    );
    assert_eq!(listed(&["--limit", "1"]), [(second, pending)]);
    assert_eq!(
        listed(&["--before", &second.to_string()]),
        [(order, cancelled)]
    );
    ok(&with(&["job", "cancel", &second.to_string()]));
    assert_eq!(json(&with(&["machines", "list"])), serde_json::json!([]));
    assert_eq!(
        json(&with(&[
            "machines",
            "list",
            "gpu_model=H100",
            "vram>=80",
            "-s",
            "-gops"
        ])),
        serde_json::json!([])
    );
    let query = gpunet(&with(&["machines", "list", "colour=red"]));
    assert!(!query.status.success());
    // Under -o json the error is JSON, with the reason in its message.
    let error: serde_json::Value = serde_json::from_slice(&query.stderr).unwrap();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("unknown field \"colour\""),
        "{error}"
    );

    // Bad input gets a clear error.
    let bad = gpunet(&with(&["wallet", "transfer", "zz", "1"]));
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid recipient address"));
    let unknown = gpunet(&with(&["job", "describe", "999"]));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown order 999"));
    let poor = gpunet(&with(&["wallet", "transfer", &validator, "1000"]));
    assert!(String::from_utf8_lossy(&poor.stderr).contains("insufficient_funds"));
    let pending = order.to_string();
    let root = "0".repeat(64);
    let early = gpunet(&with(&[
        "job",
        "dispute",
        &pending,
        "--expected-root",
        &root,
    ]));
    assert!(
        String::from_utf8_lossy(&early.stderr).contains("only a reported"),
        "{early:?}"
    );
    let garbled = gpunet(&with(&[
        "job",
        "dispute",
        &pending,
        "--expected-root",
        "zz",
    ]));
    assert!(String::from_utf8_lossy(&garbled.stderr).contains("is not a hash"));
    let timeless = gpunet(&with(&["job", "dispute", &pending, "--duration"]));
    assert!(
        String::from_utf8_lossy(&timeless.stderr).contains("no completed result"),
        "{timeless:?}"
    );
    for args in [&["--duration", "--expected-root", &root][..], &[]] {
        let unclear = gpunet(&with(&[&["job", "dispute", &pending][..], args].concat()));
        assert!(!unclear.status.success());
        assert!(
            String::from_utf8_lossy(&unclear.stderr).contains("Usage"),
            "{unclear:?}"
        );
    }
}

#[test]
fn a_node_short_of_disk_refuses_uploads_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    // A reserve larger than any disk here: every upload would eat into it.
    let net = SoloNode::start(dir.path(), &["--min-free-disk-mb", "100000000"]);
    let hello = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello.toml");
    let out = gpunet(&net.with(&["job", "run", path(&hello)]));
    let refused = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(refused.contains("disk is full"), "{refused}");
    let balance = json(&net.with(&["wallet", "balance"]));
    assert_eq!(
        balance["account"]["balance"], "100.000000",
        "nothing was submitted"
    );
}

#[test]
fn job_root_prints_the_output_root_of_a_result_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = gpunet(&["job", "root", path(dir.path())]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read the result"));
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    std::fs::create_dir_all(dir.path().join("outputs/sub")).unwrap();
    std::fs::write(dir.path().join("logs/stdout.log"), "hi\n").unwrap();
    std::fs::write(dir.path().join("logs/stderr.log"), "").unwrap();
    std::fs::write(dir.path().join("outputs/sub/a.txt"), "a").unwrap();
    let root = json(&["--output", "json", "job", "root", path(dir.path())])["output_root"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(root.len(), 64);
    assert_eq!(ok(&["job", "root", path(dir.path())]).trim(), root);
    std::fs::write(dir.path().join("outputs/sub/a.txt"), "b").unwrap();
    assert_ne!(
        ok(&["job", "root", path(dir.path())]).trim(),
        root,
        "any byte changes it"
    );
}

#[test]
fn hardware_reports_this_machine_and_explains_a_missing_gpu() {
    let hw = json(&["--output", "json", "hardware", "--data-dir", "/"]);
    let cores = hw["hardware"]["cpu_cores"].as_u64().unwrap();
    assert!(cores >= 1);
    assert!(hw["hardware"]["memory_mb"].as_u64().unwrap() > 0);
    let gpus = hw["hardware"]["gpus"].as_array().unwrap();
    if gpus.is_empty() {
        assert!(hw["hardware"]["gpu_note"].as_str().unwrap().contains("GPU"));
        assert_eq!(hw["compute_class"], "CPU");
    } else {
        assert!(gpus[0]["uuid"].as_str().unwrap().starts_with("GPU-"));
    }
    let text = ok(&["hardware", "--data-dir", "/"]);
    assert!(text.contains("claims until proven"), "{text}");
}

/// The API address (with its key) a node or devnet started in `data_dir`
/// writes there, once it has.
fn api_address(data_dir: &Path) -> String {
    let file = data_dir.join(gpunet_types::NodeAddress::FILE);
    poll(Duration::from_secs(30), || {
        std::fs::read_to_string(&file)
            .ok()
            .filter(|address| address.ends_with('\n'))
    })
    .unwrap_or_else(|| panic!("{} never appeared", file.display()))
    .trim()
    .to_string()
}

/// A `gpunet devnet` process with one process-executor provider, and the
/// global options (JSON output) of its client wallet.
fn devnet_process(dir: &Path) -> (Node, Vec<String>) {
    devnet_with(dir, 1, "process")
}

/// A `gpunet devnet` process with `providers` providers running jobs with
/// `executor`, and the global options (JSON output) of its client wallet.
fn devnet_with(dir: &Path, providers: usize, executor: &str) -> (Node, Vec<String>) {
    devnet_with_args(dir, providers, executor, &[])
}

/// As [`devnet_with`], with more `gpunet devnet` options (`--serve-outputs`).
fn devnet_with_args(
    dir: &Path,
    providers: usize,
    executor: &str,
    more: &[&str],
) -> (Node, Vec<String>) {
    let data = dir.join("devnet");
    let listen = format!("127.0.0.1:{}", free_port());
    let devnet = Node(
        gpunet_command()
            .args(["devnet", "--data-dir", path(&data), "--listen", &listen])
            .args([
                "--providers",
                &providers.to_string(),
                "--executor",
                executor,
            ])
            .args(more)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("devnet.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let keystore = data.join("wallets/client.json");
    let global: Vec<String> = [
        "--node",
        &api_address(&data),
        "--keystore",
        path(&keystore),
        "--output",
        "json",
    ]
    .map(String::from)
    .to_vec();
    // Up: its client wallet is funded and its providers' machines verified
    // and online.
    let machines: Vec<String> = ["machines", "list", "verified=true online=true"]
        .map(String::from)
        .to_vec();
    let up = eventually(Duration::from_secs(90), || {
        keystore.exists()
            && gpunet(&[&global[..], &["wallet".into(), "balance".into()]].concat())
                .status
                .success()
            && serde_json::from_slice::<serde_json::Value>(
                &gpunet(&[&global[..], &machines[..]].concat()).stdout,
            )
            .is_ok_and(|m| m.as_array().is_some_and(|a| a.len() == providers))
    });
    assert!(
        up,
        "the devnet came up: {}",
        std::fs::read_to_string(dir.join("devnet.log")).unwrap_or_default()
    );
    (devnet, global)
}

#[test]
fn a_canary_on_the_devnet_knows_the_answer_and_finds_the_provider_honest() {
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, global) = devnet_process(dir.path());
    let global: Vec<&str> = global.iter().map(String::as_str).collect();
    let hello = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello.toml");
    let work = dir.path().join("canary");
    let canary = json(
        &[
            &global[..],
            &["canary", path(&hello), "--executor", "process"],
            &["--work-dir", path(&work), "--wait-secs", "120"],
        ]
        .concat(),
    );
    // The local rerun gave the root the honest agent reported: nothing disputed.
    assert_eq!(canary["verdict"], "honest", "{canary}");
    assert_eq!(canary["expected_root"].as_str().unwrap().len(), 64);
    assert!(canary["expected_duration_ms"].is_u64(), "{canary}");
    assert!(canary["audit_verdict"].is_null(), "{canary}");
}

#[test]
fn job_run_follow_streams_a_running_jobs_logs_and_job_logs_prints_them_after() {
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, global) = devnet_process(dir.path());
    let global: Vec<&str> = global.iter().map(String::as_str).collect();
    let spec = dir.path().join("count.toml");
    std::fs::write(
        &spec,
        "name = \"count\"\nimage = \"gpunet/busybox\"\ncommand = [\"sh\", \"-c\", \"for i in 1 2 3; do echo line $i; sleep 1; done; echo oops >&2; exit 3\"]\n\
         timeout_secs = 60\n[price]\nmax_per_hour = \"50\"\n",
    )
    .unwrap();
    let run = gpunet(&[&global[..], &["job", "run", path(&spec), "--follow"]].concat());
    assert!(run.status.success(), "{run:?}");
    assert_eq!(
        String::from_utf8_lossy(&run.stdout),
        "line 1\nline 2\nline 3\n"
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    let id = stderr
        .strip_prefix("[gpunet: submitted order ")
        .and_then(|rest| rest.split(']').next())
        .unwrap_or_else(|| panic!("{stderr}"))
        .to_string();
    assert!(stderr.contains("\noops\n"), "{stderr}");
    assert!(
        stderr.contains(&format!("[gpunet: order {id} is reported, exit code 3]")),
        "{stderr}"
    );
    // Followed after it reported, the job's logs come whole from its result.
    let follow = gpunet(&[&global[..], &["job", "logs", &id, "--follow"]].concat());
    assert!(follow.status.success(), "{follow:?}");
    assert_eq!(
        String::from_utf8_lossy(&follow.stdout),
        "line 1\nline 2\nline 3\n"
    );
    // Once reported, `job logs` prints the result's logs.
    let logs = json(&[&global[..], &["job", "logs", &id]].concat());
    assert_eq!(logs["live"], false);
    assert_eq!(logs["stdout"], "line 1\nline 2\nline 3\n");
}

#[test]
fn a_provider_pauses_and_removes_its_machine_and_gets_its_stake_back() {
    let dir = tempfile::tempdir().unwrap();
    let net = SoloNode::start(dir.path(), &[]);
    let mut agent = net.start_agent(&dir.path().join("agent"));
    let machines = |query: &[&str]| -> Vec<serde_json::Value> {
        let listed = json(&net.with(&[&["machines", "list"], query].concat()));
        listed.as_array().unwrap().clone()
    };
    let verified = poll(Duration::from_secs(120), || {
        machines(&["verified=true"]).pop()
    });
    let id = verified.expect("the agent registers its machine and proves it")["machine"]
        .as_u64()
        .unwrap()
        .to_string();
    let id = id.as_str();
    assert_eq!(
        json(&net.as_provider(&["machines", "list", "--mine"]))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        json(&net.with(&["machines", "list", "--mine"])),
        serde_json::json!([]),
        "the client owns none"
    );

    // Only its owner manages a machine.
    let foreign = gpunet(&net.with(&["machines", "pause", id]));
    assert!(
        String::from_utf8_lossy(&foreign.stderr).contains("not to this wallet"),
        "{foreign:?}"
    );
    ok(&net.as_provider(&["machines", "pause", id]));
    assert!(machines(&["online=true"]).is_empty(), "paused: not offered");
    ok(&net.as_provider(&["machines", "resume", id]));
    assert_eq!(machines(&["online=true"]).len(), 1, "offered again");

    // Its machine requires all the provider bonded: nothing to unstake.
    let account = |who: &[String]| {
        json(
            &[
                &["wallet", "balance"][..],
                &who.iter().map(String::as_str).collect::<Vec<_>>(),
            ]
            .concat(),
        )["account"]
            .clone()
    };
    let provider = net.as_provider(&[]);
    let stake = gpn(&account(&provider)["bonded"]);
    assert_eq!(
        stake, 100_000_000,
        "stake_per_machine for a machine without GPUs"
    );
    assert_eq!(
        json(&net.as_provider(&["wallet", "unstake"])),
        serde_json::Value::Null
    );

    // Removed, its stake unbonds: back in the balance after the delay.
    let removal = json(&net.as_provider(&["machines", "remove", id]));
    assert_eq!(removal["machine"].as_u64(), id.parse().ok());
    assert_eq!(gpn(&removal["unbonded"]["amount"]), stake);
    assert!(machines(&[]).is_empty());
    let after = account(&provider);
    assert_eq!(after["bonded"], "0.000000");
    assert_eq!(gpn(&after["unbonding"][0]["amount"]), stake);
    let stopped = agent.exit_within(Duration::from_secs(10));
    assert!(
        stopped.is_some_and(|s| s.success()),
        "its agent sees the removal and stops: {stopped:?}"
    );
    let gone = gpunet(&net.as_provider(&["machines", "remove", id]));
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("unknown machine"),
        "{gone:?}"
    );

    // Validator stake bonds and unbonds the same way.
    let client = net.with(&[]);
    ok(&net.with(&["validator", "bond", "1"]));
    assert_eq!(account(&client)["validator_bonded"], "1.000000");
    ok(&net.with(&["validator", "unbond", "1"]));
    let unbonding = account(&client);
    assert_eq!(unbonding["validator_bonded"], "0.000000");
    assert_eq!(unbonding["unbonding"][0]["amount"], "1.000000");
    let more = gpunet(&net.with(&["validator", "unbond", "1"]));
    assert!(
        String::from_utf8_lossy(&more.stderr).contains("insufficient"),
        "{more:?}"
    );
}

#[test]
fn ctrl_c_pauses_the_provider_and_lets_its_running_job_finish() {
    let dir = tempfile::tempdir().unwrap();
    let net = SoloNode::start(dir.path(), &[]);
    let agent_dir = dir.path().join("agent");
    let mut agent = net.start_agent_with(&agent_dir, &["--log-format", "json"]);
    assert!(
        eventually(Duration::from_secs(120), || net.online_machines() == 1),
        "the agent registers its machine and proves it"
    );
    let job = dir.path().join("slow.toml");
    std::fs::write(
        &job,
        "name = \"slow\"\nimage = \"gpunet/busybox\"\ncommand = [\"sh\", \"-c\", \"sleep 4; echo finished\"]\n\
         timeout_secs = 60\n[price]\nmax_per_hour = \"5\"\n",
    )
    .unwrap();
    let id = json(&net.with(&["job", "run", path(&job)]))["order"]
        .as_u64()
        .unwrap()
        .to_string();
    let status = || json(&net.with(&["job", "describe", &id]))["status"].clone();
    assert!(
        eventually(Duration::from_secs(60), || status() == "running"),
        "the job starts"
    );

    // Ctrl-C: the machine leaves the market at once, the job runs on.
    agent.interrupt();
    assert!(
        eventually(Duration::from_secs(20), || net.online_machines() == 0),
        "paused on Ctrl-C"
    );
    assert_eq!(status(), "running", "the job was not cut short");
    let stopped = agent.exit_within(Duration::from_secs(30));
    assert!(
        stopped.is_some_and(|s| s.success()),
        "the agent stops once the job reported: {stopped:?}"
    );
    let described = json(&net.with(&["job", "describe", &id]));
    assert!(
        described["report"]["outcome"]["completed"].is_object(),
        "{described}"
    );

    // Under --log-format json every line the agent logged is a JSON object
    // a log collector can take, its lease task's span named in it.
    let log = std::fs::read_to_string(agent_dir.with_extension("log")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    let reported = lines
        .iter()
        .find(|l| l["fields"]["message"] == format!("reported order {id}"))
        .unwrap_or_else(|| panic!("no report logged: {log}"));
    assert_eq!(reported["level"], "INFO", "{reported}");
    assert_eq!(reported["target"], "gpunet_provider::agent", "{reported}");
    assert_eq!(reported["span"]["name"], "lease", "{reported}");
}

#[test]
fn ctrl_c_while_the_node_is_down_is_acknowledged_and_pauses_once_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = SoloNode::start(dir.path(), &[]);
    let agent_dir = dir.path().join("agent");
    let mut agent = net.start_agent(&agent_dir);
    assert!(
        eventually(Duration::from_secs(120), || net.online_machines() == 1),
        "the agent registers its machine and proves it"
    );
    let log = || std::fs::read_to_string(agent_dir.with_extension("log")).unwrap();

    net.stop_node();
    assert!(
        eventually(Duration::from_secs(10), || log()
            .contains("event stream unavailable")),
        "the agent notices its node is gone: {}",
        log()
    );
    agent.interrupt();
    assert!(
        eventually(Duration::from_secs(5), || log()
            .contains("paused as soon as its node answers")),
        "Ctrl-C is acknowledged while the node is down: {}",
        log()
    );
    assert!(
        agent.exit_within(Duration::from_secs(2)).is_none(),
        "the agent does not leave its machine listed"
    );

    net.restart_node();
    let stopped = agent.exit_within(Duration::from_secs(60));
    assert!(
        stopped.is_some_and(|s| s.success()),
        "the agent pauses the machine and stops once its node is back: {stopped:?} {}",
        log()
    );
    assert_eq!(net.online_machines(), 0, "paused");
}

/// README's "Using it", as a user types it in a fresh shell: `gpunet devnet`
/// with its default (relative) data directory, then `job run` and `canary`
/// from the same directory, finding the devnet and its wallet through the
/// profile it writes. The process executor once started the job in its scratch
/// directory with relative input paths: the job read nothing, printed
/// `words: , sum:`, and was paid; the canary then disputed an honest provider.
#[test]
fn the_readme_flow_from_a_relative_devnet_directory_settles_the_right_result() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::create_dir_all(dir.path().join("examples/data")).unwrap();
    for file in [
        "examples/hello.toml",
        "examples/rental.toml",
        "examples/data/words.txt",
    ] {
        std::fs::copy(repo.join(file), dir.path().join(file)).unwrap();
    }
    let in_dir = |args: &[&str]| {
        let mut cmd = gpunet_command();
        cmd.args(args)
            .current_dir(dir.path())
            .env_remove("GPUNET_NODE")
            .env_remove("GPUNET_KEYSTORE");
        cmd
    };
    let listen = format!("127.0.0.1:{}", free_port());
    let _devnet = Node(
        in_dir(&["devnet", "--listen", &listen, "--providers", "1"])
            .args(["--executor", "process"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let up = eventually(Duration::from_secs(60), || {
        in_dir(&["wallet", "balance"])
            .output()
            .is_ok_and(|out| out.status.success())
    });
    assert!(up, "the devnet came up");
    let run = in_dir(&["job", "run", "examples/hello.toml", "--wait"])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr),
    );
    assert!(run.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("words: 34, sum: 500000500000"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(!stderr.contains("cannot open"), "{stderr}");
    // Its files come down into a directory of their own, not among the user's.
    let get = in_dir(&["job", "get", "0"]).output().unwrap();
    assert!(get.status.success(), "{get:?}");
    assert!(
        String::from_utf8_lossy(&get.stdout).contains("job-0/outputs/sum.txt"),
        "{get:?}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("job-0/outputs/sum.txt")).unwrap(),
        "500000500000\n"
    );
    assert!(!dir.path().join("outputs").exists());
    // README's offer search, run by a shell exactly as written there.
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let search = readme
        .lines()
        .find(|l| l.starts_with("gpunet machines list 'gpu_model="))
        .expect("README shows an offer search")
        .split("  #")
        .next()
        .unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_gpunet")).parent().unwrap();
    let shell = Command::new("bash")
        .args(["-c", search])
        .current_dir(dir.path())
        .env(
            "PATH",
            format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()),
        )
        .env_remove("GPUNET_NODE")
        .env_remove("GPUNET_KEYSTORE")
        .env("GPUNET_CONFIG", test_config())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&shell.stderr);
    assert!(shell.status.success(), "{search}: {stderr}");
    // Nothing the shell took for a redirection: no file named `=80`.
    let strays: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('='))
        .collect();
    assert!(strays.is_empty(), "{search} wrote {strays:?}");
    // The devnet offers no H100: the closest offer and what it misses.
    assert!(
        stderr.contains("no machine matches `gpu_model=H100 vram>=80 price<=2.5 verified=true`; the closest offers:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("misses gpu_model=H100 vram>=80"),
        "{stderr}"
    );
    // README's job whose inputs the client serves, as written there, while
    // `gpunet serve` runs.
    let (serve, serving) = spawn_first_line(in_dir(&["serve", "--listen", "127.0.0.1:0"]));
    assert!(serving.starts_with("serving "), "{serving}");
    let _serve = Node(serve);
    let mut lines = readme.lines();
    let served_job = lines
        .find(|l| {
            l.starts_with(
                "gpunet job run --image gpunet/busybox --input examples/data --serve-inputs",
            )
        })
        .expect("README shows a job that serves its inputs");
    let served_job = format!(
        "{}\n{}",
        served_job,
        lines.next().expect("README continues the command")
    );
    let shell = Command::new("bash")
        .args(["-c", &served_job])
        .current_dir(dir.path())
        .env(
            "PATH",
            format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap()),
        )
        .env_remove("GPUNET_NODE")
        .env_remove("GPUNET_KEYSTORE")
        .env("GPUNET_CONFIG", test_config())
        .env("GPUNET_SERVED", test_config().with_file_name("served"))
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&shell.stdout),
        String::from_utf8_lossy(&shell.stderr),
    );
    assert!(shell.status.success(), "{served_job}: {stdout}\n{stderr}");
    assert!(stdout.contains("34 "), "{served_job}: {stdout}\n{stderr}");
    // A rental of README's example stays up until it is ended.
    let rented = in_dir(&["--output", "json", "rent", "start", "examples/rental.toml"])
        .args(["--duration", "30m"])
        .output()
        .unwrap();
    let rental: serde_json::Value =
        serde_json::from_slice(&rented.stdout).unwrap_or_else(|_| panic!("{rented:?}"));
    assert_eq!(rental["status"], "running", "{rental}");
    let id = rental["order"].to_string();
    for command in [
        &["rent", "renew", &id, "--duration", "10m"][..],
        &["rent", "end", &id],
    ] {
        let out = in_dir(command).output().unwrap();
        assert!(out.status.success(), "{command:?}: {out:?}");
    }
    let ended = in_dir(&["--output", "json", "job", "describe", &id])
        .output()
        .unwrap();
    let ended: serde_json::Value = serde_json::from_slice(&ended.stdout).unwrap();
    assert_eq!(ended["status"], "settled", "{ended}");
    // The canary's default work directory is relative too.
    let canary = in_dir(&["--output", "json", "canary", "examples/hello.toml"])
        .args(["--executor", "process", "--wait-secs", "120"])
        .output()
        .unwrap();
    let answer: serde_json::Value =
        serde_json::from_slice(&canary.stdout).unwrap_or_else(|_| panic!("{canary:?}"));
    assert_eq!(answer["verdict"], "honest", "{answer}");
}

/// A rental no machine can take: `rent start` says, when its wait runs out,
/// that the order stays pending with its deposit, and how to take it back;
/// `rent end` then cancels it and refunds the whole deposit.
#[test]
fn a_rental_no_machine_takes_is_explained_and_ended_with_its_deposit_back() {
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, global) = devnet_process(dir.path());
    let global: Vec<&str> = global.iter().map(String::as_str).collect();
    let spec = dir.path().join("huge.toml");
    std::fs::write(
        &spec,
        "name = \"huge\"\nimage = \"gpunet/busybox\"\ncommand = [\"sleep\", \"600\"]\n\
         timeout_secs = 60\n[resources]\ncpu = 512\n[price]\nmax_per_hour = \"50\"\n",
    )
    .unwrap();
    let balance =
        || gpn(&json(&[&global[..], &["wallet", "balance"]].concat())["account"]["balance"]);
    let before = balance();
    let start = gpunet(
        &[
            &global[..],
            &["rent", "start", path(&spec), "--duration", "1h"],
            &["--wait-secs", "2"],
        ]
        .concat(),
    );
    assert!(!start.status.success());
    let stderr = String::from_utf8_lossy(&start.stderr);
    let id = stderr
        .split("order ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("{stderr}"))
        .to_string();
    assert!(stderr.contains("is still pending after 2s"), "{stderr}");
    // Why, at once: what every machine misses, and the closest one.
    assert!(
        stderr.contains(&format!(
            "no machine can take order {id} now (none of 1 machines):"
        )) && stderr.contains("\n  1 with fewer than 512 free cores\n"),
        "{stderr}"
    );
    assert!(stderr.contains("closest:\n  machine 0 ("), "{stderr}");
    assert!(
        stderr.contains(&format!("`gpunet rent end {id}`")),
        "{stderr}"
    );
    assert_ne!(balance(), before, "the deposit is in escrow");
    ok(&[&global[..], &["rent", "end", &id]].concat());
    let order = json(&[&global[..], &["job", "describe", &id]].concat());
    assert_eq!(order["status"], "cancelled", "{order}");
    assert!(gpn(&order["settlement"]["refunded"]) > 0, "{order}");
}

/// Whether a process whose command line holds `needle` is alive.
fn process_alive(needle: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().any(|entry| {
        let cmdline = entry.unwrap().path().join("cmdline");
        std::fs::read(cmdline)
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .is_ok_and(|c| c.contains(needle) && !c.contains("gpunet"))
    })
}

/// `job run --wait` interrupted says the job goes on and how to stop it;
/// `job stop` then stops the run on the provider, pays the time it ran and
/// refunds the rest, with nobody slashed.
#[test]
fn an_interrupted_wait_leaves_the_job_running_and_job_stop_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, global) = devnet_process(dir.path());
    let global: Vec<&str> = global.iter().map(String::as_str).collect();
    let spec = dir.path().join("long.toml");
    // A sleep no other test runs, to find it among the machine's processes.
    std::fs::write(
        &spec,
        "name = \"long\"\nimage = \"gpunet/busybox\"\ncommand = [\"sleep\", \"4711\"]\n\
         timeout_secs = 6000\n[price]\nmax_per_hour = \"50\"\n",
    )
    .unwrap();
    let mut waiting = gpunet_command()
        .args([&global[..], &["job", "run", path(&spec), "--wait"]].concat())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(60), || process_alive("sleep 4711")),
        "the job started"
    );
    unsafe { libc::kill(waiting.id() as i32, libc::SIGINT) };
    let out = poll(Duration::from_secs(10), || waiting.try_wait().unwrap())
        .expect("the interrupted wait ends");
    let mut stderr = String::new();
    std::io::Read::read_to_string(waiting.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(out.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted: order 0 goes on without this command"),
        "{stderr}"
    );
    assert!(stderr.contains("`gpunet job stop 0`"), "{stderr}");
    assert!(process_alive("sleep 4711"), "the job goes on");

    let text: Vec<&str> = global[..global.len() - 2].to_vec();
    assert_eq!(global[global.len() - 2..], ["--output", "json"]);
    let stopped = ok(&[&text[..], &["job", "stop", "0"]].concat());
    assert!(stopped.contains("stopped order 0:"), "{stopped}");
    assert!(stopped.contains("GPN refunded"), "{stopped}");
    assert!(!stopped.contains("GPN GPN"), "{stopped}");
    let order = json(&[&global[..], &["job", "describe", "0"]].concat());
    assert_eq!(order["status"], "stopped", "{order}");
    let s = &order["settlement"];
    assert_eq!(s["slashed"], "0.000000", "{order}");
    assert!(gpn(&s["paid_to_provider"]) > 0, "{order}");
    assert!(gpn(&s["refunded"]) > gpn(&order["deposit"]) / 2, "{order}");
    assert!(
        eventually(Duration::from_secs(20), || !process_alive("sleep 4711")),
        "the provider stopped the run"
    );
    // Stopping it again says why not.
    let again = gpunet(&[&global[..], &["job", "stop", "0"]].concat());
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr)
            .contains("only a preparing or running job can be stopped"),
        "{again:?}"
    );
}

/// `gpunet devnet` registers itself as the default profile, so commands from
/// any directory find it and its funded wallet; `gpunet init` writes another
/// profile (with a new sealed key), `--profile` picks it, `--default` makes
/// it the one used, and a profile that does not exist is named as such.
#[test]
fn profiles_let_commands_run_from_any_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, global) = devnet_process(dir.path());
    let node = global[1].clone();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let run = |args: &[&str]| {
        let out = gpunet_command()
            .args(args)
            .current_dir(&elsewhere)
            .env_remove("GPUNET_NODE")
            .env_remove("GPUNET_KEYSTORE")
            .env_remove("GPUNET_PROFILE")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // It writes its profile once it has started (its providers registered).
    let registered = eventually(Duration::from_secs(30), || {
        run(&["profiles"]).1.contains("devnet *")
    });
    assert!(registered, "{:?}", run(&["profiles"]));
    let (ok, balance, err) = run(&["wallet", "balance", "-o", "json"]);
    assert!(ok, "the devnet's profile is the default: {err}");
    let balance: serde_json::Value = serde_json::from_str(&balance).unwrap();
    assert!(
        gpn(&balance["account"]["balance"]) > 0,
        "its funded wallet: {balance}"
    );
    let (_, profiles, _) = run(&["profiles", "-o", "json"]);
    let profiles: serde_json::Value = serde_json::from_str(&profiles).unwrap();
    assert_eq!(profiles[0]["profile"], "devnet", "{profiles}");
    assert_eq!(profiles[0]["default"], true, "{profiles}");
    assert_eq!(
        profiles[0]["keystore"],
        path(&dir.path().join("devnet/wallets/client.json")),
        "{profiles}"
    );

    let (ok, made, err) = run(&[
        "init",
        "--profile",
        "work",
        "--node",
        &node,
        "--keystore",
        "work.json",
        "-o",
        "json",
    ]);
    assert!(ok, "{err}");
    let made: serde_json::Value = serde_json::from_str(&made).unwrap();
    assert_eq!(
        (&made["new_key"], &made["default"], &made["chain"]),
        (&true.into(), &false.into(), &"gpunet-devnet".into()),
        "{made}"
    );
    let keystore = elsewhere.join("work.json");
    assert_eq!(
        made["keystore"],
        path(&keystore),
        "an absolute path: {made}"
    );
    assert!(
        std::fs::read_to_string(&keystore)
            .unwrap()
            .contains("argon2id"),
        "the new key is sealed"
    );
    let (ok, shown, err) = run(&["--profile", "work", "wallet", "show"]);
    assert!(ok, "{err}");
    assert_eq!(shown.trim(), made["address"].as_str().unwrap());
    let (ok, _, err) = run(&["--profile", "nope", "wallet", "show"]);
    assert!(!ok);
    assert!(
        err.contains("no profile \"nope\"") && err.contains("(profiles: devnet, work)"),
        "{err}"
    );
    let (ok, text, err) = run(&["init", "--profile", "work", "--default"]);
    assert!(ok, "{err}");
    assert!(
        text.contains("profile work written to") && text.contains("(the default:"),
        "{text}"
    );
    assert!(text.contains("existing key"), "{text}");
    let (_, shown, _) = run(&["wallet", "show"]);
    assert_eq!(
        shown.trim(),
        made["address"].as_str().unwrap(),
        "now the default"
    );
    let (ok, _, err) = run(&["init", "--profile", "new"]);
    assert!(!ok && err.contains("needs the node's address"), "{err}");
}

/// A provider's agent dies under a job that may run twice: restarted, it
/// reports the run failed, the job runs again on the other machine and
/// reports, `--wait` says so as it happens and `job describe` shows both runs.
#[test]
fn a_job_whose_provider_fails_it_runs_again_on_another_machine() {
    let dir = tempfile::tempdir().unwrap();
    let net = SoloNode::start(dir.path(), &[]);
    let data_dirs = [dir.path().join("a"), dir.path().join("b")];
    let mut agents: Vec<Node> = data_dirs.iter().map(|d| net.start_agent(d)).collect();
    let logs = || {
        data_dirs
            .iter()
            .map(|d| std::fs::read_to_string(d.with_extension("log")).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    assert!(
        eventually(Duration::from_secs(90), || net.online_machines() == 2),
        "both machines are verified and online; the agents' logs:\n{}",
        logs()
    );
    let spec = dir.path().join("retried.toml");
    std::fs::write(
        &spec,
        "name = \"retried\"\nimage = \"gpunet/busybox\"\n\
         command = [\"sh\", \"-c\", \"sleep 4; echo ran > $GPUNET_OUTPUT_DIR/ran.txt\"]\n\
         timeout_secs = 120\nmax_attempts = 2\n[price]\nmax_per_hour = \"5\"\n",
    )
    .unwrap();
    let waiting_log = dir.path().join("wait.log");
    let mut waiting = Node(
        gpunet_command()
            .args(net.with(&["job", "run", path(&spec), "--wait"]))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&waiting_log).unwrap())
            .spawn()
            .unwrap(),
    );
    let first = poll(Duration::from_secs(60), || {
        (0..2).find(|&i| data_dirs[i].join("jobs/0").exists())
    })
    .expect("the job started on one of the machines");
    let machine = json(&net.with(&["job", "describe", "0"]))["lease"]["machine"].clone();
    // Its agent dies mid-run and comes back: it reports the run failed.
    let _ = agents[first].0.kill();
    let _ = agents[first].0.wait();
    agents[first] = net.start_agent(&data_dirs[first]);
    // It serves its own machine again, not the other agent's (one key runs both).
    let log = data_dirs[first].with_extension("log");
    assert!(
        eventually(Duration::from_secs(30), || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains(&format!("provider serving machine {machine} "))
        }),
        "{}",
        logs()
    );
    let reported = poll(Duration::from_secs(90), || {
        let order = json(&net.with(&["job", "describe", "0"]));
        (order["status"] == "reported").then_some(order)
    })
    .expect("the job ran again and reported");
    let attempt = &reported["attempts"][0];
    assert_eq!(attempt["machine"], machine, "{reported}");
    assert_eq!(attempt["failure"]["kind"], "failed", "{reported}");
    assert!(
        attempt["failure"]["reason"]
            .as_str()
            .unwrap()
            .contains("interrupted by a provider agent restart"),
        "{reported}"
    );
    assert!(gpn(&attempt["slashed"]) > 0, "{reported}");
    assert_ne!(reported["lease"]["machine"], machine, "{reported}");
    let results = dir.path().join("results");
    ok(&net.with(&["job", "get", "0", "--out", path(&results)]));
    assert_eq!(
        std::fs::read_to_string(results.join("outputs/ran.txt")).unwrap(),
        "ran\n"
    );
    let text: Vec<String> = net.with(&["job", "describe", "0"]);
    let described = ok(&text[..text.len() - 2]);
    assert!(
        described.contains(&format!("run 1     on machine {machine} (provider "))
            && described.contains("failed: interrupted by a provider agent restart; 10.")
            && described.contains(" GPN slashed\n")
            && described.contains("runs      2 of at most 2"),
        "{described}"
    );
    let _ = waiting.0.kill();
    let _ = waiting.0.wait();
    let said = std::fs::read_to_string(&waiting_log).unwrap();
    assert!(
        said.contains(&format!(
            "order 0: run 1 of 2 on machine {machine} failed: interrupted by a provider agent restart; matching it again"
        )),
        "{said}"
    );
}

/// A job its provider cannot start: `--wait` shows the provider's reason as
/// it declines, then why no machine is left to take it.
#[test]
fn a_declined_job_shows_the_reason_while_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, global) = devnet_process(dir.path());
    let global: Vec<&str> = global.iter().map(String::as_str).collect();
    let spec = dir.path().join("missing.toml");
    std::fs::write(
        &spec,
        "name = \"missing\"\nimage = \"gpunet/busybox\"\ncommand = [\"no-such-program-here\"]\n\
         timeout_secs = 60\n[price]\nmax_per_hour = \"50\"\n",
    )
    .unwrap();
    let run = gpunet(
        &[
            &global[..],
            &["job", "run", path(&spec), "--wait", "--wait-for", "5s"],
        ]
        .concat(),
    );
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("order 0: machine 0 declined it: ")
            && stderr.contains("no-such-program-here"),
        "{stderr}"
    );
    let describe = gpunet(&[&global[..global.len() - 2], &["job", "describe", "0"]].concat());
    let why = String::from_utf8_lossy(&describe.stderr);
    assert!(why.contains("1 with it declined this order"), "{why}");
}

/// Four `gpunet node --bft` validators on loopback, from one genesis.
struct BftNet {
    dir: std::path::PathBuf,
    commands: Vec<Vec<String>>,
}

impl BftNet {
    fn new(dir: &Path) -> BftNet {
        let keystores: Vec<_> = (0..4).map(|i| dir.join(format!("v{i}.json"))).collect();
        let mut genesis_args: Vec<String> = ["genesis", "--chain-id", "bft-cli-test"]
            .map(String::from)
            .to_vec();
        for keystore in &keystores {
            let address = new_wallet(keystore);
            genesis_args.extend(["--validator".into(), address.clone()]);
            genesis_args.extend(["--fund".into(), format!("{address}=1000")]);
        }
        let genesis = dir.join("genesis.json");
        genesis_args.extend(["--out".into(), path(&genesis).into()]);
        ok(&genesis_args);
        let tcp = |port: u16| format!("/ip4/127.0.0.1/tcp/{port}");
        let ports: Vec<(u16, u16, u16)> = (0..4)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let commands = (0..4)
            .map(|i| {
                let (api, p2p, gossip) = ports[i];
                let mut command: Vec<String> = vec![
                    "node".into(),
                    "--bft".into(),
                    "--genesis".into(),
                    path(&genesis).into(),
                    "--validator-keystore".into(),
                    path(&keystores[i]).into(),
                    "--data-dir".into(),
                    path(&dir.join(format!("node{i}"))).into(),
                    "--listen".into(),
                    format!("127.0.0.1:{api}"),
                    "--p2p-listen".into(),
                    tcp(p2p),
                    "--gossip-listen".into(),
                    tcp(gossip),
                ];
                for (j, (_, peer, _)) in ports.iter().enumerate() {
                    if j != i {
                        command.extend(["--peer".into(), tcp(*peer)]);
                    }
                }
                if i > 0 {
                    command.extend(["--gossip-peer".into(), tcp(ports[0].2)]);
                }
                command
            })
            .collect();
        BftNet {
            dir: dir.to_path_buf(),
            commands,
        }
    }

    /// Starts validator `i` with `extra` arguments, its log in `node<i>.log`.
    fn start(&self, i: usize, extra: &[&str]) -> Node {
        let log = std::fs::File::create(self.log(i)).unwrap();
        Node(
            gpunet_command()
                .args(&self.commands[i])
                .args(extra)
                .stdout(std::process::Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        )
    }

    fn log(&self, i: usize) -> std::path::PathBuf {
        self.dir.join(format!("node{i}.log"))
    }

    fn certificates(&self, i: usize) -> std::path::PathBuf {
        self.dir
            .join(format!("node{i}/consensus/certificates.redb"))
    }

    /// Validator `i`'s committed height, if its API answers.
    fn height(&self, i: usize) -> Option<u64> {
        let node = api_address(&self.dir.join(format!("node{i}")));
        let out = gpunet(&["--node", &node, "--output", "json", "status"]);
        out.status.success().then(|| {
            serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["height"]
                .as_u64()
                .unwrap()
        })
    }

    /// Validator `i`'s height, asked until it answers (a busy node may miss
    /// one status request).
    fn tip(&self, i: usize) -> u64 {
        let mut height = None;
        let answered = eventually(Duration::from_secs(30), || {
            height = self.height(i);
            height.is_some()
        });
        assert!(
            answered,
            "validator {i} does not answer; its log:\n{}",
            std::fs::read_to_string(self.log(i)).unwrap_or_default()
        );
        height.unwrap_or_default()
    }

    /// Waits until validator `i` has committed `height`.
    fn wait_height(&self, i: usize, height: u64) {
        let reached = eventually(Duration::from_secs(90), || {
            self.height(i).is_some_and(|h| h >= height)
        });
        assert!(
            reached,
            "validator {i} did not reach height {height}: at {:?}; its log:\n{}",
            self.height(i),
            std::fs::read_to_string(self.log(i)).unwrap_or_default()
        );
    }
}

/// An operator restores only part of a backup: the ledger is current, the
/// certificate store is from blocks ago. The node says, in one error, that its
/// stores disagree and how to get out; `--resync` rebuilds them from its peers.
#[test]
fn a_validator_whose_stores_disagree_says_so_and_resync_rebuilds_them_from_peers() {
    let dir = tempfile::tempdir().unwrap();
    let net = BftNet::new(dir.path());
    let mut nodes: Vec<Node> = (0..4).map(|i| net.start(i, &[])).collect();
    net.wait_height(3, 3);
    // A BFT node's /metrics carries the consensus engine's own beside its.
    let api = api_address(&dir.path().join("node0"));
    let metrics = scrape(&format!("{}/metrics", api.split('#').next().unwrap()));
    assert_eq!(metrics.matches("# EOF\n").count(), 1, "{metrics}");
    assert_eq!(
        metrics.matches("gpunet_validator_power{").count(),
        4,
        "{metrics}"
    );
    let blocks = "malachitebft_core_consensus_time_per_block_count{moniker=";
    assert!(metrics.contains(blocks), "{metrics}");
    drop(nodes.pop());
    let backup = dir.path().join("certificates.backup");
    std::fs::copy(net.certificates(3), &backup).unwrap();
    let at = net.tip(0);
    nodes.push(net.start(3, &[]));
    net.wait_height(3, at + 3);
    drop(nodes.pop());
    std::fs::copy(&backup, net.certificates(3)).unwrap();

    let mut refused = net.start(3, &[]);
    let status = refused
        .exit_within(Duration::from_secs(30))
        .expect("a node whose stores disagree stops");
    let log = std::fs::read_to_string(net.log(3)).unwrap();
    assert!(!status.success());
    assert!(
        log.contains("error: this node's stores disagree: the ledger is at height")
            && log.contains("no certificate for it")
            && log.contains("Start it once with --resync"),
        "{log}"
    );

    nodes.push(net.start(3, &["--resync"]));
    let tip = net.tip(0);
    net.wait_height(3, tip + 2);
    let log = std::fs::read_to_string(net.log(3)).unwrap();
    assert!(
        log.contains("resync: the ledger and consensus stores were moved to"),
        "{log}"
    );
    // What was set aside is kept, not deleted.
    let aside = std::fs::read_dir(dir.path().join("node3"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("resync-")
        })
        .expect("the old stores are kept");
    assert!(aside.join("ledger.redb").exists());
    assert!(aside.join("consensus/certificates.redb").exists());
}

/// A new node joins with `--from-snapshot`: it takes the state of the
/// newest snapshot a validator serves, verified, and follows the chain from
/// there; restarted with the same command, it is no longer new and syncs
/// blocks as any node does.
#[test]
fn a_new_node_joins_from_a_validators_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut net = BftNet::new(dir.path());
    let every = ["--snapshot-every", "10"];
    let _validators: Vec<Node> = (0..4).map(|i| net.start(i, &every)).collect();
    net.wait_height(0, 25);

    // A fifth node, not a validator, with its own key and ports.
    let mut command = net.commands[3].clone();
    let mut set = |flag: &str, value: String| {
        let at = command.iter().position(|a| a == flag).unwrap();
        command[at + 1] = value;
    };
    let keystore = dir.path().join("follower.json");
    new_wallet(&keystore);
    set("--validator-keystore", path(&keystore).into());
    set("--data-dir", path(&dir.path().join("node4")).into());
    set("--listen", format!("127.0.0.1:{}", free_port()));
    set(
        "--p2p-listen",
        format!("/ip4/127.0.0.1/tcp/{}", free_port()),
    );
    set(
        "--gossip-listen",
        format!("/ip4/127.0.0.1/tcp/{}", free_port()),
    );
    net.commands.push(command);
    let validator = api_address(&dir.path().join("node0"));
    let join = ["--from-snapshot", validator.trim()];

    let follower = net.start(4, &join);
    let tip = net.tip(0);
    net.wait_height(4, tip + 2);
    let log = std::fs::read_to_string(net.log(4)).unwrap();
    let joined_at: u64 = log
        .split("joined from the snapshot at height ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{log}"))
        .parse()
        .unwrap();
    assert!(joined_at >= 20 && joined_at.is_multiple_of(10), "{log}");
    let follower_api = api_address(&dir.path().join("node4"));
    let block = |height: u64| {
        gpunet(&[
            "--node",
            follower_api.trim(),
            "-o",
            "json",
            "block",
            &height.to_string(),
        ])
    };
    let replayed = block(1);
    assert!(!replayed.status.success(), "block 1 was not replayed");
    assert!(
        String::from_utf8_lossy(&replayed.stderr).contains("no block at height 1"),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    assert!(block(joined_at).status.success());

    drop(follower);
    let _follower = net.start(4, &join);
    let tip = net.tip(0);
    net.wait_height(4, tip + 2);
    let log = std::fs::read_to_string(net.log(4)).unwrap();
    assert!(
        log.contains("--from-snapshot: this node is at height")
            && log.contains("syncing blocks instead"),
        "{log}"
    );
}

/// Ten commands from one wallet at once, as a shell loop with `&` runs them:
/// each reads the same nonce, and the block takes one of each clash. Every
/// one must go through (nine of ten failed with `bad_nonce`).
#[test]
fn ten_commands_from_one_wallet_at_once_all_go_through() {
    let dir = tempfile::tempdir().unwrap();
    let net = SoloNode::start(dir.path(), &[]);
    let before = gpn(&json(&net.with(&["wallet", "balance"]))["account"]["balance"]);
    let sent: Vec<Child> = (0..10)
        .map(|_| {
            gpunet_command()
                .args(net.with(&["wallet", "transfer", &net.validator, "1"]))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in sent {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let after = gpn(&json(&net.with(&["wallet", "balance"]))["account"]["balance"]);
    let fee = 1_000; // Params::default().min_fee
    assert_eq!(before - after, 10 * (1_000_000 + fee));
}

/// Under `--output json` (`-o json`) errors are JSON too, on stderr, with a
/// stable code: the node's when it refused, the client's otherwise.
#[test]
fn errors_under_json_output_carry_a_stable_code() {
    let dir = tempfile::tempdir().unwrap();
    let net = SoloNode::start(dir.path(), &[]);
    // The client holds 100 GPN.
    let refused = json_error(&net.with(&["wallet", "transfer", &net.validator, "5000"]));
    assert_eq!(refused["code"], "insufficient_funds", "{refused}");
    assert!(refused["message"]
        .as_str()
        .unwrap()
        .contains("node refused"));
    let (url, key) = net.address.split_once('#').unwrap();
    let closed = format!("https://127.0.0.1:{}#{key}", free_port());
    assert_ne!(closed.split_once('#').unwrap().0, url);
    let unreachable = json_error(&["--node", &closed, "-o", "json", "status"]);
    assert_eq!(unreachable["code"], "unreachable", "{unreachable}");
    // Text output keeps its one line for people.
    let out = gpunet(&["--node", &closed, "status"]);
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: cannot reach the node"));
}

/// Whether a file named `name` lies anywhere under `dir`.
fn holds_file_named(dir: &Path, name: &str) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| {
            let path = entry.path();
            entry.file_name() == name || (path.is_dir() && holds_file_named(&path, name))
        })
}

/// `gpunet provider --serve-outputs`: the agent keeps its jobs' files and
/// serves them from its own peer; `job get` and `job logs` fetch them from
/// it, verified, while the node holds the manifest alone. With the agent
/// gone, `job get` says where the files are.
#[test]
fn a_provider_serving_its_outputs_hands_them_to_the_client_peer_to_peer() {
    let dir = tempfile::tempdir().unwrap();
    let net = SoloNode::start(dir.path(), &[]);
    let mut agent = net.run_one_job(
        dir.path(),
        &["--serve-outputs", "--data-listen", "127.0.0.1:0"],
        "echo served by the provider; head -c 2000000 /dev/urandom > \"$GPUNET_OUTPUT_DIR/big.bin\"",
    );
    let order = json(&net.with(&["job", "describe", "0"]));
    let completed = &order["report"]["outcome"]["completed"];
    assert_eq!(completed["held_by"], "provider", "{order}");
    let as_text = |args: &[&str]| {
        let args = net.with(args);
        // Without the trailing `--output json`.
        ok(&args[..args.len() - 2])
    };
    let described = as_text(&["job", "describe", "0"]);
    assert!(
        described.contains(", kept by its provider\n"),
        "{described}"
    );

    let results = dir.path().join("results");
    let got = as_text(&["job", "get", "0", "--out", path(&results)]);
    assert!(
        got.contains("verified 3 files (from its provider's peer)"),
        "{got}"
    );
    let big = results.join("outputs/big.bin");
    assert_eq!(std::fs::metadata(&big).unwrap().len(), 2_000_000);
    assert_eq!(
        std::fs::read_to_string(results.join("logs/stdout.log")).unwrap(),
        "served by the provider\n"
    );
    assert!(!results.join(".gpunet-download").exists());
    assert_eq!(
        ok(&["job", "root", path(&results)]).trim(),
        completed["output_root"].as_str().unwrap(),
        "what arrived is what was reported"
    );
    let logs = as_text(&["job", "logs", "0"]);
    assert!(logs.contains("served by the provider"), "{logs}");
    // The node keeps the manifest, not the files.
    let (hash, _) = gpunet_primitives::manifest::hash_file(&big).unwrap();
    assert!(!holds_file_named(
        &dir.path().join("node"),
        &hash.to_string()
    ));

    let _ = agent.0.kill();
    let _ = agent.0.wait();
    let out = gpunet(&net.with(&["job", "get", "0", "--out", path(&dir.path().join("later"))]));
    assert!(!out.status.success());
    let error: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(error["code"], "data_plane", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("kept by its provider") && message.contains("must be running"),
        "{message}"
    );
}

/// `job run --serve-inputs` with `gpunet serve` running, to a provider that
/// serves its outputs: the job's input goes from the client's peer to the
/// provider's, its result comes back from the provider's peer, and no byte
/// of either is on the node's disk. Without a peer to serve from, the job
/// is refused before anything is submitted.
#[test]
fn a_job_whose_client_serves_its_inputs_leaves_no_data_on_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let net = SoloNode::start(dir.path(), &[]);
    let _agent = net.start_agent_with(
        &dir.path().join("agent"),
        &["--serve-outputs", "--data-listen", "127.0.0.1:0"],
    );
    assert!(
        eventually(Duration::from_secs(120), || net.online_machines() == 1),
        "the agent registers its machine and proves it"
    );
    let data = dir.path().join("dataset.bin");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let bytes: Vec<u8> = (0..3_000_000u128)
        .map(|i| (i.wrapping_mul(seed | 1) >> 7) as u8)
        .collect();
    std::fs::write(&data, &bytes).unwrap();
    let (input_hash, _) = gpunet_primitives::manifest::hash_file(&data).unwrap();
    let script = "md5sum < \"$GPUNET_INPUT_DIR/dataset.bin\" > \"$GPUNET_OUTPUT_DIR/sum.txt\"";
    let run = |extra: &[&str]| {
        let mut args = net.with(&["job", "run", "--image", "gpunet/busybox"]);
        args.extend(
            [
                "--input",
                path(&data),
                "--max-price",
                "50",
                "--serve-inputs",
            ]
            .iter()
            .chain(extra)
            .map(|a| a.to_string()),
        );
        args.extend(["--", "sh", "-c", script].map(String::from));
        args
    };

    // No peer announced: refused, nothing submitted.
    let refused = json_error(&run(&[]));
    assert_eq!(refused["code"], "invalid", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("gpunet serve"),
        "{refused}"
    );
    assert_eq!(json(&net.with(&["job", "list"])), serde_json::json!([]));

    let mut command = gpunet_command();
    command.args(net.with(&["serve", "--listen", "127.0.0.1:0"]));
    let (serve, first_line) = spawn_first_line(command);
    let serving: serde_json::Value =
        serde_json::from_str(&first_line).unwrap_or_else(|e| panic!("{e}: {first_line:?}"));
    assert_eq!(serving["inputs"], 0, "{serving}");
    let _serve = Node(serve);

    let done = json(&run(&["--wait"]));
    assert_eq!(done["status"], "settled", "{done}");
    let order = done["order"].to_string();
    let results = dir.path().join("results");
    ok(&net.with(&["job", "get", &order, "--out", path(&results)]));
    let md5 = Command::new("md5sum")
        .stdin(std::fs::File::open(&data).unwrap())
        .output()
        .unwrap();
    assert_eq!(
        std::fs::read(results.join("outputs/sum.txt")).unwrap(),
        md5.stdout,
        "the job read the input served"
    );
    // The node holds neither the input nor the result's file.
    let (sum_hash, _) =
        gpunet_primitives::manifest::hash_file(&results.join("outputs/sum.txt")).unwrap();
    for hash in [input_hash, sum_hash] {
        assert!(!holds_file_named(
            &dir.path().join("node"),
            &hash.to_string()
        ));
    }
    // The served record names the input and the order that read it.
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(test_config().with_file_name("served").join("inputs.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        record["inputs"][0]["hash"],
        input_hash.to_string(),
        "{record}"
    );
    assert_eq!(
        record["inputs"][0]["orders"],
        serde_json::json!([done["order"]]),
        "{record}"
    );
    // Submitted without waiting, the job says what must keep running.
    let args = run(&[]);
    let said = ok(&args[..]
        .iter()
        .filter(|a| *a != "--output" && *a != "json")
        .collect::<Vec<_>>());
    assert!(
        said.contains("its inputs are served from here: keep `gpunet serve` running"),
        "{said}"
    );
}

/// A provider that opens no socket of its own (`--relay-only`) serves its
/// outputs through a `gpunet relay`: `job get` reaches it there, and not
/// at all once the relay is gone.
#[test]
fn a_provider_reached_only_through_a_relay_serves_its_outputs_there() {
    let dir = tempfile::tempdir().unwrap();
    let net = SoloNode::start(dir.path(), &[]);
    let (mut relay, listen, url) = start_relay(dir.path(), "127.0.0.1");
    // The URL it prints is the one providers are given.
    assert_eq!(url, format!("http://{listen}/"));
    let _agent = net.run_one_job(
        dir.path(),
        &["--serve-outputs", "--relay", &url, "--relay-only"],
        "echo through the relay > \"$GPUNET_OUTPUT_DIR/note.txt\"",
    );
    let results = dir.path().join("results");
    ok(&net.with(&["job", "get", "0", "--out", path(&results)]));
    assert_eq!(
        std::fs::read_to_string(results.join("outputs/note.txt")).unwrap(),
        "through the relay\n"
    );

    let _ = relay.0.kill();
    let _ = relay.0.wait();
    let out = gpunet(&net.with(&["job", "get", "0", "--out", path(&dir.path().join("later"))]));
    assert!(
        !out.status.success(),
        "no way to the provider without its relay"
    );
    let error: serde_json::Value = serde_json::from_slice(&out.stderr)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(error["code"], "data_plane", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("relay {url} did not answer")),
        "{message}"
    );
}

/// `gpunet relay` listening on `host` (its log in `dir`/relay.log): the
/// process, where it listens and the URL it prints for providers.
fn start_relay(dir: &Path, host: &str) -> (Node, String, String) {
    let listen = format!("{host}:{}", free_port());
    let relay = Node(
        gpunet_command()
            .args(["relay", "--listen", &listen, "--public-host", host])
            .stderr(std::fs::File::create(dir.join("relay.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let url = poll(Duration::from_secs(20), || {
        let log = std::fs::read_to_string(dir.join("relay.log")).ok()?;
        let url = log.split_whitespace().find(|w| w.starts_with("http://"))?;
        Some(url.to_string())
    })
    .expect("the relay prints its URL");
    (relay, listen, url)
}

/// `gpunet completions bash`, sourced by bash, completes subcommands.
#[test]
fn bash_completes_gpunet_commands_from_the_script_it_prints() {
    let script = ok(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gpunet.bash");
    std::fs::write(&file, script).unwrap();
    let complete = |words: &str| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source {}; COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; \
                 read -ra COMP_WORDS <<< \"$COMP_LINE\"; COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
                 _gpunet gpunet \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; echo \"${{COMPREPLY[@]}}\"",
                file.display()
            ))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(complete("gpunet job de"), "describe");
    assert_eq!(complete("gpunet mach"), "machines");
}

/// The devnet's faucet funds any wallet a user makes.
#[test]
fn the_devnet_faucet_funds_a_new_wallet() {
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, global) = devnet_process(dir.path());
    let node = &global[..2];
    let keystore = dir.path().join("mine.json");
    let address = new_wallet(&keystore);
    let sent = ok(&[
        node,
        &["devnet".into(), "fund".into(), address.clone(), "25".into()],
    ]
    .concat());
    assert!(
        sent.starts_with(&format!(
            "sent 25.000000 GPN from the devnet faucet to {address} in block "
        )),
        "{sent}"
    );
    let balance = json(
        &[
            node,
            &["-o", "json", "wallet", "balance", &address].map(String::from),
        ]
        .concat(),
    );
    assert_eq!(balance["account"]["balance"], "25.000000", "{balance}");
}

/// On a terminal, `job run --wait` shows a spinner with the order's state and
/// the time waited, redrawn in place (`script` gives it a terminal); piped,
/// it prints plain lines (the other tests read those).
#[test]
fn a_wait_on_a_terminal_shows_the_state_and_time_waited() {
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, global) = devnet_process(dir.path());
    let hello = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello.toml");
    let command = format!(
        "'{}' --node '{}' --keystore '{}' job run '{}' --wait",
        env!("CARGO_BIN_EXE_gpunet"),
        global[1],
        global[3],
        hello.display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .expect("script (util-linux) runs");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(
        screen.contains("order 0: settled (") && screen.contains("s)"),
        "{screen}"
    );
    assert!(screen.contains("\r\u{1b}[2K"), "redrawn in place: {screen}");
    assert!(screen.contains("sum: 500000500000"), "{screen}");
}

/// A mistyped command or flag gets the one meant as a tip.
#[test]
fn a_typo_is_answered_with_the_command_meant() {
    let out = gpunet(&["job", "descrbe", "1"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("a similar subcommand exists: 'describe'"),
        "{stderr}"
    );
    let out = gpunet(&["job", "run", "x.toml", "--wiat"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("a similar argument exists: '--wait'"),
        "{stderr}"
    );
    // And every command's help ends on an example (the binary's unit tests
    // parse them all).
    let help = ok(&["rent", "start", "--help"]);
    assert!(
        help.contains("Examples:\n  gpunet rent start examples/rental.toml --duration 2h"),
        "{help}"
    );
}

/// A job told with flags, as `docker run` users write one: image, resources,
/// a directory of inputs, and the command after `--`.
#[test]
fn a_job_from_flags_runs_like_one_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, global) = devnet_process(dir.path());
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("more")).unwrap();
    std::fs::write(data.join("a.txt"), "one two three\n").unwrap();
    std::fs::write(data.join("more/b.txt"), "four five\n").unwrap();
    let run = |extra: &[&str]| {
        gpunet_command()
            .args(&global[..4])
            .args(["job", "run", "--image", "gpunet/busybox", "--cpu", "1"])
            .args(extra)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let out = run(&[
        "--input",
        "data",
        "--env",
        "GREETING=hi",
        "--max-price",
        "50",
        "--wait",
        "--",
        "sh",
        "-c",
        "echo $GREETING; cat $GPUNET_INPUT_DIR/a.txt $GPUNET_INPUT_DIR/more/b.txt | wc -w",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("status    settled"), "{stdout}");
    assert!(stdout.contains("--- stdout ---\nhi\n5"), "{stdout}");
    // Told wrong, it says what is missing.
    let out = run(&["--", "true"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-price"));
    let out = run(&["--max-price", "50"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("after `--`"));
}

/// Output piped to a reader that stops reading (`| head`, `| true`) ends the
/// command quietly: it panicked with "failed printing to stdout".
#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let keystore = dir.path().join("k.json");
    new_wallet(&keystore);
    for _ in 0..5 {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "'{}' wallet show --keystore '{}' | true; exit ${{PIPESTATUS[0]}}",
                env!("CARGO_BIN_EXE_gpunet"),
                keystore.display()
            ))
            .env("GPUNET_PASSPHRASE", PASSPHRASE)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
}

#[test]
fn a_dry_run_shows_the_offers_and_their_cost_and_submits_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let net = SoloNode::start(dir.path(), &[]);
    let job = |extra: &[&str]| -> Vec<String> {
        let flags = [
            "job",
            "run",
            "--dry-run",
            "--image",
            "gpunet/busybox",
            "--timeout",
            "60s",
        ];
        // The command goes last, after the global options.
        let mut args = net.with(&[&flags[..], extra].concat());
        args.extend(["--".to_string(), "true".to_string()]);
        args
    };
    // The client commands' global options ask for JSON; people read text.
    let text = |mut args: Vec<String>| -> String {
        let output = args.iter().position(|a| a == "--output").unwrap() + 1;
        args[output] = "text".into();
        ok(&args)
    };
    let balance = || json(&net.with(&["wallet", "balance"]))["account"]["balance"].clone();
    let before = balance();

    let none = text(job(&["--max-price", "5"]));
    assert!(
        none.starts_with("dry run, nothing submitted: no machine can take job \"true\": no machine is registered"),
        "{none}"
    );

    let _agent = net.start_agent(&dir.path().join("agent"));
    assert!(
        eventually(Duration::from_secs(120), || net.online_machines() == 1),
        "the agent registers its machine and proves it"
    );
    let machine = json(&net.with(&["machines", "list"]))[0]["machine"].clone();

    // The agent asks 1 GPN/hour: 60 s of it cost at most 1/60 GPN, the
    // deposit covers the whole timeout at the max price.
    let offered = json(&job(&["--max-price", "5"]));
    assert_eq!(offered["submitted"], false);
    assert_eq!(
        (offered["machines"].as_u64(), offered["fitting"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(offered["offers"][0]["machine"], machine);
    assert_eq!(offered["offers"][0]["price_per_hour"], "1.000000");
    assert_eq!(offered["offers"][0]["max_cost"], "0.016667");
    assert_eq!(offered["deposit"], "0.083334");
    let shown = text(job(&["--max-price", "5"]));
    assert!(
        shown.contains("1 of 1 machines could take job \"true\" now; the cheapest:")
            && shown.contains(&format!("machine {machine} ("))
            && shown.contains("1.000000 GPN/hour, at most 0.016667 GPN for its 60 s timeout"),
        "{shown}"
    );

    // Under its price, and asking more cores than it has: none fits, and why.
    let cheap = text(job(&["--max-price", "0.5", "--cpu", "64"]));
    assert!(
        cheap.contains("no machine can take job \"true\" now (none of 1 machines):")
            && cheap.contains("1 with the job costs more on it than your max of 0.500000 GPN/hour")
            && cheap.contains("1 with fewer than 64 free cores"),
        "{cheap}"
    );
    // A spec no order could have is refused as submitting it would be.
    let refused = json_error(&job(&["--max-price", "5", "--cpu", "100000"]));
    assert_eq!(refused["code"], "impossible_spec", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("cpu must be 1..=1024, not 100000"),
        "{refused}"
    );

    assert_eq!(json(&net.with(&["job", "list"])), serde_json::json!([]));
    assert_eq!(balance(), before, "a dry run costs nothing");
}

#[test]
fn a_new_key_is_sealed_with_the_passphrase_and_opens_only_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let keystore = dir.path().join("me.json");
    let address = new_wallet(&keystore);
    let file = std::fs::read_to_string(&keystore).unwrap();
    let sealed: serde_json::Value = serde_json::from_str(&file).unwrap();
    assert_eq!(sealed["address"], address.as_str());
    assert_eq!(sealed["crypto"]["kdf"], "argon2id", "{file}");
    assert!(sealed.get("secret_key").is_none(), "{file}");
    let show = |passphrase: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gpunet"));
        command.args([
            "wallet",
            "show",
            "--keystore",
            path(&keystore),
            "-o",
            "json",
        ]);
        match passphrase {
            Some(p) => command.env("GPUNET_PASSPHRASE", p),
            None => command.env_remove("GPUNET_PASSPHRASE"),
        };
        command.stdin(std::process::Stdio::null()).output().unwrap()
    };
    let shown = show(Some(PASSPHRASE));
    assert!(shown.status.success(), "{shown:?}");
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["address"], address.as_str());

    let wrong = show(Some("not it"));
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("wrong passphrase"),
        "{wrong:?}"
    );
    // No passphrase and no terminal to ask on: it says how to give one.
    let none = show(None);
    assert!(!none.status.success());
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("set GPUNET_PASSPHRASE"),
        "{none:?}"
    );

    // Without a passphrase a key is made only when asked to be plaintext.
    let plain = dir.path().join("plain.json");
    let refused = Command::new(env!("CARGO_BIN_EXE_gpunet"))
        .args(["wallet", "new", "--keystore", path(&plain)])
        .env_remove("GPUNET_PASSPHRASE")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!refused.status.success() && !plain.exists(), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--plaintext"),
        "{refused:?}"
    );
    let made = Command::new(env!("CARGO_BIN_EXE_gpunet"))
        .args([
            "wallet",
            "new",
            "--plaintext",
            "--keystore",
            path(&plain),
            "-o",
            "json",
        ])
        .env_remove("GPUNET_PASSPHRASE")
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let made: serde_json::Value = serde_json::from_slice(&made.stdout).unwrap();
    assert_eq!(made["sealed"], false);
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plain).unwrap()).unwrap();
    assert!(file["secret_key"].is_string(), "{file}");
}

/// The value of the sample `series` (name and labels, as written) in a
/// Prometheus text scrape.
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

/// What Prometheus gets from `url` (curl, as an operator checks it).
fn scrape(url: &str) -> String {
    let out = Command::new("curl")
        .args(["-sSk", "--max-time", "10", url])
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "{url}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_node_and_the_agent_serve_prometheus_metrics_of_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let net = SoloNode::start(dir.path(), &[]);
    let agent_metrics = format!("127.0.0.1:{}", free_port());
    // Long enough to be paid for at 1 GPN an hour.
    let _agent = net.run_one_job(
        dir.path(),
        &["--metrics-listen", &agent_metrics],
        "sleep 3; echo hi",
    );
    let order = json(&net.with(&["job", "describe", "0"]));
    assert_eq!(order["status"], "settled", "{order}");
    assert_ne!(
        order["settlement"]["paid_to_provider"], "0.000000",
        "{order}"
    );

    let api = net.address.split('#').next().unwrap();
    let node = scrape(&format!("{api}/metrics"));
    assert!(node.ends_with("# EOF\n"), "{node}");
    let status = json(&net.with(&["status"]));
    assert!(
        sample(&node, "gpunet_height").unwrap() >= status["height"].as_f64().unwrap() - 5.0,
        "{node}"
    );
    for (series, expected) in [
        ("gpunet_machines{state=\"registered\"}", 1.0),
        ("gpunet_machines{state=\"verified\"}", 1.0),
        ("gpunet_orders{state=\"pending\"}", 0.0),
        ("gpunet_ledger_events_total{kind=\"order_settled\"}", 1.0),
        ("gpunet_ledger_events_total{kind=\"challenge_passed\"}", 1.0),
    ] {
        assert_eq!(sample(&node, series), Some(expected), "{series} in\n{node}");
    }
    let gpn = |amount: &serde_json::Value| -> f64 { amount.as_str().unwrap().parse().unwrap() };
    for kind in ["genesis", "burned", "minted"] {
        assert_eq!(
            sample(&node, &format!("gpunet_supply_gpn{{kind=\"{kind}\"}}")),
            Some(gpn(&status["supply"][kind])),
            "{kind} in\n{node}"
        );
    }
    assert!(
        sample(&node, "gpunet_txs_submitted_total{result=\"included\"}").unwrap() >= 3.0,
        "register, the order, the report: {node}"
    );
    assert_eq!(
        sample(&node, "gpunet_tx_finality_seconds_count"),
        sample(&node, "gpunet_txs_submitted_total{result=\"included\"}"),
        "{node}"
    );
    let power = format!("gpunet_validator_power{{validator=\"{}\"}}", net.validator);
    assert!(sample(&node, &power).unwrap() >= 1.0, "{node}");

    // A refused transaction is counted by its code.
    let refused = gpunet(&net.with(&["wallet", "transfer", &net.validator, "1000000"]));
    assert!(!refused.status.success());
    let node = scrape(&format!("{api}/metrics"));
    assert_eq!(
        sample(
            &node,
            "gpunet_txs_submitted_total{result=\"insufficient_funds\"}"
        ),
        Some(1.0),
        "{node}"
    );

    let agent = scrape(&format!("http://{agent_metrics}/metrics"));
    assert!(agent.ends_with("# EOF\n"), "{agent}");
    for (series, expected) in [
        (
            "gpunet_agent_runs_total{machine=\"0\",outcome=\"completed\"}",
            1.0,
        ),
        (
            "gpunet_agent_challenges_total{machine=\"0\",outcome=\"passed\"}",
            1.0,
        ),
        ("gpunet_agent_leases{machine=\"0\",kind=\"job\"}", 0.0),
    ] {
        assert_eq!(
            sample(&agent, series),
            Some(expected),
            "{series} in\n{agent}"
        );
    }
    // Every metric the Grafana dashboard in the repository queries exists.
    let dashboard = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/grafana/gpunet.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dashboard).unwrap()).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    for expr in panels.iter().flat_map(|p| p["targets"].as_array().unwrap()) {
        let expr = expr["expr"].as_str().unwrap();
        for name in expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| word.starts_with("gpunet_"))
        {
            let family = ["_total", "_bucket", "_count", "_sum"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            assert!(
                node.contains(&format!("# TYPE {family} "))
                    || agent.contains(&format!("# TYPE {family} ")),
                "the dashboard queries {name}, which no scrape has"
            );
        }
    }
    assert_eq!(
        sample(&agent, "gpunet_agent_earned_gpn_total{machine=\"0\"}"),
        Some(gpn(&order["settlement"]["paid_to_provider"])),
        "{agent}"
    );
}

/// An API request as a user's program makes it (curl), and its answer:
/// status, content type and body.
struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

fn request(method: &str, url: &str, body: Option<(&str, &[u8])>) -> Answer {
    let mut curl = Command::new("curl");
    curl.args(["-sSk", "--max-time", "20", "-X", method, url])
        .args(["-w", "%{stderr}%{http_code} %{content_type}"]);
    if let Some((content_type, _)) = body {
        curl.args(["-H", &format!("content-type: {content_type}")])
            .args(["--data-binary", "@-"]);
    }
    let mut child = curl
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("curl runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        if let Some((_, bytes)) = body {
            stdin.write_all(bytes).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    let written = String::from_utf8(out.stderr).unwrap();
    let (status, content_type) = written.split_once(' ').unwrap_or((&written, ""));
    Answer {
        status: status
            .parse()
            .unwrap_or_else(|_| panic!("{method} {url}: {written}")),
        content_type: content_type.to_string(),
        body: out.stdout,
    }
}

/// Checks `answer` against what `document` says operation `method
/// template` answers with its status: a documented status, a documented
/// content type, and a JSON body valid under the schema it names.
fn assert_documented(document: &serde_json::Value, method: &str, template: &str, answer: &Answer) {
    let what = format!("{method} {template} answering {}", answer.status);
    let media = answer.content_type.split(';').next().unwrap().trim();
    let content = documented_content(document, method, template, answer.status, media);
    if media != "application/json" {
        return;
    }
    let body: serde_json::Value =
        serde_json::from_slice(&answer.body).unwrap_or_else(|e| panic!("{what}: not JSON ({e})"));
    let errors = schema_errors(document, &content["schema"], &body);
    assert!(errors.is_empty(), "{what}: {errors:#?}\nin {body:#}");
}

/// What `document` says operation `method template` answers with `status`
/// in content type `media`.
fn documented_content(
    document: &serde_json::Value,
    method: &str,
    template: &str,
    status: u16,
    media: &str,
) -> serde_json::Value {
    let what = format!("{method} {template} answering {status}");
    let operation = &document["paths"][template][method.to_lowercase()];
    assert!(
        operation.is_object(),
        "{what}: no such operation documented"
    );
    let response = &operation["responses"][status.to_string()];
    assert!(response.is_object(), "{what}: status not documented");
    let content = &response["content"][media];
    assert!(
        content.is_object(),
        "{what}: content type {media} not documented: {response}"
    );
    content.clone()
}

/// Why `body` is not valid under `schema`, whose `$ref`s point into
/// `document`'s components (none when it is).
fn schema_errors(
    document: &serde_json::Value,
    schema: &serde_json::Value,
    body: &serde_json::Value,
) -> Vec<String> {
    let schema = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": document["components"],
        "allOf": [schema],
    });
    let validator = jsonschema::draft202012::new(&schema)
        .unwrap_or_else(|e| panic!("the document's schema does not compile: {e}"));
    validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn the_api_answers_as_its_openapi_document_says_on_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let net = SoloNode::start(dir.path(), &[]);
    let agent_endpoint = format!("127.0.0.1:{}", free_port());
    let _agent = net.run_one_job(
        dir.path(),
        &["--metrics-listen", &agent_endpoint],
        "echo hi",
    );

    let api = net.address.split('#').next().unwrap();
    let document: serde_json::Value =
        serde_json::from_str(&scrape(&format!("{api}/v1/openapi.json"))).unwrap();
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1"),
        "{document}"
    );
    let order: serde_json::Value =
        serde_json::from_slice(&request("GET", &format!("{api}/v1/orders/0"), None).body).unwrap();
    let client = order["client"].as_str().unwrap().to_string();
    let provider = order["lease"]["provider"]
        .as_str()
        .or(order["provider"].as_str())
        .map(String::from);
    let machine: serde_json::Value =
        serde_json::from_slice(&request("GET", &format!("{api}/v1/machines/0"), None).body)
            .unwrap();
    let provider = provider.unwrap_or_else(|| machine["owner"].as_str().unwrap().to_string());
    let dry_run = |spec: &serde_json::Value| {
        serde_json::json!({"spec": spec, "max_price_per_hour": "5", "rental": false}).to_string()
    };
    let mut impossible = order["spec"].clone();
    impossible["audit_bps"] = 20_000.into();
    let blob = "ab".repeat(32);
    let json = "application/json";
    let bytes = "application/octet-stream";

    // A request's content type and bytes.
    type Body = Option<(&'static str, Vec<u8>)>;
    // (method, documented path, the path asked, body, status expected)
    let calls: Vec<(&str, &str, String, Body, u16)> = vec![
        (
            "GET",
            "/v1/openapi.json",
            "/v1/openapi.json".into(),
            None,
            200,
        ),
        ("GET", "/metrics", "/metrics".into(), None, 200),
        ("GET", "/v1/status", "/v1/status".into(), None, 200),
        ("GET", "/v1/peers", "/v1/peers".into(), None, 200),
        ("GET", "/v1/snapshots", "/v1/snapshots".into(), None, 200),
        (
            "GET",
            "/v1/snapshots/{height}/{file}",
            "/v1/snapshots/1/manifest".into(),
            None,
            404,
        ),
        (
            "GET",
            "/v1/snapshots/{height}/{file}",
            "/v1/snapshots/1/nonsense".into(),
            None,
            400,
        ),
        (
            "GET",
            "/v1/blocks/{height}",
            "/v1/blocks/1".into(),
            None,
            200,
        ),
        (
            "GET",
            "/v1/blocks/{height}",
            "/v1/blocks/99999999".into(),
            None,
            404,
        ),
        (
            "GET",
            "/v1/blocks/{height}",
            "/v1/blocks/first".into(),
            None,
            400,
        ),
        (
            "GET",
            "/v1/events",
            "/v1/events?address=nobody".into(),
            None,
            400,
        ),
        (
            "GET",
            "/v1/accounts/{address}",
            format!("/v1/accounts/{client}"),
            None,
            200,
        ),
        (
            "GET",
            "/v1/accounts/{address}",
            format!("/v1/accounts/{}", "00".repeat(32)),
            None,
            400,
        ),
        (
            "GET",
            "/v1/accounts/{address}/orders",
            format!("/v1/accounts/{client}/orders?limit=5"),
            None,
            200,
        ),
        (
            "GET",
            "/v1/providers/{address}/leases",
            format!("/v1/providers/{provider}/leases"),
            None,
            200,
        ),
        // Nobody here announced a data-plane peer yet.
        (
            "GET",
            "/v1/accounts/{address}/peer",
            format!("/v1/accounts/{client}/peer"),
            None,
            404,
        ),
        (
            "GET",
            "/v1/accounts/{address}/peer",
            "/v1/accounts/nobody/peer".into(),
            None,
            400,
        ),
        ("GET", "/v1/machines", "/v1/machines".into(), None, 200),
        (
            "GET",
            "/v1/machines",
            "/v1/machines?q=cpu%3E%3D1&order=-gops&limit=1".into(),
            None,
            200,
        ),
        (
            "GET",
            "/v1/machines",
            "/v1/machines?q=cpu%3E%3Dmany".into(),
            None,
            400,
        ),
        (
            "GET",
            "/v1/machines/closest",
            "/v1/machines/closest?q=num_gpus%3E%3D8".into(),
            None,
            200,
        ),
        (
            "GET",
            "/v1/machines/{id}",
            "/v1/machines/0".into(),
            None,
            200,
        ),
        (
            "GET",
            "/v1/machines/{id}",
            "/v1/machines/7".into(),
            None,
            404,
        ),
        (
            "GET",
            "/v1/challenges/{id}",
            "/v1/challenges/0".into(),
            None,
            404,
        ),
        (
            "GET",
            "/v1/challenges/{id}",
            "/v1/challenges/zero".into(),
            None,
            400,
        ),
        ("GET", "/v1/orders/{id}", "/v1/orders/0".into(), None, 200),
        ("GET", "/v1/orders/{id}", "/v1/orders/9".into(), None, 404),
        (
            "GET",
            "/v1/orders/{id}/unmatched",
            "/v1/orders/0/unmatched?closest=2".into(),
            None,
            200,
        ),
        (
            "POST",
            "/v1/orders/dry-run",
            "/v1/orders/dry-run".into(),
            Some((json, dry_run(&order["spec"]).into_bytes())),
            200,
        ),
        (
            "POST",
            "/v1/orders/dry-run",
            "/v1/orders/dry-run".into(),
            Some((json, dry_run(&impossible).into_bytes())),
            422,
        ),
        (
            "POST",
            "/v1/orders/dry-run",
            "/v1/orders/dry-run".into(),
            Some((json, b"{}".to_vec())),
            422,
        ),
        (
            "POST",
            "/v1/tx",
            "/v1/tx".into(),
            Some((bytes, b"not a transaction".to_vec())),
            400,
        ),
        (
            "POST",
            "/v1/tx",
            "/v1/tx".into(),
            Some((json, br#"{"tx": "zz"}"#.to_vec())),
            400,
        ),
        (
            "PUT",
            "/v1/blobs",
            "/v1/blobs".into(),
            Some((bytes, b"data".to_vec())),
            401,
        ),
        (
            "GET",
            "/v1/blobs/{hash}",
            format!("/v1/blobs/{blob}"),
            None,
            401,
        ),
        (
            "GET",
            "/v1/blobs/{hash}/holder-proof",
            format!("/v1/blobs/{blob}/holder-proof"),
            None,
            401,
        ),
        (
            "POST",
            "/v1/orders/{id}/logs",
            "/v1/orders/0/logs".into(),
            Some((bytes, b"no chunk".to_vec())),
            400,
        ),
        (
            "GET",
            "/v1/orders/{id}/logs/{stream}",
            "/v1/orders/0/logs/stdout".into(),
            None,
            401,
        ),
    ];
    let mut asked = std::collections::BTreeSet::new();
    for (method, template, path, body, expected) in &calls {
        let answer = request(
            method,
            &format!("{api}{path}"),
            body.as_ref().map(|(t, b)| (*t, b.as_slice())),
        );
        assert_eq!(
            answer.status,
            *expected,
            "{method} {path}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_documented(&document, method, template, &answer);
        asked.insert((method.to_lowercase(), template.to_string()));
    }
    // The check can fail: an answer off its schema is caught.
    let status = documented_content(&document, "GET", "/v1/status", 200, "application/json");
    let mut wrong: serde_json::Value =
        serde_json::from_slice(&request("GET", &format!("{api}/v1/status"), None).body).unwrap();
    wrong["supply"]["burned"] = 12.into();
    assert_eq!(
        schema_errors(&document, &status["schema"], &wrong).len(),
        1,
        "an amount as a number is off the schema"
    );
    // Every operation the document lists was asked, and answered as it says.
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            assert!(
                asked.contains(&(method.clone(), path.clone())),
                "{method} {path} is documented but this test never asks it"
            );
        }
    }
    // What no route takes is an error of the documented shape too.
    for (method, path, status) in [("GET", "/v1/nothing", 404), ("DELETE", "/v1/status", 405)] {
        let answer = request(method, &format!("{api}{path}"), None);
        assert_eq!(answer.status, status);
        let error: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        let codes = &document["components"]["schemas"]["ErrorCode"]["enum"];
        assert!(
            codes.as_array().unwrap().contains(&error["code"]),
            "{error} has a code the document lists"
        );
    }

    // The agent's endpoint documents itself the same way.
    let agent = format!("http://{agent_endpoint}");
    let document: serde_json::Value =
        serde_json::from_str(&scrape(&format!("{agent}/v1/openapi.json"))).unwrap();
    let paths: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
    assert_eq!(paths, ["/metrics", "/v1/openapi.json"], "{document}");
    for path in paths {
        let answer = request("GET", &format!("{agent}{path}"), None);
        assert_eq!(answer.status, 200, "{path}");
        assert_documented(&document, "GET", path, &answer);
    }
}

/// What headless Chromium makes of `url`: the page's DOM once loaded, and
/// every message the page wrote to its console (errors, failed loads).
/// With `screenshot`, a picture of the page is saved there too.
fn browse(url: &str, screenshot: Option<&Path>) -> (String, Vec<String>) {
    let chromium = |extra: &[String]| {
        Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                // The node's certificate is its own key's, which a browser
                // cannot pin.
                "--ignore-certificate-errors",
                "--enable-logging=stderr",
                "--v=0",
            ])
            .args(extra)
            .arg(url)
            .output()
            .expect("chromium runs (apt-get install chromium)")
    };
    let out = chromium(&["--dump-dom".to_string()]);
    assert!(out.status.success(), "chromium on {url}: {out:?}");
    let logged = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|line| line.contains(":CONSOLE") || line.contains("Failed to load"))
        .map(String::from)
        .collect();
    if let Some(file) = screenshot {
        let shot = chromium(&[
            format!("--screenshot={}", file.display()),
            "--window-size=1280,1400".to_string(),
            "--hide-scrollbars".to_string(),
        ]);
        assert!(shot.status.success() && file.exists(), "{shot:?}");
    }
    (String::from_utf8(out.stdout).unwrap(), logged)
}

/// The texts of the elements `dom` marks `data-figure="name"`, in order.
fn figures(dom: &str, name: &str) -> Vec<String> {
    let marker = format!("data-figure=\"{name}\"");
    dom.match_indices(&marker)
        .filter_map(|(at, _)| {
            let rest = &dom[at..];
            let text = &rest[rest.find('>')? + 1..];
            Some(text[..text.find('<')?].trim().to_string())
        })
        .collect()
}

/// The one figure `name` on a page.
fn figure(dom: &str, name: &str) -> String {
    let found = figures(dom, name);
    assert_eq!(found.len(), 1, "figure {name}: {found:?}");
    found[0].clone()
}

/// A console amount (`12.5 GPN`) in base units.
fn console_gpn(text: &str) -> u128 {
    parse_amount(text.strip_suffix(" GPN").unwrap()).unwrap()
}

#[test]
fn the_web_console_shows_in_a_browser_what_the_api_says() {
    let dir = tempfile::tempdir().unwrap();
    let console = format!("127.0.0.1:{}", free_port());
    let net = SoloNode::start(dir.path(), &["--console-listen", &console]);
    let _agent = net.run_one_job(dir.path(), &[], "sleep 2; echo hi");
    let api = net.address.split('#').next().unwrap();
    let get = |path: &str| -> serde_json::Value {
        serde_json::from_str(&scrape(&format!("{api}{path}"))).unwrap()
    };
    let console = format!("http://{console}");
    let order = get("/v1/orders/0");
    assert_eq!(order["status"], "settled", "{order}");
    let client = order["client"].as_str().unwrap().to_string();
    let machine = get("/v1/machines/0");
    let provider = machine["owner"].as_str().unwrap().to_string();
    let screenshots = std::env::var_os("GPUNET_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("screenshots"));
    std::fs::create_dir_all(&screenshots).unwrap();

    // Every page loads with nothing logged to the browser's console.
    let page = |name: &str, path: &str| -> String {
        let (dom, logged) = browse(
            &format!("{console}{path}"),
            Some(&screenshots.join(format!("{name}.png"))),
        );
        assert!(logged.is_empty(), "{path} logged {logged:#?}");
        assert!(dom.contains("<nav>"), "{path}: {dom}");
        dom
    };

    let before = get("/v1/status");
    let overview = page("overview", "/");
    let after = get("/v1/status");
    let height: u64 = figure(&overview, "height").parse().unwrap();
    assert!(
        (before["height"].as_u64().unwrap()..=after["height"].as_u64().unwrap()).contains(&height),
        "{height} between {before} and {after}"
    );
    assert_eq!(figure(&overview, "machines"), "1");
    assert_eq!(figure(&overview, "machines-verified"), "1");
    assert_eq!(
        console_gpn(&figure(&overview, "burned")),
        gpn(&after["supply"]["burned"]),
        "the job's burned share"
    );
    assert_eq!(figures(&overview, "validator-power").len(), 1);
    assert!(overview.matches("<svg").count() >= 2, "two charts");

    let machine_page = page("machine", "/machines/0");
    assert_eq!(
        figure(&machine_page, "gops"),
        format!("{} Gops", machine["compute_gops"])
    );
    assert_eq!(
        figure(&machine_page, "challenges-passed"),
        machine["challenges_passed"].to_string()
    );
    assert_eq!(
        figure(&machine_page, "completed"),
        machine["completed"].to_string()
    );

    let search = page("machines", "/machines?q=cpu%3E%3D1&order=-gops");
    assert_eq!(figure(&search, "matched"), "1");
    let none = page("machines-none", "/machines?q=gpu_model%3DH100");
    assert_eq!(figure(&none, "matched"), "0");
    assert!(none.contains("Closest offers"), "{none}");

    let order_page = page("order", "/orders/0");
    assert_eq!(figure(&order_page, "status"), "settled");
    assert_eq!(figure(&order_page, "outcome"), "completed");
    assert_eq!(
        console_gpn(&figure(&order_page, "paid-to-provider")),
        gpn(&order["settlement"]["paid_to_provider"])
    );
    assert_eq!(
        console_gpn(&figure(&order_page, "deposit")),
        gpn(&order["deposit"])
    );
    assert!(page("orders", "/orders").contains("data-order=\"0\""));

    let account = get(&format!("/v1/accounts/{client}"));
    let account_page = page("account", &format!("/accounts/{client}"));
    assert_eq!(
        console_gpn(&figure(&account_page, "balance")),
        gpn(&account["account"]["balance"])
    );
    let provider_page = page("provider", &format!("/accounts/{provider}"));
    assert!(provider_page.contains("data-machine=\"0\""));

    let blocks = page("blocks", "/blocks");
    assert!(blocks.contains("/blocks/1\""), "{blocks}");
    let block = get("/v1/blocks/1");
    let block_page = page("block", "/blocks/1");
    assert_eq!(figure(&block_page, "block-hash"), block["hash"]);
    assert_eq!(
        figures(&block_page, "tx-kind").len(),
        block["block"]["txs"].as_array().unwrap().len()
    );

    let reference = page("api", "/api");
    let document = get("/v1/openapi.json");
    for path in document["paths"].as_object().unwrap().keys() {
        assert!(reference.contains(path.as_str()), "/api lacks {path}");
    }

    // A page that is not there says so, in HTML, with its status.
    for (path, status) in [
        ("/machines/7", 404),
        ("/orders/nine", 400),
        ("/machines?q=cpu%3E%3Dmany", 400),
    ] {
        let answer = request("GET", &format!("{console}{path}"), None);
        assert_eq!(answer.status, status, "{path}");
        assert!(answer.content_type.starts_with("text/html"), "{path}");
    }
    // The API's TLS listener serves the same pages (to clients that pin its
    // key), and the console's listener the metrics and the API document.
    let over_tls = request("GET", &format!("{api}/machines/0"), None);
    assert_eq!(over_tls.status, 200);
    assert!(String::from_utf8_lossy(&over_tls.body).contains("Compute score"));
    assert!(scrape(&format!("{console}/metrics")).contains("gpunet_height"));
    assert_eq!(
        get("/v1/openapi.json"),
        serde_json::from_str::<serde_json::Value>(&scrape(&format!("{console}/v1/openapi.json")))
            .unwrap()
    );
}
