//! Workspaces: a rental's `/workspace`, which outlives its container and
//! this agent, is saved when its renter ends it with `save`, and a later
//! rental or job of the same client starts with a saved one.
//!
//! A saved workspace is a result like a job's outputs: its regular files,
//! named `workspace/...` in a manifest whose root the agent reports
//! (`TxBody::ReportWorkspace`), stored where this agent stores results
//! (`Inner::store`). What is not a regular file (a symbolic link, a socket)
//! is left out and said so in the agent's log; files keep their content,
//! not their mode. A run that starts with a saved workspace has its files
//! fetched, verified, into a staging directory first, which becomes the
//! workspace whole: a workspace that exists is never written over, so an
//! agent restarted during a rental keeps its renter's changes.

use super::jobs::{clip, DeliverError};
use super::{log, warn, Inner};
use crate::run::LayoutError;
use gpunet_client::ClientError;
use gpunet_primitives::manifest::Manifest;
use gpunet_primitives::{OrderId, OutputHolder, TxBody, WorkspaceSave};
use gpunet_types::{OrderStatus, OrderView};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// The prefix of a saved workspace's files in its manifest.
const SAVED_PREFIX: &str = "workspace";

/// Why a workspace could not be saved (reported to the ledger as the reason).
#[derive(Debug, thiserror::Error)]
pub(super) enum SaveError {
    #[error("the workspace is gone from this machine")]
    Gone,
    #[error("cannot read the workspace: {0}")]
    Read(std::io::Error),
    #[error(transparent)]
    Store(#[from] DeliverError),
}

/// Deletes a directory when dropped: a job's workspace goes with the run,
/// however it ended.
pub(super) struct RemovedOnDrop(pub(super) PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let dir = std::mem::take(&mut self.0);
        // Off the runtime's threads: a workspace may hold many files.
        tokio::task::spawn_blocking(move || {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!("cannot delete {}: {e}", dir.display());
                }
            }
        });
    }
}

impl Inner {
    /// `order`'s workspace, absolute: made if new, with the files of the
    /// saved workspace its spec starts with, if any. One that exists (an
    /// agent restarted during the rental) is kept as it is.
    pub(super) async fn workspace(&self, order: &OrderView) -> Result<PathBuf, LayoutError> {
        let dir = self.workspace_dir(order.id);
        let dir = std::path::absolute(&dir).map_err(|source| LayoutError::Resolve {
            path: dir.clone(),
            source,
        })?;
        let prepare = |dir: &Path| {
            let dir = dir.to_path_buf();
            move |source| LayoutError::Prepare { dir, source }
        };
        if dir.exists() {
            return Ok(dir);
        }
        let Some(saved) = order.spec.workspace else {
            std::fs::create_dir_all(&dir).map_err(prepare(&dir))?;
            return Ok(dir);
        };
        let staging = self
            .config
            .data_dir
            .join("workspace-fetches")
            .join(order.id.to_string());
        let fetch = |source| LayoutError::FetchWorkspace {
            order: saved.order,
            source,
        };
        // What an interrupted fetch left is not trusted: start over.
        let _ = tokio::fs::remove_dir_all(&staging).await;
        std::fs::create_dir_all(&staging).map_err(prepare(&staging))?;
        let saving = self.wallet.node().order(saved.order).await.map_err(fetch)?;
        let kept_here = saving
            .lease
            .as_ref()
            .is_some_and(|l| l.provider == self.wallet.address())
            && saving.result_files().map(|(_, held_by)| held_by) == Some(OutputHolder::Provider);
        match self.peer.as_ref().filter(|_| kept_here) {
            // This agent's own peer keeps it: copied out of its store, no
            // second endpoint of the same key dialling the first.
            Some(peer) => {
                let read = self.wallet.blob_read(order.id).await.map_err(fetch)?;
                let manifest = self
                    .wallet
                    .node()
                    .manifest(&saved.root, &read)
                    .await
                    .map_err(fetch)?;
                for file in &manifest.files {
                    let to = staging.join(&file.path);
                    if let Some(parent) = to.parent() {
                        std::fs::create_dir_all(parent).map_err(prepare(parent))?;
                    }
                    peer.export(file.hash, &to)
                        .await
                        .map_err(|e| fetch(ClientError::DataPlane(e.to_string())))?;
                }
            }
            None => {
                gpunet_client::jobs::fetch_saved_workspace(
                    &self.wallet,
                    &saving,
                    order.id,
                    &staging,
                )
                .await
                .map_err(fetch)?;
            }
        }
        let fetched = staging.join(SAVED_PREFIX);
        // A saved workspace without files has no directory in the manifest.
        std::fs::create_dir_all(&fetched).map_err(prepare(&fetched))?;
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(prepare(parent))?;
        }
        std::fs::rename(&fetched, &dir).map_err(prepare(&dir))?;
        let _ = tokio::fs::remove_dir_all(&staging).await;
        log(
            self,
            &format!(
                "order {} starts with the workspace rental {} saved",
                order.id, saved.order
            ),
        );
        Ok(dir)
    }

    pub(super) fn workspace_dir(&self, order: OrderId) -> PathBuf {
        self.config
            .data_dir
            .join("workspaces")
            .join(order.to_string())
    }

    /// Deletes `order`'s workspace: its rental or job ended.
    pub(super) async fn drop_workspace(&self, order: OrderId) {
        let dir = self.workspace_dir(order);
        if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
            if e.kind() != std::io::ErrorKind::NotFound {
                log(
                    self,
                    &format!("cannot delete order {order}'s workspace: {e}"),
                );
            }
        }
    }

    /// Whether the ledger has rental `id` saving its workspace: its renter
    /// ended it with `save`. Asked until the node answers (a few tries):
    /// a workspace is not deleted for want of an answer.
    pub(super) async fn is_saving(&self, id: OrderId) -> bool {
        let mut delay = Duration::from_millis(200);
        for _ in 0..8 {
            match self.wallet.node().order(id).await {
                Ok(order) => return order.status == OrderStatus::Saving,
                Err(e) => {
                    log(
                        self,
                        &format!("cannot ask about rental {id} ({e}); retrying"),
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
        false
    }

    /// Saves rental `id`'s workspace (its container stopped) and reports
    /// its root, or why it could not be saved.
    pub(super) async fn save_workspace(&self, id: OrderId) {
        let save = match self.store_workspace(id).await {
            Ok(saved) => saved,
            Err(e) => {
                warn(self, &format!("cannot save rental {id}'s workspace: {e}"));
                WorkspaceSave::Failed {
                    reason: clip(&e.to_string()),
                }
            }
        };
        if self
            .send_until_answered(TxBody::ReportWorkspace { order: id, save })
            .await
        {
            log(self, &format!("reported rental {id}'s workspace"));
        }
    }

    /// Saves rental `id`'s workspace in a task of its own, then deletes
    /// it: the renter ended the rental while this agent was away. Nothing
    /// happens while a task runs the rental (it saves the workspace itself).
    pub(super) fn spawn_save(self: Arc<Self>, id: OrderId, tasks: &mut JoinSet<()>) {
        if !self.running.lock().expect("running set").insert(id) {
            return;
        }
        tasks.spawn(async move {
            self.save_workspace(id).await;
            self.drop_workspace(id).await;
            self.running.lock().expect("running set").remove(&id);
        });
    }

    async fn store_workspace(&self, id: OrderId) -> Result<WorkspaceSave, SaveError> {
        let dir = self.workspace_dir(id);
        if !dir.is_dir() {
            return Err(SaveError::Gone);
        }
        let (manifest, tree) = tokio::task::spawn_blocking(move || {
            let mut manifest = Manifest::default();
            let tree = manifest.add_tree(&dir, &format!("{SAVED_PREFIX}/"))?;
            Ok::<_, std::io::Error>((manifest, tree))
        })
        .await
        .map_err(|e| SaveError::Read(std::io::Error::other(e)))?
        .map_err(SaveError::Read)?;
        if let Some(example) = tree.not_files.first() {
            log(
                self,
                &format!(
                    "rental {id}'s workspace: {} entries are not regular files (links, \
                     sockets) and are not saved, e.g. {}",
                    tree.not_files.len(),
                    example.display()
                ),
            );
        }
        let held_by = self.store(id, &manifest, tree.files).await?;
        Ok(WorkspaceSave::Saved {
            root: manifest.root(),
            bytes: manifest.total_bytes(),
            held_by,
        })
    }
}
