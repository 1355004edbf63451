//! Real workloads through a devnet whose providers run jobs in Docker
//! containers: the examples under `examples/` as a user runs them.

use super::*;

/// Builds (once per machine: the image carries its script's hash) an
/// example's image with `scripts/images/NAME.sh`, and returns its id, which
/// makes a job naming it deterministic.
pub(super) fn example_image(name: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/images")
        .join(format!("{name}.sh"));
    let out = Command::new(&script)
        .output()
        .expect("the image script runs");
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        id.starts_with("sha256:"),
        "the script prints the image id: {id}"
    );
    id
}

fn example(name: &str) -> String {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    path(&file).to_string()
}

/// `global` (a devnet's options) followed by `args`.
fn with_global(global: &[String], args: &[&str]) -> Vec<String> {
    global
        .iter()
        .map(String::as_str)
        .chain(args.iter().copied())
        .map(String::from)
        .collect()
}

/// The BLAKE3 of a file, as the API writes hashes.
fn blake3_hex(file: &Path) -> String {
    let (hash, _, _) = gpunet_primitives::BlobHasher::of_file(file).unwrap();
    hash.to_string()
}

#[test]
fn a_model_trained_and_audited_on_the_devnet_feeds_an_inference_job_chained_to_its_output() {
    let image = example_image("pytorch");
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, global) = devnet_with(dir.path(), 2, "docker");
    let with = |args: &[&str]| with_global(&global, args);

    // Training, pinned by the image's id: deterministic, so audited.
    let training = example("training/training.toml");
    let trained = json(&with(&[
        "job",
        "run",
        &training,
        "--image",
        &image,
        "--wait",
        "--wait-for",
        "15m",
    ]));
    assert_eq!(trained["status"], "settled", "{trained}");
    assert_eq!(trained["spec"]["image"], image.as_str(), "{trained}");
    // The audit ran the job again on the other machine and got the same bytes.
    assert_eq!(trained["audit_verdict"], "agreed", "{trained}");
    let audit_id = trained["audit_runs"][0].to_string();
    let audit = json(&with(&["job", "describe", &audit_id]));
    assert_ne!(
        audit["lease"]["machine"], trained["lease"]["machine"],
        "the audit ran on another machine: {audit}"
    );
    assert_eq!(
        audit["result"]["root"], trained["result"]["root"],
        "{audit}"
    );

    let id = trained["order"].to_string();
    let results = dir.path().join("training");
    ok(&with(&["job", "get", &id, "--out", path(&results)]));
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(results.join("outputs/metrics.json")).unwrap())
            .unwrap();
    let epochs = metrics["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 40, "{metrics}");
    let (first, last) = (&epochs[0], &epochs[39]);
    assert!(
        last["loss"].as_f64() < first["loss"].as_f64(),
        "the loss fell: {metrics}"
    );
    assert!(
        last["test_accuracy"].as_f64().unwrap() > 0.9,
        "it learned: {metrics}"
    );

    // Inference reads the model from the training job's result: the same
    // bytes (by hash), which the client never downloaded for it.
    let inference = example("inference/inference.toml");
    let inferred = json(&with(&[
        "job",
        "run",
        &inference,
        "--inputs-from",
        &id,
        "--image",
        &image,
        "--wait",
    ]));
    assert_eq!(inferred["status"], "settled", "{inferred}");
    let model_input = inferred["spec"]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"] == "model.pt")
        .unwrap_or_else(|| panic!("{inferred}"));
    assert_eq!(
        model_input["hash"].as_str().unwrap(),
        blake3_hex(&results.join("outputs/model.pt")),
        "{inferred}"
    );
    let predictions = dir.path().join("inference");
    let inferred_id = inferred["order"].to_string();
    ok(&with(&[
        "job",
        "get",
        &inferred_id,
        "--out",
        path(&predictions),
    ]));
    let accuracy: serde_json::Value =
        serde_json::from_slice(&std::fs::read(predictions.join("outputs/accuracy.json")).unwrap())
            .unwrap();
    assert_eq!(accuracy["images"], 297, "{accuracy}");
    let correct = accuracy["correct"].as_u64().unwrap();
    // The model classifies the held-out images as well as its training measured.
    let measured = (last["test_accuracy"].as_f64().unwrap() * 297.0).round() as u64;
    assert_eq!(correct, measured, "{accuracy} {metrics}");
    let csv = std::fs::read_to_string(predictions.join("outputs/predictions.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 297, "{csv}");
}

#[test]
fn an_input_from_an_earlier_result_needs_the_order_it_comes_from() {
    let inference = example("inference/inference.toml");
    let out = gpunet(&["job", "run", &inference, "--dry-run"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("input model.pt needs either `source`")
            && said.contains("--inputs-from ORDER"),
        "{said}"
    );
    let hello = example("hello.toml");
    let out = gpunet(&["job", "run", &hello, "--inputs-from", "3", "--dry-run"]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("no input names a file of an earlier result"),
        "{said}"
    );
}

/// The program a client of the ZK example runs, as the image holds it (a
/// static binary): what `docker cp` gives a user without a Rust toolchain.
fn zk_program(image: &str, into: &Path) -> std::path::PathBuf {
    let docker = |args: &[&str]| {
        let out = Command::new("docker").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let container = docker(&["create", image]);
    let program = into.join("gpunet-zk");
    docker(&["cp", &format!("{container}:/bin/gpunet-zk"), path(&program)]);
    docker(&["rm", &container]);
    program
}

#[test]
fn a_zk_proof_made_on_the_devnet_passes_the_clients_check_and_a_forged_one_fails_it() {
    let image = example_image("zk");
    let dir = tempfile::tempdir().unwrap();
    let zk = zk_program(&image, dir.path());
    let zk = path(&zk);
    // The example as a user copies it: its keys beside its job file.
    let example_dir = dir.path().join("zk");
    std::fs::create_dir(&example_dir).unwrap();
    let job_file = example_dir.join("prove.toml");
    std::fs::copy(example("zk/prove.toml"), &job_file).unwrap();
    let keys = example_dir.join("keys");
    let setup = Command::new(zk)
        .args(["setup", "--rounds", "4096", "--out", path(&keys)])
        .output()
        .unwrap();
    assert!(setup.status.success(), "{setup:?}");
    let verifying = keys.join("verifying.key");

    let (_devnet, global) = devnet_with(dir.path(), 1, "docker");
    let with = |args: &[&str]| with_global(&global, args);
    let proved = json(&with(&[
        "job",
        "run",
        path(&job_file),
        "--image",
        &image,
        "--wait",
    ]));
    assert_eq!(proved["status"], "settled", "{proved}");
    let id = proved["order"].to_string();
    let check = format!("{zk} verify --key {} --seed gpunet", path(&verifying));
    let result = dir.path().join("proved");
    let got = json(&with(&[
        "job",
        "get",
        &id,
        "--out",
        path(&result),
        "--check",
        &check,
    ]));
    let said = got["check"]["output"].as_str().unwrap_or_default();
    assert!(said.starts_with("verified: f^4096(\"gpunet\") = "), "{got}");
    let claim: serde_json::Value =
        serde_json::from_slice(&std::fs::read(result.join("outputs/claim.json")).unwrap()).unwrap();
    assert!(
        said.contains(claim["output"].as_str().unwrap()),
        "{got} {claim}"
    );

    // The check is the client's: the same result does not pass a check
    // for another seed, and `job get` says so with a stable code.
    let error = json_error(&with(&[
        "job",
        "get",
        &id,
        "--out",
        path(&dir.path().join("other")),
        "--check",
        &format!("{zk} verify --key {} --seed other", path(&verifying)),
    ]));
    assert_eq!(error["code"], "check_failed", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("the result is for seed \"gpunet\", not \"other\"")
            && message.contains("its files are in"),
        "{message}"
    );
    assert!(dir.path().join("other/outputs/proof.bin").exists());

    // A forgery: a proof of another seed's chain, its claim rewritten to
    // name the seed the client asked for (a provider passing off a result
    // it had at hand). The order settles (nothing on chain can tell), and
    // the check catches it.
    let forger = "gpunet-zk prove --key \"$GPUNET_INPUT_DIR/proving.key\" --seed cached \
                  --out \"$GPUNET_OUTPUT_DIR\" && \
                  sed -i 's/\"seed\": \"cached\"/\"seed\": \"gpunet\"/' \"$GPUNET_OUTPUT_DIR/claim.json\"";
    let forged = json(&with(&[
        "job",
        "run",
        "--image",
        &image,
        "--input",
        path(&keys.join("proving.key")),
        "--max-price",
        "50",
        "--wait",
        "--",
        "sh",
        "-c",
        forger,
    ]));
    assert_eq!(forged["status"], "settled", "{forged}");
    let forged_id = forged["order"].to_string();
    let error = json_error(&with(&[
        "job",
        "get",
        &forged_id,
        "--out",
        path(&dir.path().join("forged")),
        "--check",
        &check,
    ]));
    assert_eq!(error["code"], "check_failed", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("the proof does not hold"),
        "{error}"
    );
}

#[test]
fn a_job_array_runs_every_index_over_the_machines_and_is_fetched_as_one() {
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, global) = devnet_with(dir.path(), 2, "process");
    let with = |args: &[&str]| with_global(&global, args);
    let script = "echo \"member $GPUNET_ARRAY_INDEX of $GPUNET_ARRAY_SIZE\" \
                  > \"$GPUNET_OUTPUT_DIR/member.txt\"; echo \"index $GPUNET_ARRAY_INDEX\"";
    let members = json(&with(&[
        "job",
        "run",
        "--image",
        "gpunet/busybox",
        "--max-price",
        "50",
        "--array",
        "4",
        "--wait",
        "--",
        "sh",
        "-c",
        script,
    ]));
    let members = members.as_array().unwrap_or_else(|| panic!("{members}"));
    assert_eq!(members.len(), 4);
    let first = members[0]["order"].as_u64().unwrap();
    let mut machines = Vec::new();
    for (index, member) in members.iter().enumerate() {
        assert_eq!(member["status"], "settled", "{member}");
        assert_eq!(member["order"], first + index as u64, "{member}");
        assert_eq!(member["array"]["first"], first, "{member}");
        assert_eq!(member["array"]["index"], index, "{member}");
        assert_eq!(member["array"]["size"], 4, "{member}");
        machines.push(member["lease"]["machine"].as_u64().unwrap());
    }
    machines.sort();
    machines.dedup();
    assert_eq!(machines.len(), 2, "spread over both machines: {members:?}");

    // Any member names the array.
    let last = (first + 3).to_string();
    let described = json(&with(&["job", "describe", &last, "--array"]));
    assert_eq!(&described, &serde_json::Value::Array(members.clone()));
    let text: Vec<String> = with(&["job", "describe", &last, "--array"]);
    let table = ok(&[&text[..4], &text[6..]].concat());
    assert!(table.contains(&format!("array {first} #3")), "{table}");

    let results = dir.path().join("array");
    let fetched = json(&with(&[
        "job",
        "get",
        &first.to_string(),
        "--array",
        "--out",
        path(&results),
    ]));
    assert_eq!(fetched.as_array().unwrap().len(), 4, "{fetched}");
    for index in 0..4 {
        assert_eq!(
            std::fs::read_to_string(results.join(format!("{index}/outputs/member.txt"))).unwrap(),
            format!("member {index} of 4\n")
        );
    }
    let logs = json(&with(&["job", "logs", &first.to_string(), "--array"]));
    for (index, member) in logs.as_array().unwrap().iter().enumerate() {
        assert_eq!(member["index"], index, "{logs}");
        assert_eq!(member["stdout"], format!("index {index}\n"), "{logs}");
    }

    // A plain order is no array, and says how to make one.
    let single = json(&with(&[
        "job",
        "run",
        "--image",
        "gpunet/busybox",
        "--max-price",
        "50",
        "--",
        "true",
    ]));
    let out = gpunet(&with(&[
        "job",
        "describe",
        &single["order"].to_string(),
        "--array",
    ]));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a member of a job array"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_render_array_spreads_its_frames_over_the_machines_and_comes_back_as_one() {
    example_image("blender");
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, global) = devnet_with(dir.path(), 2, "docker");
    let with = |args: &[&str]| with_global(&global, args);
    let render = example("render/render.toml");
    let members = json(&with(&[
        "job",
        "run",
        &render,
        "--array",
        "4",
        "--wait",
        "--wait-for",
        "10m",
    ]));
    let members = members.as_array().unwrap_or_else(|| panic!("{members}"));
    let mut machines: Vec<u64> = members
        .iter()
        .map(|m| {
            assert_eq!(m["status"], "settled", "{m}");
            assert_eq!(m["report"]["outcome"]["completed"]["exit_code"], 0, "{m}");
            m["lease"]["machine"].as_u64().unwrap()
        })
        .collect();
    machines.sort();
    machines.dedup();
    assert_eq!(machines.len(), 2, "the frames ran on both machines");

    let first = members[0]["order"].to_string();
    let frames = dir.path().join("frames");
    ok(&with(&[
        "job",
        "get",
        &first,
        "--array",
        "--out",
        path(&frames),
    ]));
    let mut hashes = Vec::new();
    for index in 0..4 {
        let member = frames.join(index.to_string());
        let png = member.join(format!("outputs/frame-{:04}.png", index + 1));
        let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{} is a PNG",
            png.display()
        );
        let stdout = std::fs::read_to_string(member.join("logs/stdout.log")).unwrap();
        assert!(
            stdout.contains(&format!("rendered frame {} of 4", index + 1)),
            "{stdout}"
        );
        hashes.push(blake3_hex(&png));
    }
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), 4, "four different views of the scene");
}

#[test]
fn the_training_benchmark_times_a_job_through_gpunet_against_the_same_process_run_directly() {
    let dir = tempfile::tempdir().unwrap();
    // A stand-in for train.py: says where it ran (a job without GPUs sees
    // none), and reports the speed it is told to, so the test knows what
    // the benchmark must read from each run's log.
    std::fs::write(
        dir.path().join("train.sh"),
        r#"device=gpu; [ -z "$CUDA_VISIBLE_DEVICES" ] && device=cpu
printf '{"device": "%s"}' "$device" > "$GPUNET_OUTPUT_DIR/metrics.json"
echo "epochs $EPOCHS"
[ -n "$REPORT_SPEED" ] && echo "trained $((1500 * EPOCHS)) samples in 1.00 s: $SPEED samples/s" >&2
exit 0
"#,
    )
    .unwrap();
    let job = dir.path().join("training.toml");
    std::fs::write(
        &job,
        r#"name = "stand-in"
image = "gpunet/pytorch"
command = ["sh", "-c", '. "$GPUNET_INPUT_DIR/train.sh"']
timeout_secs = 60
[[inputs]]
path = "train.sh"
source = "train.sh"
[price]
max_per_hour = "50"
"#,
    )
    .unwrap();
    let result = json(&[
        "--output",
        "json",
        "bench",
        "training",
        "--job",
        path(&job),
        "--executor",
        "process",
        "--epochs",
        "3",
        "--rounds",
        "2",
        "--env",
        "SPEED=4321",
    ]);
    assert_eq!(result["executor"], "process", "{result}");
    assert_eq!(result["gpus"], 0, "{result}");
    let rounds = result["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 2, "{result}");
    for round in rounds {
        assert_eq!(round["direct_samples_per_s"], 4321, "{result}");
        assert_eq!(round["gpunet_samples_per_s"], 4321, "{result}");
        assert_eq!(round["gpunet_device"], "cpu", "{result}");
        assert!(
            round["gpunet_ms"].as_u64() >= round["run_ms"].as_u64(),
            "the whole includes the run: {result}"
        );
    }
    let ratio: f64 = result["ratio"].as_str().unwrap().parse().unwrap();
    assert!(ratio > 0.0, "{result}");
}

/// `gpunet bench results`: one result handed over both ways; the validator
/// holds the files only when nodes keep them, and both fetches verified
/// what they got.
#[test]
fn the_results_benchmark_hands_a_result_over_both_ways() {
    let result = json(&[
        "--output", "json", "bench", "results", "--mib", "2", "--rounds", "1",
    ]);
    let ways = result["ways"].as_array().unwrap();
    assert_eq!(ways.len(), 2, "{result}");
    assert_eq!(ways[0]["held_by"], "nodes", "{result}");
    assert_eq!(ways[1]["held_by"], "provider", "{result}");
    let held = |way: &serde_json::Value| way["validator_bytes"].as_u64().unwrap();
    assert!(
        held(&ways[0]) >= 2 << 20,
        "the node holds the file: {result}"
    );
    assert!(held(&ways[1]) < 4096, "the node holds a manifest: {result}");
    for way in ways {
        assert_eq!(way["rounds"].as_array().unwrap().len(), 1, "{result}");
    }
    let ratio: f64 = result["fetch_ratio"].as_str().unwrap().parse().unwrap();
    assert!(ratio > 0.0, "{result}");
}

/// Builds a small image of its own from the busybox one, holding `marker`
/// in `/marker`, tagged `name`.
fn build_marked_image(name: &str, marker: &str) {
    use std::io::Write;
    let mut build = Command::new("docker")
        .args(["build", "-q", "-t", name, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let dockerfile = format!("FROM gpunet/busybox:latest\nRUN echo {marker} > /marker\n");
    build
        .stdin
        .take()
        .unwrap()
        .write_all(dockerfile.as_bytes())
        .unwrap();
    let out = build.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "docker build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether the local engine has `image`.
fn engine_has(image: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", image])
        .output()
        .unwrap()
        .status
        .success()
}

/// Removes `image` from the local engine.
fn remove_image(image: &str) {
    let out = Command::new("docker")
        .args(["rmi", "-f", image])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker rmi {image}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `gpunet image push`, then jobs that name the image, with no registry and
/// the image gone from the engine the providers share: the first provider
/// fetches the archive from the client's `gpunet serve`, the next from
/// that provider once the client has stopped serving, and each run is in
/// exactly the image pushed (its id, and a file only it holds).
#[test]
fn a_pushed_image_reaches_providers_peer_to_peer_and_then_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, global) = devnet_with(dir.path(), 2, "docker");
    let with = |args: &[&str]| with_global(&global, args);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let marker = format!("pushed-{}-{nanos}", std::process::id());
    let name = format!("gpunet-test/{marker}:1");
    build_marked_image(&name, &marker);

    let pushed = json(&with(&["image", "push", &name]));
    let image_id = pushed["image_id"].as_str().unwrap().to_string();
    let reference = pushed["reference"].as_str().unwrap().to_string();
    assert!(image_id.starts_with("sha256:"), "{pushed}");
    assert_eq!(
        reference,
        format!("blake3:{}", pushed["root"].as_str().unwrap())
    );
    assert!(pushed["size"].as_u64().unwrap() > 0, "{pushed}");
    let listed = json(&with(&["image", "ls"]));
    assert_eq!(listed[0]["names"][0], name.as_str(), "{listed}");
    // Nowhere to pull from: the image is only in the client's store now.
    remove_image(&name);
    assert!(!engine_has(&image_id));

    let mut command = gpunet_command();
    command.args(with(&["serve", "--listen", "127.0.0.1:0"]));
    let (serve, first_line) = spawn_first_line(command);
    let serving: serde_json::Value =
        serde_json::from_str(&first_line).unwrap_or_else(|e| panic!("{e}: {first_line:?}"));
    assert_eq!(
        serving["images"],
        serde_json::json!([reference]),
        "{serving}"
    );
    let serve = Node(serve);

    let run = |image: &str| {
        json(&with(&[
            "job",
            "run",
            "--image",
            image,
            "--max-price",
            "50",
            "--wait",
            "--",
            "cat",
            "/marker",
        ]))
    };
    let stdout_of = |order: &serde_json::Value| {
        json(&with(&["job", "logs", &order["order"].to_string()]))["stdout"].clone()
    };
    let first = run(&name);
    assert_eq!(first["status"], "settled", "{first}");
    assert_eq!(first["spec"]["image"], image_id.as_str(), "{first}");
    assert_eq!(
        first["spec"]["image_blob"]["hash"], pushed["root"],
        "{first}"
    );
    assert_eq!(stdout_of(&first), format!("{marker}\n"));
    // Its lease prepared (the archive fetched and loaded) before its run
    // started, in a transaction of its own: its timeout counted from then.
    let lease = &first["lease"];
    assert!(
        lease["started_at"].as_str().unwrap() > lease["leased_at"].as_str().unwrap(),
        "{first}"
    );
    let as_text: Vec<String> = global
        .iter()
        .map(|a| {
            if a == "json" {
                "text".into()
            } else {
                a.clone()
            }
        })
        .collect();
    let described = ok(&with_global(
        &as_text,
        &["job", "describe", &first["order"].to_string()],
    ));
    assert!(
        described.contains("its pushed image fetched and loaded"),
        "{described}"
    );

    // The client stops serving and the image leaves the engine again: the
    // next machine gets the archive from the provider that ran the first.
    drop(serve);
    remove_image(&image_id);
    let second = run(&reference);
    assert_eq!(second["status"], "settled", "{second}");
    assert_ne!(
        second["lease"]["machine"], first["lease"]["machine"],
        "{second}"
    );
    assert_eq!(stdout_of(&second), format!("{marker}\n"));
    assert!(engine_has(&image_id));

    // A root this client never pushed is refused before anything is sent.
    let unknown = format!("blake3:{}", "0".repeat(64));
    let refused = json_error(&with(&[
        "job",
        "run",
        "--image",
        &unknown,
        "--max-price",
        "50",
        "--",
        "true",
    ]));
    assert_eq!(refused["code"], "image", "{refused}");
    remove_image(&image_id);
}

/// `gpunet bench images`: an archive reaches one provider directly and
/// through a relay, and three at once, each against a TCP copy measured in
/// the same run.
#[test]
fn the_images_benchmark_moves_an_archive_directly_through_a_relay_and_to_three() {
    let bench = json(&["--output", "json", "bench", "images", "--mib", "8"]);
    assert_eq!(bench["mib"], 8, "{bench}");
    let ways: Vec<&str> = bench["ways"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["way"].as_str().unwrap())
        .collect();
    assert_eq!(
        ways,
        ["tcp (loopback)", "direct", "relayed", "3 providers"],
        "{bench}"
    );
    for way in bench["ways"].as_array().unwrap() {
        assert!(way["ms"].as_u64().is_some(), "{bench}");
        let ratio: f64 = way["vs_tcp"].as_str().unwrap().parse().unwrap();
        assert!(ratio.is_finite(), "{bench}");
    }
    assert_eq!(bench["ways"][0]["vs_tcp"], "1.00", "{bench}");
}
