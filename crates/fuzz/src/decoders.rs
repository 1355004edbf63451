//! Targets for the decoders: transactions, blocks, manifests, snapshot
//! manifests, signed requests, job files and offer queries.

use borsh::{BorshDeserialize, BorshSerialize};
use gpunet_client::jobfile::JobFile;
use gpunet_ledger::lthash::LtHash;
use gpunet_ledger::snapshot::SnapshotManifest;
use gpunet_primitives::manifest::Manifest;
use gpunet_primitives::{
    decode_signed_tx, parse_amount, BlobRead, BlobUpload, Block, LogChunk, LogRead, RequestBody,
    SignedRequest,
};
use gpunet_types::offers::Query;

/// The chain the targets' signed requests are checked for.
const CHAIN: &str = "fuzz";

/// A node's clock (Unix ms) when the targets check a signed request.
const NOW_MS: u64 = 1_800_000_000_000;

/// Panics unless `value`, decoded from `bytes`, encodes back to them.
fn assert_canonical<T: BorshSerialize>(value: &T, bytes: &[u8]) {
    let encoded = borsh::to_vec(value).expect("encodes into a Vec");
    assert_eq!(
        encoded,
        bytes,
        "a {} decodes from bytes that are not its encoding",
        std::any::type_name::<T>()
    );
}

/// A transaction as `POST /v1/tx` and the mempool gossip take it.
pub fn tx(data: &[u8]) {
    let Ok(tx) = decode_signed_tx(data) else {
        return;
    };
    assert_canonical(&tx, data);
    let _ = (tx.hash(), tx.verify_signature(), tx.tx.body.kind());
}

/// A block as a synced peer or a proposal's parts deliver it.
pub fn block(data: &[u8]) {
    let Ok(block) = borsh::from_slice::<Block>(data) else {
        return;
    };
    assert_canonical(&block, data);
    let _ = (block.header.hash(), Block::txs_root(&block.txs));
}

/// A result's manifest, as a client fetching outputs and an auditor read it.
pub fn manifest(data: &[u8]) {
    let Ok(manifest) = Manifest::decode(data) else {
        return;
    };
    assert_eq!(
        manifest.encode(),
        data,
        "a manifest decodes from bytes that are not its encoding"
    );
    let _ = (manifest.root(), manifest.total_bytes());
    for file in &manifest.files {
        assert!(manifest.get(&file.path).is_some());
    }
}

/// A state snapshot's manifest, as a node joining from a peer's snapshot
/// takes it: decoded, then its chunks' LtHashes summed into the root
/// `Restore::begin` checks.
pub fn snapshot_manifest(data: &[u8]) {
    let Ok(manifest) = SnapshotManifest::decode(data) else {
        return;
    };
    assert_eq!(
        manifest.encode(),
        data,
        "a snapshot manifest decodes from bytes that are not its encoding"
    );
    let mut sum = LtHash::default();
    for chunk in &manifest.chunks {
        if let Some(lthash) = LtHash::from_bytes(&chunk.lthash) {
            sum.add(&lthash);
        }
    }
    let _ = (sum.root(), manifest.height(), manifest.block.header.hash());
}

/// A signed request (uploads, blob reads, live log pushes and reads), as
/// the API takes it from a header; the first byte picks the kind.
pub fn signed_request(data: &[u8]) {
    let Some((kind, rest)) = data.split_first() else {
        return;
    };
    match kind % 4 {
        0 => request::<BlobUpload>(rest),
        1 => request::<BlobRead>(rest),
        2 => request::<LogChunk>(rest),
        _ => request::<LogRead>(rest),
    }
}

fn request<B: RequestBody + BorshSerialize + BorshDeserialize>(data: &[u8]) {
    let Ok(request) = borsh::from_slice::<SignedRequest<B>>(data) else {
        return;
    };
    assert_canonical(&request, data);
    let _ = request.check(CHAIN, NOW_MS);
    let _ = request.check(CHAIN, request.not_after_ms);
}

/// A job file as `gpunet job run FILE` reads it, made into its on-chain
/// spec (without inputs, which would read files).
pub fn job_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(job) = toml::from_str::<JobFile>(text) else {
        return;
    };
    if let Ok(prepared) = job.resolved(Vec::new(), None) {
        let bytes = borsh::to_vec(&prepared.spec).expect("encodes into a Vec");
        assert_eq!(
            borsh::from_slice::<gpunet_primitives::JobSpec>(&bytes).ok(),
            Some(prepared.spec),
            "a job's spec does not survive its encoding"
        );
    }
}

/// An offer search (`gpunet machines list`, `GET /v1/machines?q=&order=`):
/// the first line is the order, the rest the terms; they are applied to the
/// machines of a small market. Each word is also read as an amount.
pub fn query(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for word in text.split_whitespace() {
        let _ = parse_amount(word);
    }
    let (order, terms) = text.split_once('\n').unwrap_or((text, ""));
    let Ok(query) = Query::parse(&[terms.to_string()], Some(order)) else {
        return;
    };
    let mut machines = crate::market::sample_machines();
    for machine in &machines {
        let unmet = query.unmet(machine);
        assert_eq!(query.matches(machine), unmet.is_empty());
    }
    query.sort(&mut machines);
}
