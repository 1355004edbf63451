//! Writes the seed inputs under `corpus/<target>/seed-*`: valid examples
//! of what each target takes, for AFL++ to start from.
//! `cargo run -p gpunet-fuzz --example seeds`

use gpunet_primitives::manifest::{Manifest, ManifestEntry};
use gpunet_primitives::{
    BlobUpload, Block, BlockHeader, Hash, Keypair, LogRead, SignedRequest, Tx, TxBody, UNIT,
};
use std::path::Path;

/// The manifest of a snapshot of a one-validator chain at genesis.
fn genesis_snapshot_manifest(validator: &Keypair) -> std::io::Result<Vec<u8>> {
    let genesis = gpunet_ledger::Genesis {
        chain_id: "fuzz".into(),
        genesis_time_ms: 0,
        accounts: Vec::new(),
        validators: vec![validator.address()],
        params: gpunet_types::Params::default(),
    };
    let ledger = gpunet_ledger::Ledger::open(None, &genesis).map_err(std::io::Error::other)?;
    let manifest = ledger
        .snapshot()
        .and_then(|s| s.write(256, |_, _| Ok(())))
        .map_err(std::io::Error::other)?;
    Ok(manifest.encode())
}

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let key = Keypair::from_label("seed");
    let transfer = Tx {
        chain_id: "fuzz".into(),
        sender: key.address(),
        nonce: 3,
        fee: UNIT / 1000,
        body: TxBody::Transfer {
            to: Keypair::from_label("other").address(),
            amount: 5 * UNIT,
        },
    }
    .sign(&key);
    let block = Block {
        header: BlockHeader {
            chain_id: "fuzz".into(),
            height: 2,
            parent: Hash::digest(b"parent"),
            time_ms: 1_000,
            proposer: key.address(),
            txs_root: Block::txs_root(std::slice::from_ref(&transfer)),
            state_root: Hash::digest(b"state"),
        },
        txs: vec![transfer.clone()],
    };
    let manifest = Manifest {
        files: ["logs/stdout", "outputs/result.txt"]
            .iter()
            .map(|path| ManifestEntry {
                path: path.to_string(),
                size: 12,
                hash: Hash::digest(path.as_bytes()),
            })
            .collect(),
    };
    let upload = SignedRequest::sign(
        BlobUpload {
            hash: Hash::digest(b"blob"),
            size: 4,
        },
        "fuzz",
        1_800_000_100_000,
        &key,
    );
    let log_read = SignedRequest::sign(LogRead { order: 4 }, "fuzz", 1_800_000_100_000, &key);
    let mut seeds: Vec<(&str, String, Vec<u8>)> = vec![
        ("tx", "transfer".into(), transfer.to_bytes()),
        ("block", "one-transfer".into(), borsh::to_vec(&block)?),
        ("manifest", "two-files".into(), manifest.encode()),
        (
            "snapshot_manifest",
            "genesis".into(),
            genesis_snapshot_manifest(&key)?,
        ),
        (
            "signed_request",
            "upload".into(),
            [&[0u8][..], &borsh::to_vec(&upload)?].concat(),
        ),
        (
            "signed_request",
            "log-read".into(),
            [&[3u8][..], &borsh::to_vec(&log_read)?].concat(),
        ),
        (
            "query",
            "readme".into(),
            b"-gops,price\ngpu_model=T4 vram>=16 price<=2.5 region=r".to_vec(),
        ),
    ];
    for (i, message) in gpunet_bft::fuzzing::seeds().into_iter().enumerate() {
        seeds.push(("consensus", format!("part-{i}"), message));
    }
    for example in ["hello", "gpu", "rental"] {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../examples/{example}.toml"));
        seeds.push(("job_file", example.into(), std::fs::read(path)?));
    }
    // The market reads moves from any bytes: a few fixed byte patterns.
    for (i, len) in [64usize, 512, 4096].into_iter().enumerate() {
        let bytes = (0..len).map(|j| (j * 31 + i * 7) as u8).collect();
        seeds.push(("market", format!("pattern-{i}"), bytes));
    }
    for (target, name, bytes) in seeds {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("seed-{name}")), bytes)?;
    }
    Ok(())
}
