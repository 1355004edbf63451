//! End-to-end with the Docker executor: jobs run in containers of the locally
//! built busybox image, their outputs stream to the client and are verified.
//! Without a Docker engine these tests skip, except under `CI=true`.

use gpunet_client::jobfile::JobFile;
use gpunet_client::jobs::{fetch_outputs, submit_job, submit_rental, wait_for_order};
use gpunet_client::logs::current_logs;
use gpunet_client::rental_session::RentalLink;
use gpunet_client::{ClientError, Wallet};
use gpunet_devnet::{provider_key, Devnet, DevnetConfig};
use gpunet_p2p::access::{AccessRequest, FromRental, ToRental};
use gpunet_p2p::Reach;
use gpunet_primitives::{JobOutcome, LogStream, OrderId, Stop, TxBody};
use gpunet_provider::data_plane::DataPlaneConfig;
use gpunet_provider::executor::{DockerConfig, ExecutorKind, BUSYBOX_IMAGE};
use gpunet_provider::testing::{docker_or_skip, http_get};
use gpunet_types::OrderStatus;
use std::path::Path;
use std::time::Duration;

mod common;
use common::*;

async fn docker_devnet(dir: &Path) -> Option<Devnet> {
    docker_devnet_with(dir, |_| {}).await
}

/// A one-provider devnet on the Docker executor, with `adjust`'s changes.
async fn docker_devnet_with(dir: &Path, adjust: impl FnOnce(&mut DevnetConfig)) -> Option<Devnet> {
    docker_or_skip(DockerConfig::default()).await?;
    let mut config = config(dir, 1);
    config.executor = ExecutorKind::Docker;
    adjust(&mut config);
    Some(Devnet::start(config).await.expect("devnet starts"))
}

fn container_job(dir: &Path, name: &str, script: &str, timeout_secs: u64) -> JobFile {
    image_job(dir, name, BUSYBOX_IMAGE, script, timeout_secs)
}

fn image_job(dir: &Path, name: &str, image: &str, script: &str, timeout_secs: u64) -> JobFile {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "name = \"{name}\"\nimage = \"{image}\"\ncommand = [\"sh\", \"-c\", {script:?}]\n\
             timeout_secs = {timeout_secs}\n[resources]\nmemory_mb = 64\n[price]\nmax_per_hour = \"50\"\n"
        ),
    )
    .unwrap();
    JobFile::load(&path).unwrap()
}

/// Exists, as a container (or another `kind` of object), according to the engine.
fn docker_has(kind: &str, name: &str) -> bool {
    std::process::Command::new("docker")
        .args([kind, "inspect", name])
        .output()
        .expect("docker CLI")
        .status
        .success()
}

/// Peak resident memory of this test process (node, agent and client together).
fn peak_rss_mb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_container_output_streams_to_the_client_verified_and_paid() {
    let dir = tempfile::tempdir().unwrap();
    let Some(net) = docker_devnet(dir.path()).await else {
        return;
    };
    let node = net.client();
    let provider_before = balance(&node, &provider_key(0)).await;
    let rss_before = peak_rss_mb();

    let script = "dd if=/dev/urandom of=$GPUNET_OUTPUT_DIR/big.bin bs=1M count=200 2>/dev/null; \
                  echo done in $(pwd)";
    let job = container_job(dir.path(), "big", script, 300);
    let id = submit_job(&net.client_wallet(), &job).await.unwrap();
    let order = wait_final(&node, id).await;
    assert_eq!(order.status, OrderStatus::Settled, "{order:?}");
    let JobOutcome::Completed {
        exit_code,
        output_bytes,
        ..
    } = order.report.clone().unwrap().outcome
    else {
        panic!("{order:?}")
    };
    assert_eq!(exit_code, 0);
    assert!(output_bytes >= 200 << 20);

    let out = dir.path().join("out");
    let manifest = fetch_outputs(&net.client_wallet(), &order, &out)
        .await
        .unwrap();
    assert_eq!(manifest.get("outputs/big.bin").unwrap().size, 200 << 20);
    assert_eq!(
        std::fs::metadata(out.join("outputs/big.bin"))
            .unwrap()
            .len(),
        200 << 20
    );
    assert_eq!(
        std::fs::read_to_string(out.join("logs/stdout.log")).unwrap(),
        "done in /gpunet/work\n"
    );
    assert!(balance(&node, &provider_key(0)).await > provider_before);
    // Hashing, upload, storage and download all stream: 200 MB never sit in memory.
    let grown = peak_rss_mb().saturating_sub(rss_before);
    assert!(grown < 100, "peak memory grew by {grown} MiB");
    let container = net.provider(0).unwrap().run_name(id);
    assert!(
        !docker_has("container", &container),
        "container left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_writing_past_its_disk_limit_is_stopped_told_why_and_paid_for() {
    let dir = tempfile::tempdir().unwrap();
    let Some(net) = docker_devnet(dir.path()).await else {
        return;
    };
    let node = net.client();
    let script = "echo writing; dd if=/dev/zero of=$GPUNET_OUTPUT_DIR/big bs=1M count=2000 \
                  2>/dev/null; echo finished";
    let mut job = container_job(dir.path(), "hog", script, 120);
    job.resources.disk_mb = 64;
    let id = submit_job(&net.client_wallet(), &job).await.unwrap();
    let order = wait_final(&node, id).await;
    // The job's own fault: reported like a crash, the provider paid for the time.
    assert_eq!(order.status, OrderStatus::Settled, "{order:?}");
    let Some(JobOutcome::Completed {
        exit_code,
        output_bytes,
        stopped,
        ..
    }) = order.report.clone().map(|r| r.outcome)
    else {
        panic!("{order:?}")
    };
    assert_eq!((exit_code, stopped), (137, Some(Stop::Disk)));
    assert!(output_bytes < 1000 << 20, "stopped early: {output_bytes}");
    let out = dir.path().join("hog-out");
    fetch_outputs(&net.client_wallet(), &order, &out)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("logs/stdout.log")).unwrap(),
        "writing\n"
    );
    let stderr = std::fs::read_to_string(out.join("logs/stderr.log")).unwrap();
    assert!(stderr.contains("disk limit of 64 MiB"), "{stderr}");
    assert!(order.settlement.unwrap().paid_to_provider > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_containers_output_is_seen_live_while_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let Some(net) = docker_devnet(dir.path()).await else {
        return;
    };
    let node = net.client();
    let job = container_job(dir.path(), "live", "echo started; sleep 5; echo done", 60);
    let id = submit_job(&net.client_wallet(), &job).await.unwrap();
    assert_eq!(
        wait_live_log(&net.client_wallet(), id, LogStream::Stdout, "started").await,
        OrderStatus::Running
    );
    let order = wait_final(&node, id).await;
    let logs = current_logs(&net.client_wallet(), &order).await.unwrap();
    assert_eq!(
        (logs.live, logs.stdout),
        (false, b"started\ndone\n".to_vec())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_crash_leaves_no_container_behind_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut net) = docker_devnet(dir.path()).await else {
        return;
    };
    let node = net.client();
    let journal = net.provider_dir(0).join("journal");

    let job = container_job(dir.path(), "long", "sleep 120", 300);
    let id = submit_job(&net.client_wallet(), &job).await.unwrap();
    let container = wait_started(&node, &journal, id).await;
    assert_eq!(container, net.provider(0).unwrap().run_name(id));
    for _ in 0..200 {
        if docker_has("container", &container) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    net.kill_provider(0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        docker_has("container", &container),
        "a crashed agent leaves its container running"
    );

    net.start_provider(0).await.unwrap();
    let order = wait_final(&node, id).await;
    assert_eq!(order.status, OrderStatus::Failed, "{order:?}");
    wait_journal_empty(&journal).await;
    assert!(
        !docker_has("container", &container),
        "container left behind"
    );
    let job_dir = net.provider_dir(0).join("jobs").join(id.to_string());
    assert!(!job_dir.exists(), "the run's files left behind");

    // The restarted agent keeps serving containers.
    let job = container_job(dir.path(), "after", "echo ok > $GPUNET_OUTPUT_DIR/ok", 60);
    let id = submit_job(&net.client_wallet(), &job).await.unwrap();
    assert_eq!(wait_final(&node, id).await.status, OrderStatus::Settled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_image_is_missing_is_declined_refunded_and_nobody_slashed() {
    let dir = tempfile::tempdir().unwrap();
    let Some(net) = docker_devnet_with(dir.path(), |c| c.params.max_declines = 1).await else {
        return;
    };
    let node = net.client();
    let stake = bonded(&node, &provider_key(0)).await;
    let job = image_job(dir.path(), "missing", "gpunet/does-not-exist:1", "true", 60);
    let id = submit_job(&net.client_wallet(), &job).await.unwrap();
    let order = wait_final(&node, id).await;
    assert_eq!(order.status, OrderStatus::Declined, "{order:?}");
    assert!(
        order.declines[0].reason.contains("gpunet/does-not-exist:1"),
        "{order:?}"
    );
    assert_eq!(order.settlement.unwrap().refunded, order.deposit);
    assert_eq!(bonded(&node, &provider_key(0)).await, stake);
    let container = net.provider(0).unwrap().run_name(id);
    assert!(!docker_has("container", &container));
    assert!(!net
        .provider_dir(0)
        .join("jobs")
        .join(id.to_string())
        .exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renter_reaches_the_port_its_rental_exposes_and_reads_its_logs_until_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let Some(net) = docker_devnet(dir.path()).await else {
        return;
    };
    let node = net.client();
    let wallet = net.client_wallet();
    // Like a notebook printing its access token.
    let serve = "echo token=s3cret; mkdir /tmp/www && echo hello-renter > /tmp/www/index.html \
                 && exec httpd -f -p 8080 -h /tmp/www";
    let path = dir.path().join("serve.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"serve\"\nimage = \"{BUSYBOX_IMAGE}\"\ncommand = [\"sh\", \"-c\", {serve:?}]\n\
             timeout_secs = 600\nnetwork = true\nports = [8080]\n[resources]\nmemory_mb = 64\n\
             [price]\nmax_per_hour = \"50\"\n"
        ),
    )
    .unwrap();
    let id = submit_rental(&wallet, &JobFile::load(&path).unwrap())
        .await
        .unwrap();
    let order = wait_for_order(
        &node,
        id,
        Duration::from_secs(60),
        |o| o.rental.as_ref().is_some_and(|r| !r.endpoints.is_empty()),
        |_| {},
    )
    .await
    .unwrap();
    let endpoint = &order.rental.unwrap().endpoints[0];
    assert!(endpoint.starts_with("127.0.0.1:"), "{endpoint}");
    assert!(http_get(endpoint).await.contains("hello-renter"));
    // The renter reads the container's logs; nobody else can.
    assert_eq!(
        wait_live_log(&wallet, id, LogStream::Stdout, "token=s3cret").await,
        OrderStatus::Running
    );
    let stranger = Wallet::new(provider_key(0), node.clone());
    let order = node.order(id).await.unwrap();
    let refused = current_logs(&stranger, &order)
        .await
        .err()
        .map(|e| e.to_string());
    assert!(
        refused
            .as_deref()
            .is_some_and(|e| e.contains("not_the_owner")),
        "{refused:?}"
    );

    wallet
        .send(TxBody::EndRental {
            order: id,
            save: false,
        })
        .await
        .unwrap();
    let container = net.provider(0).unwrap().run_name(id);
    for _ in 0..200 {
        if !docker_has("container", &container) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!docker_has("container", &container), "stopped at the end");
    assert!(tokio::net::TcpStream::connect(endpoint.as_str())
        .await
        .is_err());
}

/// Runs `script` in rental `order` as its renter (`rent exec`), retrying
/// while its provider is away or its container comes back up; its exit code
/// and output.
async fn exec_in(wallet: &Wallet, order: OrderId, script: &str) -> (i32, String) {
    let request = AccessRequest::Exec {
        order,
        command: vec!["sh".into(), "-c".into(), script.into()],
        terminal: None,
    };
    let mut last = String::new();
    for _ in 0..120 {
        let ran = async {
            let link = RentalLink::connect(wallet, order).await?;
            let session = link.open(&request).await;
            // The sender stays open to the end: a renter's finished stream
            // is the renter leaving.
            let (mut sender, mut receiver) = session?.split();
            let _ = sender.send(&ToRental::StdinClosed).await;
            let mut stdout = Vec::new();
            let ended = loop {
                match receiver.recv().await {
                    Ok(Some(FromRental::Stdout(bytes))) => stdout.extend(bytes),
                    Ok(Some(FromRental::Stderr(_))) => {}
                    Ok(Some(FromRental::Exited(code))) => break Ok(code),
                    Ok(Some(FromRental::Failed(why))) => {
                        break Err(ClientError::RentalSession(why))
                    }
                    Ok(None) => break Err(ClientError::RentalSession("cut".into())),
                    Err(e) => break Err(ClientError::RentalSession(e.to_string())),
                }
            };
            link.close().await;
            ended.map(|code| (code, String::from_utf8_lossy(&stdout).into_owned()))
        };
        match ran.await {
            Ok(done) => return done,
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("cannot run {script:?} in rental {order}: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rentals_workspace_outlives_its_container_and_agent_and_goes_when_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut net) = docker_devnet_with(dir.path(), |c| {
        c.provider_peer = Some(DataPlaneConfig::new(Reach::Direct {
            bind: "127.0.0.1:0".parse().unwrap(),
            relay: None,
        }))
    })
    .await
    else {
        return;
    };
    let node = net.client();
    let wallet = net.client_wallet();
    let rental = container_job(dir.path(), "work", "exec sleep 2147483647", 600);
    let id = submit_rental(&wallet, &rental).await.unwrap();
    wait_for_order(
        &node,
        id,
        Duration::from_secs(60),
        |o| o.status != OrderStatus::Pending,
        |_| {},
    )
    .await
    .unwrap();

    // Sessions start in the workspace, and the root takes new files.
    let (code, out) = exec_in(
        &wallet,
        id,
        "echo kept > notes && touch /etc/installed && pwd && ls /etc/installed",
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "/workspace\n/etc/installed\n"));
    let workspace = net.provider_dir(0).join("workspaces").join(id.to_string());
    assert_eq!(
        std::fs::read_to_string(workspace.join("notes")).unwrap(),
        "kept\n"
    );

    // The agent crashes and comes back: a new container, the same workspace.
    net.kill_provider(0).await;
    net.start_provider(0).await.unwrap();
    let (code, out) = exec_in(&wallet, id, "cat /workspace/notes").await;
    assert_eq!((code, out.as_str()), (0, "kept\n"));

    // Renewed: still there.
    wallet
        .send(TxBody::RenewRental {
            order: id,
            extra_secs: 600,
            deposit: gpunet_types::max_payment(
                node.order(id).await.unwrap().lease.unwrap().price_per_hour,
                600,
            )
            .unwrap(),
        })
        .await
        .unwrap();
    let (_, out) = exec_in(&wallet, id, "cat notes").await;
    assert_eq!(out, "kept\n");

    // Ended: the workspace goes with the rental.
    wallet
        .send(TxBody::EndRental {
            order: id,
            save: false,
        })
        .await
        .unwrap();
    for _ in 0..200 {
        if !workspace.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!workspace.exists(), "the workspace outlived its rental");
}
