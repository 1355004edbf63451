//! Helpers shared by the end-to-end tests.
#![allow(dead_code)] // each test binary uses a different subset

use gpunet_client::jobfile::JobFile;
use gpunet_client::jobs::{is_final, wait_for_order};
use gpunet_client::logs::current_logs;
use gpunet_client::{NodeClient, Wallet};
use gpunet_devnet::{Devnet, DevnetConfig};
use gpunet_primitives::{Keypair, LogStream};
use gpunet_provider::journal::{JobRecord, Journal};
use gpunet_types::{OrderStatus, OrderView};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) fn config(dir: &Path, providers: usize) -> DevnetConfig {
    let mut config = DevnetConfig::new(dir.to_path_buf());
    config.providers = providers;
    config.block_interval = Duration::from_millis(50);
    config
}

pub(crate) async fn devnet(dir: &Path, providers: usize) -> Devnet {
    Devnet::start(config(dir, providers))
        .await
        .expect("devnet starts")
}

/// A devnet of `providers` on which the client's examples/hello.toml has
/// run and settled; the order.
pub(crate) async fn devnet_with_hello(dir: &Path, providers: usize) -> (Devnet, OrderView) {
    let net = devnet(dir, providers).await;
    let hello = JobFile::load(&examples().join("hello.toml")).unwrap();
    let id = gpunet_client::jobs::submit_job(&net.client_wallet(), &hello)
        .await
        .unwrap();
    let done = wait_final(&net.client(), id).await;
    assert_eq!(done.status, OrderStatus::Settled, "{done:?}");
    (net, done)
}

pub(crate) fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

pub(crate) fn job_file(dir: &Path, name: &str, command: &str, timeout_secs: u64) -> JobFile {
    let path = dir.join(format!("{name}.toml"));
    let command = toml_command(command);
    std::fs::write(
        &path,
        format!("name = \"{name}\"\nimage = \"gpunet/busybox\"\ncommand = {command}\ntimeout_secs = {timeout_secs}\n[price]\nmax_per_hour = \"50\"\n"),
    )
    .unwrap();
    JobFile::load(&path).unwrap()
}

/// A TOML array of strings for `sh -c <script>` (or a bare program when it starts with '/').
pub(crate) fn toml_command(command: &str) -> String {
    if command.starts_with('/') {
        format!("[{command:?}]")
    } else {
        format!("[\"sh\", \"-c\", {command:?}]")
    }
}

pub(crate) async fn wait_final(node: &NodeClient, id: u64) -> OrderView {
    wait_for_order(
        node,
        id,
        Duration::from_secs(60),
        |o| is_final(o.status),
        |_| {},
    )
    .await
    .unwrap()
}

/// Waits until order `id`'s result is reported (its dispute window open).
pub(crate) async fn wait_reported(node: &NodeClient, id: u64) -> OrderView {
    wait_for_order(
        node,
        id,
        Duration::from_secs(60),
        |o| o.status == OrderStatus::Reported,
        |_| {},
    )
    .await
    .unwrap()
}

/// Waits until order `id` runs on the provider and returns the executor's handle
/// for it from the provider's journal.
pub(crate) async fn wait_started(node: &NodeClient, journal_dir: &Path, id: u64) -> String {
    wait_running(node, id).await;
    for _ in 0..200 {
        if let Ok(records) = Journal::open(journal_dir).unwrap().all() {
            if let Some(JobRecord::Started {
                handle: Some(handle),
                ..
            }) = records.into_iter().find(|r| r.order() == id)
            {
                return handle;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("order {id} never started on the provider");
}

pub(crate) async fn wait_running_with_pgid(node: &NodeClient, journal_dir: &Path, id: u64) -> i32 {
    let handle = wait_started(node, journal_dir, id).await;
    handle
        .parse()
        .expect("the process executor's handle is a process group id")
}

/// Waits until the provider's journal is empty (every job reported).
pub(crate) async fn wait_journal_empty(journal_dir: &Path) {
    for _ in 0..200 {
        if Journal::open(journal_dir)
            .unwrap()
            .all()
            .unwrap()
            .is_empty()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the provider never reported its journaled jobs");
}

pub(crate) async fn balance(node: &NodeClient, key: &Keypair) -> u128 {
    node.account(&key.address()).await.unwrap().account.balance
}

pub(crate) async fn bonded(node: &NodeClient, key: &Keypair) -> u128 {
    node.account(&key.address()).await.unwrap().account.bonded
}

/// Polls order `id`'s live `stream`, as its client `wallet` reads it, until
/// it contains `text`; returns the order's status at that moment.
pub(crate) async fn wait_live_log(
    wallet: &Wallet,
    id: u64,
    stream: LogStream,
    text: &str,
) -> OrderStatus {
    for _ in 0..300 {
        let order = wallet.node().order(id).await.unwrap();
        if order.status == OrderStatus::Running {
            let logs = current_logs(wallet, &order).await.unwrap();
            let kept = match stream {
                LogStream::Stdout => logs.stdout,
                LogStream::Stderr => logs.stderr,
            };
            if String::from_utf8_lossy(&kept).contains(text) {
                return wallet.node().order(id).await.unwrap().status;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{text:?} never showed in order {id}'s live {}",
        stream.name()
    );
}

/// Waits until order `id` runs on a machine.
pub(crate) async fn wait_running(node: &NodeClient, id: u64) {
    wait_for_order(
        node,
        id,
        Duration::from_secs(30),
        |o| o.status == OrderStatus::Running,
        |_| {},
    )
    .await
    .unwrap();
}

/// The order a `SubmitOrder` transaction placed, from its events.
pub(crate) fn submitted_order(included: &gpunet_types::Included) -> gpunet_primitives::OrderId {
    included
        .events
        .iter()
        .find_map(|e| match e {
            gpunet_types::Event::OrderSubmitted { order, .. } => Some(*order),
            _ => None,
        })
        .expect("the transaction placed an order")
}
