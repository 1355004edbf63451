//! `gpunet provider` (the agent) and `gpunet hardware` (what it would offer).

use crate::ctx::Ctx;
use anyhow::{bail, Context};
use gpunet_client::Keystore;
use gpunet_p2p::Reach;
use gpunet_primitives::parse_amount;
use gpunet_provider::data_plane::{DataPlaneConfig, Retention};
use gpunet_provider::executor::ExecutorKind;
use gpunet_provider::Outputs;
use std::net::SocketAddr;
use std::path::PathBuf;

pub(crate) fn hardware(ctx: &Ctx, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let hw = gpunet_provider::hardware::detect(data_dir);
    let offered = hw.gpus.first().map(|g| g.name.as_str());
    let class = gpunet_poc::ComputeClass::of_model(offered);
    #[derive(serde::Serialize)]
    struct View<'a> {
        hardware: &'a gpunet_provider::hardware::Hardware,
        compute_class: &'static str,
        class_peak_int8_gops: u64,
    }
    let view = View {
        hardware: &hw,
        compute_class: class.name,
        class_peak_int8_gops: class.peak_int8_gops,
    };
    ctx.output.print(&view, || {
        let or_unknown = |v: Option<String>| v.unwrap_or_else(|| "unknown".into());
        let mut text = format!(
            "CPU      {} ({} cores)\nmemory   {} MiB\ndisk     {} MiB free in {}\nnetwork  {}\n",
            or_unknown(hw.cpu_model.clone()),
            hw.cpu_cores,
            hw.memory_mb,
            hw.disk_mb,
            data_dir.display(),
            hw.network_link_mbps
                .map_or("link speed unknown".into(), |m| format!("{m} Mbit/s link")),
        );
        for (i, g) in hw.gpus.iter().enumerate() {
            text += &format!(
                "GPU {i}    {} ({} MiB, compute {}, {}% busy) {}\n",
                g.name,
                g.vram_mb,
                or_unknown(g.compute_capability.clone()),
                g.utilization_pct.map_or("?".into(), |u| u.to_string()),
                g.uuid
            );
        }
        if let Some(note) = &hw.gpu_note {
            text += &format!("GPU      none: {note}\n");
        } else {
            text += &format!(
                "driver   {} (CUDA {})\n",
                or_unknown(hw.driver_version.clone()),
                or_unknown(hw.cuda_version.clone())
            );
        }
        text += &format!(
            "class    {} (challenged at {} GOPS int8 peak per device); these are claims until proven",
            class.name, class.peak_int8_gops
        );
        text
    });
    Ok(())
}

#[derive(clap::Args)]
pub(crate) struct ProviderArgs {
    #[arg(long, default_value = ".gpunet/provider")]
    data_dir: PathBuf,
    /// Base price per hour in GPN that every job on this machine pays.
    #[arg(long, default_value = "3.6")]
    price: String,
    /// Added per GPU a job asks for, in GPN per hour.
    #[arg(long, default_value = "0")]
    price_per_gpu: String,
    /// Added per CPU core a job asks for, in GPN per hour.
    #[arg(long, default_value = "0")]
    price_per_cpu: String,
    /// Added per GiB of memory a job asks for, in GPN per hour.
    #[arg(long, default_value = "0")]
    price_per_gb_ram: String,
    #[arg(long, default_value = "local")]
    region: String,
    /// How jobs run: "docker" (sandboxed containers) or "process" (no sandbox).
    #[arg(long, default_value = "docker")]
    executor: ExecutorKind,
    /// The address renters reach this machine at: a rental's exposed ports
    /// are announced as HOST:PORT.
    #[arg(long, default_value = "127.0.0.1")]
    public_host: String,
    /// Serve this agent's Prometheus metrics at http://ADDR/metrics (plain
    /// HTTP, e.g. 127.0.0.1:9101): runs, challenges, executor errors,
    /// earnings and slashes; the endpoint's OpenAPI document at
    /// /v1/openapi.json.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Run no data-plane peer: renters get no sessions in their rentals
    /// (`gpunet rent exec`, `rent shell`) and outputs go to the nodes.
    #[arg(long, conflicts_with_all = ["serve_outputs", "data_announce", "relay"])]
    no_peer: bool,
    /// Keep finished jobs' logs and outputs here and serve them peer to peer
    /// to their readers (the nodes get manifests only); clients fetch them
    /// from this machine while its agent runs.
    #[arg(long)]
    serve_outputs: bool,
    /// Where the data-plane peer listens (UDP, QUIC): renters' sessions and
    /// served outputs arrive there.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:0")]
    data_listen: SocketAddr,
    /// The address renters and readers dial, announced on chain (repeat for
    /// several; default: the listening socket's own addresses). A machine
    /// behind NAT names its public address and forwarded port here, or uses
    /// a relay.
    #[arg(long, value_name = "ADDR")]
    data_announce: Vec<SocketAddr>,
    /// A relay (`gpunet relay` on a reachable machine) through which renters
    /// and readers reach this peer when they cannot dial it.
    #[arg(long, value_name = "URL")]
    relay: Option<String>,
    /// Open no socket of its own: the peer is reached only through --relay
    /// (a machine that accepts no inbound connection).
    #[arg(long, requires = "relay")]
    relay_only: bool,
    /// How long a served result is kept after its job ended (e.g. 7d, 12h);
    /// then its files are deleted here.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = crate::rent::parse_duration, requires = "serve_outputs")]
    keep_outputs: u64,
    /// Most GiB of pushed images' archives kept (`gpunet image push`):
    /// fetched before the runs that name them, served to other providers,
    /// the least recently used deleted first.
    #[arg(long, value_name = "GIB", default_value_t = DataPlaneConfig::IMAGE_BUDGET >> 30)]
    image_cache_gb: u64,
}

impl ProviderArgs {
    /// The agent's data-plane peer, unless --no-peer.
    fn peer(&self) -> anyhow::Result<Option<DataPlaneConfig>> {
        if self.no_peer {
            return Ok(None);
        }
        let reach = match (&self.relay, self.relay_only) {
            (Some(relay), true) => Reach::RelayOnly {
                relay: relay.clone(),
            },
            (relay, false) => Reach::Direct {
                bind: self.data_listen,
                relay: relay.clone(),
            },
            (None, true) => bail!("--relay-only needs --relay"),
        };
        let outputs = if self.serve_outputs {
            Outputs::Keep(Retention {
                keep_for: std::time::Duration::from_secs(self.keep_outputs),
                ..Retention::default()
            })
        } else {
            Outputs::UploadToNodes
        };
        Ok(Some(DataPlaneConfig {
            announce: self.data_announce.clone(),
            outputs,
            image_budget: self.image_cache_gb.saturating_mul(1 << 30),
            ..DataPlaneConfig::new(reach)
        }))
    }
}

pub(crate) async fn provider(ctx: &Ctx, args: ProviderArgs) -> anyhow::Result<()> {
    let key = Keystore::load(&ctx.keystore()?)?;
    let price =
        |what: &str, value: &str| parse_amount(value).with_context(|| format!("{what} {value:?}"));
    let peer = args.peer()?;
    let config = gpunet_provider::AgentConfig {
        node: ctx.node_addresses()?,
        data_dir: args.data_dir,
        region: args.region,
        price_per_hour: price("--price", &args.price)?,
        resource_prices: gpunet_primitives::ResourcePrices {
            per_gpu_hour: price("--price-per-gpu", &args.price_per_gpu)?,
            per_cpu_hour: price("--price-per-cpu", &args.price_per_cpu)?,
            per_gb_ram_hour: price("--price-per-gb-ram", &args.price_per_gb_ram)?,
        },
        public_host: args.public_host,
        unproven_gpus: gpunet_provider::UnprovenGpus::Refuse,
        peer,
    };
    let executor =
        args.executor.connect().await.context(
            "preparing the executor (use --executor process on a machine without Docker)",
        )?;
    // Bound before registering: a port in use fails the start, not later.
    let metrics_listener = match args.metrics_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("--metrics-listen {addr}"))?,
        ),
        None => None,
    };
    let agent = gpunet_provider::Agent::register(key, config, executor).await?;
    if let Some(listener) = metrics_listener {
        tokio::spawn(gpunet_provider::endpoint::serve(listener, agent.metrics()));
    }
    let hw = agent.hardware();
    crate::logs::announce(&format!(
        "provider serving machine {} ({} cores, {} MiB, {} GPU(s){})",
        agent.machine_id(),
        hw.cpu_cores,
        hw.memory_mb,
        hw.gpus.len(),
        hw.gpu_note
            .as_deref()
            .map(|n| format!("; {n}"))
            .unwrap_or_default()
    ));
    // Ctrl-C (or SIGTERM) drains (the machine is paused, running work
    // finishes); a second one stops at once.
    let stop = crate::signals::stop_asked();
    let second_stop = async {
        crate::signals::stop_asked().await;
        crate::signals::stop_asked().await;
    };
    tokio::select! {
        ran = agent.run_until(stop) => ran?,
        () = second_stop => bail!("stopped before running work finished: it is reported failed when the agent restarts"),
    }
    Ok(())
}

/// `gpunet relay`: serves until Ctrl-C.
pub(crate) async fn relay(listen: SocketAddr, public_host: Option<String>) -> anyhow::Result<()> {
    let relay = gpunet_p2p::Relay::start(listen)
        .await
        .with_context(|| format!("--listen {listen}"))?;
    crate::logs::announce(&relay_banner(relay.addr(), public_host.as_deref()));
    crate::signals::stop_asked().await;
    relay.shutdown().await;
    Ok(())
}

/// What a relay listening on `addr` says about where to reach it: the URL
/// to give providers, with `public_host` or the address it listens on, which
/// is nobody's to dial when it listens on every interface (0.0.0.0, `::`).
fn relay_banner(addr: SocketAddr, public_host: Option<&str>) -> String {
    let port = addr.port();
    let url = |host: &str| {
        if host.contains(':') && !host.starts_with('[') {
            format!("http://[{host}]:{port}/")
        } else {
            format!("http://{host}:{port}/")
        }
    };
    let host = match public_host {
        Some(host) => host.to_string(),
        None if addr.ip().is_unspecified() => {
            return format!(
                "relay listening on every interface at port {port}: give providers --relay {} \
                 with HOST this machine's address (--public-host HOST prints it)",
                url("HOST")
            )
        }
        None => addr.ip().to_string(),
    };
    format!(
        "relay serving {} (give it to providers with --relay)",
        url(&host)
    )
}

#[cfg(test)]
mod tests {
    use super::relay_banner;

    #[test]
    fn a_relay_prints_a_url_others_can_dial() {
        let on = |addr: &str| addr.parse().unwrap();
        assert_eq!(
            relay_banner(on("127.0.0.1:3340"), None),
            "relay serving http://127.0.0.1:3340/ (give it to providers with --relay)"
        );
        assert_eq!(
            relay_banner(on("0.0.0.0:3340"), Some("relay.example.org")),
            "relay serving http://relay.example.org:3340/ (give it to providers with --relay)"
        );
        assert_eq!(
            relay_banner(on("[::]:3340"), Some("2001:db8::1")),
            "relay serving http://[2001:db8::1]:3340/ (give it to providers with --relay)"
        );
        let unspecified = relay_banner(on("0.0.0.0:3340"), None);
        assert!(
            unspecified.contains("--relay http://HOST:3340/ with HOST this machine's address"),
            "{unspecified}"
        );
        assert!(!relay_banner(on("[::]:3340"), None).contains("http://[::]"));
    }
}
