//! A gpunet node: the ledger behind a consensus interface, an event bus for
//! subscribers and a content-addressed blob store for job inputs and outputs.

mod blobs;
mod consensus;
mod node;

pub use blobs::{file_chunks, BlobError, BlobStore};
pub use consensus::{
    inclusions, next_block_time_ms, publish_block_events, wall_clock_ms, work_due, Consensus,
    Included, SoloProducer, SoloProducerConfig, SubmitError, SubmitFuture,
};
pub use node::{BlockEvent, Node, NodeBase, NodeConfig};
