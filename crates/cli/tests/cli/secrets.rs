//! Secrets through a devnet whose provider runs Docker containers: the
//! value reaches the job's (and the rental's) environment, sealed to its
//! provider, and its plaintext is nowhere else — not in a block, an event,
//! an API answer, a log or any file of the devnet's nodes and agents.

use super::*;
use sha2::Digest;
use std::process::Stdio;

/// The SHA-256 of `text` in hex, as `sha256sum` prints it.
fn sha256_hex(text: &str) -> String {
    format!("{:x}", sha2::Sha256::digest(text.as_bytes()))
}

/// Every file under `dir` whose bytes hold `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .filter(|entry| {
            std::fs::read(entry.path())
                .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        })
        .map(|entry| entry.path().to_path_buf())
        .collect()
}

/// Every block of the node at `api`, as the API answers them, in one text.
fn every_block(api: &str) -> String {
    let mut blocks = String::new();
    for height in 1.. {
        let answer = request("GET", &format!("{api}/v1/blocks/{height}"), None);
        if answer.status == 404 {
            assert!(height > 5, "the chain has blocks: stopped at {height}");
            return blocks;
        }
        assert_eq!(answer.status, 200, "block {height}");
        blocks.push_str(&String::from_utf8_lossy(&answer.body));
    }
    unreachable!("heights do not run out")
}

#[test]
fn a_secret_reaches_its_job_and_rental_sealed_and_its_plaintext_is_nowhere_else() {
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, global) = devnet_with(dir.path(), 1, "docker");
    let api = global[1].split('#').next().unwrap().to_string();
    // Every event the node publishes from here on, as a subscriber sees it.
    let events_file = dir.path().join("events.sse");
    let mut events = Command::new("curl")
        .args(["-sSkN", &format!("{api}/v1/events")])
        .stdout(std::fs::File::create(&events_file).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("curl runs");
    let secret = format!(
        "tok-{:016x}{:08x}",
        rand::random::<u64>(),
        rand::random::<u32>()
    );
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");

    // README's command: the value from the shell's environment.
    let run = gpunet_command()
        .args(&global)
        .args(["job", "run", path(&examples.join("secret.toml")), "--wait"])
        .env("API_TOKEN", &secret)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let order: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(order["status"], "settled", "{order}");
    assert_eq!(order["spec"]["secrets"], serde_json::json!(["API_TOKEN"]));
    assert!(order["spec"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .all(|pair| pair[0] != "API_TOKEN"));
    let sealed = order["lease"]["sealed_secrets"].as_str().unwrap();
    assert!(sealed.len() > 2 * secret.len(), "{order}");
    let id = order["order"].to_string();
    let results = dir.path().join("results");
    ok(&[
        &global[..],
        &["job", "get", &id, "--out", path(&results)].map(String::from),
    ]
    .concat());
    assert_eq!(
        std::fs::read_to_string(results.join("outputs/token.sha256"))
            .unwrap()
            .trim(),
        sha256_hex(&secret),
        "the job read the value its client sealed"
    );

    // A rental given the secret on the command line (a NAME taken from the
    // environment) sees it in its sessions.
    let rental = {
        let mut start = gpunet_command();
        start
            .args(&global)
            .args(["rent", "start", path(&examples.join("rental.toml"))])
            .args(["--duration", "10m", "--secret", "API_TOKEN"])
            .env("API_TOKEN", &secret);
        let out = start.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_eq!(rental["status"], "running", "{rental}");
    assert!(rental["lease"]["sealed_secrets"].is_string(), "{rental}");
    let rental_id = rental["order"].to_string();
    let seen = ok(&[
        &global[..],
        &[
            "rent",
            "exec",
            &rental_id,
            "--",
            "sh",
            "-c",
            "printf %s \"$API_TOKEN\" | sha256sum",
        ]
        .map(String::from),
    ]
    .concat());
    assert!(seen.starts_with(&sha256_hex(&secret)), "{seen}");
    ok(&[&global[..], &["rent", "end", &rental_id].map(String::from)].concat());

    // Nothing is sealed to an order that has closed.
    let refused = gpunet_command()
        .args(&global)
        .args(["job", "seal", &id, "--secret", "API_TOKEN"])
        .env("API_TOKEN", &secret)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("closed"), "{said}");

    // The plaintext is nowhere: blocks, events, API answers, any file of
    // the devnet (node databases, blob stores, agents' journals and job
    // directories) and every log.
    // The rental's end is the last event: once the subscriber has it, it
    // has every event before it.
    assert!(
        eventually(Duration::from_secs(30), || {
            std::fs::read_to_string(&events_file).is_ok_and(|s| s.contains("rental_ended"))
        }),
        "the subscriber never saw the rental end"
    );
    let _ = events.kill();
    let _ = events.wait();
    let needle = secret.as_bytes();
    let streamed = std::fs::read_to_string(&events_file).unwrap();
    assert!(streamed.contains("secrets_sealed"), "{streamed}");
    assert!(!streamed.contains(&secret), "an event holds the secret");
    assert!(
        !every_block(&api).contains(&secret),
        "a block holds the secret"
    );
    let described = ok(&[&global[..], &["job", "describe", &id].map(String::from)].concat());
    assert!(!described.contains(&secret));
    let everywhere = files_holding(dir.path(), needle);
    assert!(everywhere.is_empty(), "the secret is in {everywhere:?}");
}
