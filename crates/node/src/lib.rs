#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod blob_access;
mod blob_retention;
mod blobs;
pub mod census;
mod consensus;
pub mod history;
mod live_logs;
pub mod metrics;
mod node;
mod snapshots;
mod uploads;

pub use blob_access::{BlobReadError, ReadScope};
pub use blob_retention::{manifest_files, named_by_orders, BlobRetention, NamedBlobs};
pub use blobs::{BlobError, BlobStore, Removed, DEFAULT_MAX_BLOB_BYTES, DEFAULT_MIN_FREE_BYTES};
pub use consensus::{
    inclusions, publish_block_events, wall_clock_ms, Clock, Consensus, SoloProducer,
    SoloProducerConfig, SubmitError, SubmitFuture,
};
pub use live_logs::{LiveLogError, LiveLogs, LIVE_LOG_ORDERS};
pub use node::{Node, NodeBase, NodeBuilder, NodeError, LEDGER_FILE, SNAPSHOTS_DIR};
pub use snapshots::{
    NotASnapshotFile, SnapshotFile, Snapshots, DEFAULT_SNAPSHOTS_KEPT, DEFAULT_SNAPSHOT_EVERY,
};
pub use uploads::{UploadError, Uploads, UPLOAD_BYTES_PER_HOUR};
