//! `gpunet rent forward` and `gpunet rent ssh-proxy`: connections to a port
//! in a rental, as `ssh -L` makes them.
//!
//! Each local connection is one session on the rental's link (one QUIC
//! connection to its provider for all of them), reaching the port on the
//! rental's own loopback. Each direction ends on its own: the local side's
//! end of writing reaches the port as a half-close, and the port's closing
//! ends the connection here.

use anyhow::Context;
use gpunet_client::rental_session::RentalLink;
use gpunet_client::Wallet;
use gpunet_primitives::OrderId;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use crate::ctx::Ctx;

/// Where to listen and which port in the rental to reach:
/// `[[ADDRESS:]LOCAL:]REMOTE`, as `ssh -L` writes it without the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Forwarding {
    /// The local address connections come to (port 0: any free one).
    pub(crate) listen: SocketAddr,
    /// The port in the rental.
    pub(crate) remote: u16,
}

impl std::str::FromStr for Forwarding {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let port = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| format!("{p:?} in {text:?} is not a port (0 to 65535)"))
        };
        let mut parts = text.rsplitn(3, ':');
        let remote = port(parts.next().unwrap_or_default())?;
        if remote == 0 {
            return Err(format!("{text:?}: the port in the rental cannot be 0"));
        }
        let local = parts.next().map(port).transpose()?.unwrap_or(remote);
        let address = match parts.next() {
            None => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some(address) => address
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| format!("{address:?} in {text:?} is not an IP address"))?,
        };
        Ok(Forwarding {
            listen: SocketAddr::new(address, local),
            remote,
        })
    }
}

/// Forwards each connection to `forwarding.listen` to the port in rental
/// `order`, until Ctrl-C.
pub(crate) async fn forward(
    ctx: &Ctx,
    wallet: &Wallet,
    order: OrderId,
    forwarding: Forwarding,
) -> anyhow::Result<()> {
    let link = Arc::new(RentalLink::connect(wallet, order).await?);
    let listener = tokio::net::TcpListener::bind(forwarding.listen)
        .await
        .with_context(|| format!("listening on {}", forwarding.listen))?;
    let local = listener.local_addr()?;
    let port = forwarding.remote;
    let listening = serde_json::json!({
        "order": order,
        "local": local.to_string(),
        "port": port,
    });
    ctx.output.print_line(&listening, || {
        format!("forwarding {local} to port {port} in rental {order} (Ctrl-C stops)")
    });
    let stopped = tokio::signal::ctrl_c();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, from) = accepted.context("accepting a connection")?;
                let link = link.clone();
                tokio::spawn(async move {
                    let (reader, writer) = stream.into_split();
                    if let Err(e) = link.forward(port, reader, writer).await {
                        eprintln!("[gpunet: a connection from {from} to port {port} in rental {order}: {e}]");
                    }
                });
            }
            _ = &mut stopped => break,
        }
    }
    link.close().await;
    Ok(())
}

/// Carries this process's input and output to the port in rental `order`
/// (an OpenSSH `ProxyCommand`: `ssh` talks to the rental's sshd through it).
pub(crate) async fn proxy(wallet: &Wallet, order: OrderId, port: u16) -> anyhow::Result<()> {
    let link = RentalLink::connect(wallet, order).await?;
    let carried = link
        .forward(port, tokio::io::stdin(), tokio::io::stdout())
        .await;
    link.close().await;
    Ok(carried?)
}

/// The OpenSSH `Host` block that reaches rental `order`'s sshd through
/// [`proxy`], with this command's node and keystore, as `host`.
pub(crate) fn ssh_config(ctx: &Ctx, order: OrderId, host: &str) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("finding this gpunet executable")?;
    let keystore = std::path::absolute(ctx.keystore()?)?;
    let proxy = [
        exe.display().to_string(),
        "--node".into(),
        ctx.node_addresses()?,
        "--keystore".into(),
        keystore.display().to_string(),
        "rent".into(),
        "ssh-proxy".into(),
        order.to_string(),
    ]
    .iter()
    .map(|word| shell_quoted(word))
    .collect::<Vec<_>>()
    .join(" ")
    // ssh expands %-tokens in a ProxyCommand.
    .replace('%', "%%");
    Ok(format!(
        "# gpunet rental {order}: ssh {host}, scp FILE {host}:/workspace/, rsync -a DIR {host}:/workspace/\n\
         # The provider is proven by its chain key in the proxy's handshake; the\n\
         # container's host key is made anew each time it starts, so it is not kept.\n\
         # The proxy asks for the keystore's passphrase on the terminal, unless\n\
         # GPUNET_PASSPHRASE is set (editors connecting without a terminal need it).\n\
         Host {host}\n  \
           HostName gpunet-rental-{order}\n  \
           User root\n  \
           ProxyCommand {proxy}\n  \
           StrictHostKeyChecking no\n  \
           UserKnownHostsFile /dev/null\n  \
           LogLevel ERROR\n"
    ))
}

/// `word` as one word for a POSIX shell.
fn shell_quoted(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::Forwarding;

    #[test]
    fn a_forwarding_reads_as_ssh_writes_it() {
        let at = |listen: &str, remote| Forwarding {
            listen: listen.parse().unwrap(),
            remote,
        };
        assert_eq!("8888".parse(), Ok(at("127.0.0.1:8888", 8888)));
        assert_eq!("9000:8888".parse(), Ok(at("127.0.0.1:9000", 8888)));
        assert_eq!("0:8888".parse(), Ok(at("127.0.0.1:0", 8888)));
        assert_eq!("0.0.0.0:9000:22".parse(), Ok(at("0.0.0.0:9000", 22)));
        assert_eq!("[::1]:9000:22".parse(), Ok(at("[::1]:9000", 22)));
        assert!("0".parse::<Forwarding>().is_err());
        assert!("70000".parse::<Forwarding>().is_err());
        assert!("jupyter".parse::<Forwarding>().is_err());
        assert!("host:9000:22".parse::<Forwarding>().is_err());
    }
}
