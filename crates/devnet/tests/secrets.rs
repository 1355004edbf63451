//! Secrets as a provider's agent takes them: a run starts once its client
//! has sealed them, sealed for that very order; a lease whose secrets never
//! come, or come copied from another order, is declined — nobody pays,
//! nobody is slashed — and no run starts without them.

use gpunet_client::jobfile::SecretSource;
use gpunet_client::jobs::{read_output, submit_job, wait_for_order};
use gpunet_client::secrets::{deliver_secrets, DeliverUntil};
use gpunet_primitives::TxBody;
use gpunet_types::{OrderStatus, OrderView};
use std::time::Duration;

mod common;
use common::*;

/// Waits until `order` has been declined once.
async fn first_decline(node: &gpunet_client::NodeClient, id: u64) -> OrderView {
    wait_for_order(
        node,
        id,
        Duration::from_secs(120),
        |o| !o.declines.is_empty(),
        |_| {},
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_starts_only_with_secrets_sealed_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let net = devnet(dir.path(), 1).await;
    let node = net.client();
    let wallet = net.client_wallet();
    let stakes_before = bonded(&node, &gpunet_devnet::provider_key(0)).await;
    let secret_job = |name: &str, command: &str| {
        let mut job = job_file(dir.path(), name, command, 60);
        job.secrets.insert(
            "API_TOKEN".into(),
            SecretSource::Value(format!("value of {name}")),
        );
        job
    };

    // Submitted by a client that never seals: the run waits for its
    // secrets and is declined.
    let unsealed = submit_job(&wallet, &secret_job("unsealed", "echo ran"))
        .await
        .unwrap();

    // Sealed for its own order: the run sees the value.
    let sealed_job = secret_job("sealed", "echo \"$API_TOKEN\"; sleep 20");
    let sealed = submit_job(&wallet, &sealed_job).await.unwrap();
    let values = sealed_job.secret_values().unwrap();
    deliver_secrets(
        &wallet,
        &[sealed],
        &values,
        DeliverUntil::FirstLease,
        |_| {},
    )
    .await
    .unwrap();

    // Another order of the same provider given a copy of that box (as a
    // client that read it on chain would): it opens, but is not for it.
    let copied = submit_job(&wallet, &secret_job("copied", "echo \"$API_TOKEN\""))
        .await
        .unwrap();
    wait_running(&node, copied).await;
    let the_box = node
        .order(sealed)
        .await
        .unwrap()
        .lease
        .unwrap()
        .sealed_secrets
        .unwrap();
    wallet
        .send(TxBody::SealSecrets {
            order: copied,
            sealed: the_box,
        })
        .await
        .unwrap();
    let declined = first_decline(&node, copied).await;
    assert!(
        declined.declines[0].reason.contains("sealed for order"),
        "{:?}",
        declined.declines
    );

    let done = wait_final(&node, sealed).await;
    assert_eq!(done.status, OrderStatus::Settled, "{done:?}");
    let stdout = read_output(&wallet, &done, "logs/stdout.log")
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&stdout).trim(), "value of sealed");

    let declined = first_decline(&node, unsealed).await;
    assert!(
        declined.declines[0]
            .reason
            .contains("did not seal its secrets"),
        "{:?}",
        declined.declines
    );
    // Back to matching without the machine that declined; nothing ran.
    assert_eq!(declined.status, OrderStatus::Pending, "{declined:?}");
    assert!(declined.report.is_none());
    assert_eq!(
        bonded(&node, &gpunet_devnet::provider_key(0)).await,
        stakes_before,
        "nobody is slashed for a client's missing secrets"
    );
}
