//! Fixtures for tests that run jobs in real containers, here and in other crates.

use crate::executor::{DockerConfig, DockerExecutor, BUSYBOX_IMAGE};

/// Connects to the local Docker engine and makes sure [`BUSYBOX_IMAGE`] exists
/// (built by `scripts/busybox-image.sh`; no registry needed).
///
/// Without an engine this returns `None` so the caller can skip, except under
/// `CI=true`, where a missing engine is a failure rather than a silent skip.
pub async fn docker_or_skip(config: DockerConfig) -> Option<DockerExecutor> {
    let executor = match DockerExecutor::connect(config).await {
        Ok(executor) => executor,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true and the Docker engine is required: {e}")
        }
        Err(e) => {
            eprintln!("skipping a Docker test: {e}");
            return None;
        }
    };
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/busybox-image.sh"
    );
    let status = tokio::process::Command::new("bash")
        .arg(script)
        .arg(BUSYBOX_IMAGE)
        .status()
        .await
        .expect("runs scripts/busybox-image.sh");
    assert!(status.success(), "building {BUSYBOX_IMAGE} failed");
    Some(executor)
}

/// The response to `GET /` from `address` (`host:port`), retried for up to
/// ten seconds while the server starts.
pub async fn http_get(address: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for _ in 0..100 {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(address).await {
            let request = b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
            let mut response = String::new();
            if stream.write_all(request).await.is_ok()
                && stream.read_to_string(&mut response).await.is_ok()
                && !response.is_empty()
            {
                return response;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("nothing answered at {address}")
}
