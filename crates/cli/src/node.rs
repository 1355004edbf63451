//! Running the network: `gpunet node`, `gpunet devnet`, `gpunet genesis`,
//! and `gpunet status`, which asks a node where the chain stands.

use crate::ctx::{Ctx, DEVNET_DIR};
use crate::output::gpn;
use crate::profile::DEVNET_PROFILE;
use anyhow::{bail, Context};
use gpunet_api::BlobReplication;
use gpunet_bft::{BftConfig, BftError, Multiaddr};
use gpunet_client::{Keystore, Wallet};
use gpunet_ledger::{Genesis, GenesisAccount};
use gpunet_node::{
    BlobRetention, Clock, NodeBuilder, SoloProducerConfig, Uploads, DEFAULT_MIN_FREE_BYTES,
    DEFAULT_SNAPSHOT_EVERY, LEDGER_FILE, UPLOAD_BYTES_PER_HOUR,
};
use gpunet_p2p::Reach;
use gpunet_primitives::{parse_amount, Address, TxBody};
use gpunet_provider::data_plane::{DataPlaneConfig, Retention};
use gpunet_provider::executor::ExecutorKind;
use gpunet_provider::Outputs;
use gpunet_types::{NodeAddress, Params};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// `gpunet devnet`'s options.
#[derive(clap::Args)]
pub(crate) struct DevnetArgs {
    #[arg(long, default_value = DEVNET_DIR)]
    data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8645")]
    listen: SocketAddr,
    /// The web console (with /metrics) over plain HTTP, for a browser.
    #[arg(long, default_value = "127.0.0.1:8646")]
    console_listen: SocketAddr,
    #[arg(long, default_value_t = 2)]
    providers: usize,
    /// How providers run jobs: "process", or "docker" (sandboxed containers).
    #[arg(long, default_value = "process")]
    executor: ExecutorKind,
    /// Providers keep their jobs' outputs and serve them peer to peer
    /// (the node keeps manifests only), as `gpunet provider
    /// --serve-outputs` does.
    #[arg(long)]
    serve_outputs: bool,
}

pub(crate) async fn devnet(args: DevnetArgs) -> anyhow::Result<()> {
    let DevnetArgs {
        data_dir,
        listen,
        console_listen,
        providers,
        executor,
        serve_outputs,
    } = args;
    let default_dir = data_dir == Path::new(DEVNET_DIR);
    let mut config = gpunet_devnet::DevnetConfig::new(data_dir);
    config.api_addr = listen;
    config.providers = providers;
    config.executor = executor;
    // Each provider's peer on its own loopback port, for renters'
    // sessions, and to keep outputs with --serve-outputs.
    let mut peer = DataPlaneConfig::new(Reach::Direct {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        relay: None,
    });
    if serve_outputs {
        peer.outputs = Outputs::Keep(Retention::default());
    }
    config.provider_peer = Some(peer);
    let devnet = gpunet_devnet::Devnet::start(config).await?;
    println!("gpunet devnet serving {}", devnet.address);
    // A second devnet on another --listen still runs without its console.
    match serve_console(console_listen, devnet.node.clone()).await {
        Ok(console) => println!("web console: {console}"),
        Err(e) => eprintln!("warning: no web console: {e:#} (--console-listen picks another)"),
    }
    println!(
        "client wallet keystore: {} (funded)",
        devnet.client_keystore.display()
    );
    let address = devnet.address.to_string();
    // Commands find it through its profile; failing that, from this
    // directory when it is the default one.
    let use_it = match crate::profile::register_devnet(&address, &devnet.client_keystore) {
        Ok((path, true)) => {
            println!(
                "profile {DEVNET_PROFILE} (this node, this wallet) written to {}: the default, \
                 so commands from any directory use it",
                path.display()
            );
            String::new()
        }
        Ok((path, false)) => {
            println!(
                "profile {DEVNET_PROFILE} (this node, this wallet) written to {}; another \
                 profile is the default",
                path.display()
            );
            format!("--profile {DEVNET_PROFILE} ")
        }
        Err(e) => {
            eprintln!("warning: cannot write the devnet's profile: {e:#}");
            if default_dir {
                format!("--keystore {} ", devnet.client_keystore.display())
            } else {
                format!(
                    "--node {address} --keystore {} ",
                    devnet.client_keystore.display()
                )
            }
        }
    };
    println!("try: gpunet {use_it}job run examples/hello.toml --wait");
    println!("fund any wallet: gpunet {use_it}devnet fund ADDRESS GPN");
    crate::signals::stop_asked().await;
    devnet.shutdown().await;
    Ok(())
}

/// Binds `addr` and serves `node`'s web console there in the background;
/// returns its URL. Bound before it returns: a port in use fails the start.
async fn serve_console(addr: SocketAddr, node: gpunet_node::Node) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the web console to {addr}"))?;
    let url = format!("http://{}/", listener.local_addr()?);
    tokio::spawn(async move {
        if let Err(e) = gpunet_api::serve_console(listener, node).await {
            tracing::error!("web console stopped: {e}");
        }
    });
    Ok(url)
}

/// What to do with a running devnet.
#[derive(clap::Subcommand)]
pub(crate) enum DevnetCmd {
    /// Send GPN from the devnet's faucet to ADDRESS, e.g.
    /// `gpunet devnet fund $(gpunet wallet show) 50`.
    #[command(after_help = "Example:\n  gpunet devnet fund $(gpunet wallet show) 50")]
    Fund { address: String, amount: String },
}

/// Runs `action` against the devnet the global `--node` names (by default
/// the one started from this directory).
pub(crate) async fn devnet_action(ctx: &Ctx, action: DevnetCmd) -> anyhow::Result<()> {
    match action {
        DevnetCmd::Fund { address, amount } => {
            let to: Address = address.parse().context("invalid address")?;
            let amount = parse_amount(&amount)?;
            let faucet = Wallet::new(gpunet_devnet::faucet_key(), ctx.client()?);
            let included = faucet
                .send(TxBody::Transfer { to, amount })
                .await
                .context("the devnet faucet could not send (is this node a devnet?)")?;
            ctx.output.print(&included, || {
                format!(
                    "sent {} from the devnet faucet to {to} in block {}",
                    gpn(amount),
                    included.height
                )
            });
        }
    }
    Ok(())
}

#[derive(clap::Args)]
pub(crate) struct NodeArgs {
    #[arg(long)]
    genesis: PathBuf,
    #[arg(long, default_value = ".gpunet/node")]
    data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8645")]
    listen: SocketAddr,
    /// Serve the web console, /metrics and the OpenAPI document over plain
    /// HTTP here too (for browsers, which take no ed25519 certificate).
    #[arg(long, value_name = "ADDR")]
    console_listen: Option<SocketAddr>,
    /// Keystore of this validator's key (signs blocks and votes, receives fees).
    #[arg(long)]
    validator_keystore: PathBuf,
    /// Block interval of the single-validator producer (without --bft).
    #[arg(long, default_value_t = 200)]
    block_ms: u64,
    /// Decide blocks with the genesis validators through BFT consensus
    /// (Malachite) instead of producing them alone.
    #[arg(long)]
    bft: bool,
    /// Where consensus traffic is accepted (with --bft).
    #[arg(long, default_value = "/ip4/0.0.0.0/tcp/26656")]
    p2p_listen: Multiaddr,
    /// Where transaction gossip is accepted (with --bft).
    #[arg(long, default_value = "/ip4/0.0.0.0/tcp/26657")]
    gossip_listen: Multiaddr,
    /// A consensus peer to reach first (repeatable); the rest are discovered.
    #[arg(long = "peer")]
    peers: Vec<Multiaddr>,
    /// A gossip peer to bootstrap from (repeatable); the rest are discovered.
    #[arg(long = "gossip-peer")]
    gossip_peers: Vec<Multiaddr>,
    /// This node's API URL (https://HOST:PORT) as other nodes, clients and
    /// providers reach it, announced to peers with its key (with --bft).
    #[arg(long)]
    advertise_api: Option<String>,
    /// Keystore of the key the API's TLS certificate carries, which clients
    /// pin (made on first start; default: api-key.json in --data-dir).
    #[arg(long)]
    api_keystore: Option<PathBuf>,
    /// How long a closed order's inputs and results stay in this node's blob
    /// store for its client to fetch (hours; open orders' always stay).
    #[arg(long, default_value_t = 7 * 24)]
    blob_retention_hours: u64,
    /// Disk space (MiB) the blob store leaves free for the ledger: uploads
    /// that would eat into it are refused.
    #[arg(long, default_value_t = DEFAULT_MIN_FREE_BYTES >> 20)]
    min_free_disk_mb: u64,
    /// How many validators keep a copy of each job input and result ahead
    /// of any read, besides the node it was uploaded to (with --bft; 0: copy
    /// only when read).
    #[arg(long, default_value_t = BlobReplication::default().replicas)]
    blob_replicas: usize,
    /// Rebuild this node's ledger and consensus stores from its peers (with
    /// --bft): the ones it has are moved aside under --data-dir, its keys
    /// and its record of signed votes stay. The way out when its stores
    /// disagree, as after restoring only part of a backup.
    #[arg(long, requires = "bft")]
    resync: bool,
    /// Join from the newest state snapshot the node at NODE
    /// (https://HOST:PORT#KEY) serves instead of replaying every block since
    /// genesis (with --bft). Taken when this node's ledger is new, or more
    /// than 10,000 blocks behind the snapshot (its stores are then moved
    /// aside as with --resync); otherwise the node syncs blocks as usual.
    /// The snapshot is checked against a certificate of the genesis validators.
    #[arg(long, requires = "bft", value_name = "NODE")]
    from_snapshot: Option<String>,
    /// Blocks between the state snapshots this node takes for others to
    /// join from (with --bft; 0: none).
    #[arg(long, default_value_t = DEFAULT_SNAPSHOT_EVERY)]
    snapshot_every: u64,
    /// MiB one account may upload to this node's blob store per hour.
    #[arg(long, default_value_t = UPLOAD_BYTES_PER_HOUR >> 20)]
    upload_quota_mb: u64,
    /// Stamp and judge blocks by a clock this far ahead of the system's
    /// (behind with a leading minus: -3m), as a validator whose clock is
    /// wrong would (with --bft). For fault drills: the others neither halt
    /// nor take its block times.
    #[arg(long, requires = "bft", value_name = "OFFSET", allow_hyphen_values = true,
          value_parser = parse_clock_offset)]
    clock_offset: Option<i64>,
    /// Longest a proposer with no transaction waits before proposing an
    /// empty block, so block time keeps moving (with --bft; 0s: propose at
    /// once, deciding blocks as fast as consensus allows, as load tests and
    /// catch-up drills do).
    #[arg(long, requires = "bft", value_name = "DURATION",
          value_parser = humantime::parse_duration)]
    heartbeat: Option<Duration>,
    /// How long a proposer with transactions waits after the last block
    /// before proposing, so that blocks carry what arrives meanwhile (with
    /// --bft; default 60ms; 0s: at once, the lowest latency for the most
    /// CPU per transaction: BENCHMARKS.md).
    #[arg(long, requires = "bft", value_name = "DURATION",
          value_parser = humantime::parse_duration)]
    gather: Option<Duration>,
}

/// `--clock-offset`: a duration (90s, 3m), a leading minus for behind; in
/// milliseconds.
fn parse_clock_offset(text: &str) -> Result<i64, String> {
    let (sign, duration) = match text.trim().strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.trim().trim_start_matches('+')),
    };
    let ms = humantime::parse_duration(duration)
        .map_err(|e| format!("{text:?} is not an offset like 3m, -90s or +1h: {e}"))?
        .as_millis();
    i64::try_from(ms)
        .map(|ms| sign * ms)
        .map_err(|_| format!("{text:?} is too far off"))
}

/// How far behind a peer's snapshot a node with a ledger must be for
/// `--from-snapshot` to replace its stores rather than sync the blocks.
const FAR_BEHIND_BLOCKS: u64 = 10_000;

pub(crate) async fn node(args: NodeArgs) -> anyhow::Result<()> {
    let retention = BlobRetention {
        after_close: Duration::from_secs(args.blob_retention_hours.saturating_mul(3600)),
        ..BlobRetention::default()
    };
    let genesis = Genesis::from_file(&args.genesis)?;
    let key = Keystore::load(&args.validator_keystore)?;
    let replication_key = key.clone();
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let api_key = Keystore::load_or_create(
        &args
            .api_keystore
            .unwrap_or_else(|| args.data_dir.join("api-key.json")),
    )?;
    let advertised = args.advertise_api.is_some();
    let url = args
        .advertise_api
        .unwrap_or_else(|| format!("https://{}", args.listen));
    if !url.starts_with("https://") {
        bail!("--advertise-api takes https://HOST:PORT, got {url:?}");
    }
    let address = NodeAddress::new(&url, api_key.address());
    address
        .save(&args.data_dir)
        .with_context(|| format!("writing the API address to {}", args.data_dir.display()))?;
    let min_free_disk = args.min_free_disk_mb.saturating_mul(1 << 20);
    let node = if args.bft {
        let consensus_home = args.data_dir.join("consensus");
        if args.resync {
            set_aside_stores(&args.data_dir, &consensus_home)?;
        }
        if let Some(peer) = &args.from_snapshot {
            join_from_snapshot(peer, &genesis, &args.data_dir, &consensus_home).await?;
        }
        let base = NodeBuilder::new(&args.data_dir, genesis)
            .min_free_disk(min_free_disk)
            .snapshot_every(args.snapshot_every)
            .open()?;
        let mut config = BftConfig::new(consensus_home, args.p2p_listen, args.gossip_listen);
        config.snapshots = Some(base.snapshots.clone());
        config.consensus_peers = args.peers;
        config.gossip.bootstrap = args.gossip_peers;
        config.gossip.api_url = advertised.then(|| address.to_string());
        if let Some(heartbeat) = args.heartbeat {
            config.proposals.heartbeat = heartbeat;
        }
        if let Some(gather) = args.gather {
            config.proposals.gather = gather;
        }
        if let Some(offset_ms) = args.clock_offset {
            config.proposals.clock = Clock::skewed(offset_ms);
            tracing::warn!(
                "this node's clock runs {offset_ms} ms off the system's (--clock-offset)"
            );
        }
        let consensus = gpunet_bft::start(base.ledger.clone(), key, config, base.events.clone())
            .await
            .map_err(|e| match e {
                BftError::StoresDisagree { .. } => anyhow::anyhow!(
                    "{e}.\nStart it once with --resync to rebuild them from its peers: \
                     they are moved aside, its keys and its record of signed votes stay."
                ),
                e => e.into(),
            })?;
        base.with_consensus(Arc::new(consensus))
    } else {
        NodeBuilder::new(&args.data_dir, genesis)
            .min_free_disk(min_free_disk)
            .start_solo(
                key,
                SoloProducerConfig {
                    block_interval: Duration::from_millis(args.block_ms),
                    ..SoloProducerConfig::default()
                },
            )?
    };
    let node = gpunet_node::Node {
        uploads: Arc::new(Uploads::with_quota(
            args.upload_quota_mb.saturating_mul(1 << 20),
        )),
        ..node
    };
    node.spawn_blob_collection(retention);
    if args.bft && args.blob_replicas > 0 {
        let replication = BlobReplication {
            replicas: args.blob_replicas,
            ..BlobReplication::default()
        };
        gpunet_api::spawn_blob_replication(node.clone(), replication_key, replication, retention);
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    crate::logs::announce(&format!(
        "gpunet node serving {address} (clients: --node {address})"
    ));
    if let Some(addr) = args.console_listen {
        let console = serve_console(addr, node.clone()).await?;
        crate::logs::announce(&format!("web console: {console}"));
    }
    // Stopping is safe at any point: every store commits atomically.
    tokio::select! {
        served = gpunet_api::serve(listener, node, &api_key) => served?,
        () = crate::signals::stop_asked() => crate::logs::announce("gpunet node stopped"),
    }
    Ok(())
}

/// Restores this node's ledger from the newest snapshot `peer` serves when
/// the node is new or far behind it (see `--from-snapshot`), and says what
/// it did.
async fn join_from_snapshot(
    peer: &str,
    genesis: &Genesis,
    data_dir: &Path,
    consensus_home: &Path,
) -> anyhow::Result<()> {
    let client = gpunet_client::NodeClient::new(peer)
        .with_context(|| format!("--from-snapshot {peer:?}"))?;
    let Some(offered) = client.snapshots().await?.into_iter().next() else {
        crate::logs::announce(&format!(
            "--from-snapshot: {peer} serves no snapshot yet; syncing blocks from genesis"
        ));
        return Ok(());
    };
    let ledger_path = data_dir.join(LEDGER_FILE);
    let head = if ledger_path.exists() {
        gpunet_ledger::Ledger::open(Some(&ledger_path), genesis)?
            .head()
            .height
    } else {
        0
    };
    if head > 0 && head.saturating_add(FAR_BEHIND_BLOCKS) >= offered.height {
        crate::logs::announce(&format!(
            "--from-snapshot: this node is at height {head}, its peer's snapshot at {}: \
             syncing blocks instead",
            offered.height
        ));
        return Ok(());
    }
    if head > 0 {
        set_aside_stores(data_dir, consensus_home)?;
    } else {
        // A new node's stores hold nothing decided, but are kept all the same.
        set_aside_consensus_stores(data_dir, consensus_home)?;
    }
    let restored =
        gpunet_bft::restore_from_snapshot(&client, genesis, &ledger_path, consensus_home).await?;
    crate::logs::announce(&format!(
        "joined from the snapshot at height {} served by {peer} ({} chunks, {} bytes): \
         following the chain from there",
        restored.height, restored.chunks, restored.bytes
    ));
    Ok(())
}

/// Where a node's stores are moved aside: `resync-<unix seconds>/`.
fn aside_dir(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    Ok(data_dir.join(format!("resync-{now}")))
}

/// Moves the consensus stores a node rebuilds from peers aside, if it has any.
fn set_aside_consensus_stores(data_dir: &Path, consensus_home: &Path) -> anyhow::Result<()> {
    let aside = aside_dir(data_dir)?;
    if gpunet_bft::set_aside_rebuilt_stores(consensus_home, &aside.join("consensus"))
        .with_context(|| format!("moving this node's stores to {}", aside.display()))?
    {
        crate::logs::announce(&format!(
            "the consensus stores were moved to {}",
            aside.display()
        ));
    }
    Ok(())
}

/// Moves a node's ledger and the consensus stores its peers can rebuild into
/// `resync-<unix seconds>/` under its data directory, and says so.
fn set_aside_stores(data_dir: &Path, consensus_home: &Path) -> anyhow::Result<()> {
    let aside = aside_dir(data_dir)?;
    gpunet_bft::set_aside_rebuilt_stores(consensus_home, &aside.join("consensus"))
        .and_then(|_| {
            std::fs::create_dir_all(&aside)?;
            match std::fs::rename(data_dir.join(LEDGER_FILE), aside.join(LEDGER_FILE)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
        .with_context(|| format!("moving this node's stores to {}", aside.display()))?;
    crate::logs::announce(&format!(
        "resync: the ledger and consensus stores were moved to {}; rebuilding them from peers",
        aside.display()
    ));
    Ok(())
}

pub(crate) fn genesis(
    chain_id: String,
    validators: Vec<String>,
    fund: Vec<String>,
    challenge_work_ms: Option<u64>,
    out: PathBuf,
) -> anyhow::Result<()> {
    let validators = validators
        .iter()
        .map(|v| v.parse().with_context(|| format!("invalid validator {v}")))
        .collect::<anyhow::Result<Vec<Address>>>()?;
    let mut accounts = Vec::new();
    for f in fund {
        let Some((addr, amount)) = f.split_once('=') else {
            bail!("--fund takes ADDRESS=GPN, got {f:?}")
        };
        accounts.push(GenesisAccount {
            address: addr
                .parse()
                .with_context(|| format!("invalid address {addr}"))?,
            balance: parse_amount(amount)?,
        });
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    let genesis = Genesis {
        chain_id,
        genesis_time_ms: now,
        accounts,
        validators,
        params: Params {
            challenge_work_ms: challenge_work_ms.unwrap_or(Params::default().challenge_work_ms),
            ..Params::default()
        },
    };
    genesis.validate()?;
    std::fs::write(&out, genesis.to_json())
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

pub(crate) async fn block(ctx: &Ctx, height: u64) -> anyhow::Result<()> {
    let view = ctx.client()?.block(height).await?;
    ctx.output.print(&view, || {
        let header = &view.block.header;
        let mut text = format!(
            "height        {}\nhash          {}\nparent        {}\ntime          {} ms since the epoch\n\
             proposer      {}\nstate root    {}\ntransactions  {}\n",
            header.height,
            view.hash,
            header.parent,
            header.time_ms,
            header.proposer,
            header.state_root,
            view.block.txs.len(),
        );
        for tx in &view.block.txs {
            text.push_str(&format!(
                "  {} {} from {} (nonce {})\n",
                tx.hash(),
                tx.tx.body.kind(),
                tx.tx.sender,
                tx.tx.nonce
            ));
        }
        text
    });
    Ok(())
}

pub(crate) async fn status(ctx: &Ctx) -> anyhow::Result<()> {
    let client = ctx.client()?;
    let status = client.status().await?;
    ctx.output.print(&status, || {
        let supply = &status.supply;
        let mut text = format!(
            "node        {}\nchain       {}\nheight      {} (block {})\nblock time  {} ms since the epoch\n\
             state root  {}\nsupply      {} at genesis, {} minted, {} burned, {} slashed\nvalidators\n",
            client.address(),
            status.chain_id,
            status.height,
            status.block_hash,
            status.time_ms,
            status.state_root,
            gpn(supply.genesis),
            gpn(supply.minted),
            gpn(supply.burned),
            gpn(supply.slashed),
        );
        for v in &status.validators {
            text.push_str(&format!("  {v}\n"));
        }
        text
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_clock_offset;

    #[test]
    fn clock_offsets_go_both_ways_and_refuse_what_is_not_one() {
        assert_eq!(parse_clock_offset("3m"), Ok(180_000));
        assert_eq!(parse_clock_offset("+90s"), Ok(90_000));
        assert_eq!(parse_clock_offset("-3m"), Ok(-180_000));
        assert!(parse_clock_offset("soon").is_err());
        assert!(parse_clock_offset("--3m").is_err());
        assert!(parse_clock_offset("999999999999999d").is_err());
    }
}
