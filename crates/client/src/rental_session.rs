//! Sessions in a rental: a command run in the rented container, or a
//! connection to one of its ports, carried over a QUIC connection to the
//! provider's peer ([`gpunet_p2p::access`]). The peer is found on chain, and
//! dialled with this wallet's key, which the provider checks is the
//! rental's renter; the provider's key is checked in the same handshake.

use crate::{ClientError, Wallet};
use gpunet_p2p::access::{
    AccessRequest, Dialer, FrameReceiver, FrameSender, FromRental, RenterSession, ToRental,
};
use gpunet_primitives::OrderId;
use gpunet_types::{OrderStatus, PeerAddr};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The way to a running rental's provider, on which sessions open (all on
/// one connection). Close it when done.
pub struct RentalLink {
    order: OrderId,
    peer: PeerAddr,
    dialer: Dialer,
}

impl RentalLink {
    /// Finds rental `order`'s provider on chain and starts this wallet's
    /// endpoint; refused unless the order is a running rental whose
    /// provider runs a peer.
    pub async fn connect(wallet: &Wallet, order: OrderId) -> Result<RentalLink, ClientError> {
        let refused = |why: String| ClientError::RentalSession(why);
        let view = wallet.node().order(order).await?;
        if view.rental.is_none() {
            return Err(refused(format!(
                "order {order} is a job, not a rental: `gpunet job logs {order}` follows it"
            )));
        }
        let lease = match (&view.lease, view.status) {
            (Some(lease), OrderStatus::Running) => lease,
            (_, status) => {
                return Err(refused(format!(
                    "rental {order} is {status}: sessions open only while it runs"
                )))
            }
        };
        let provider = lease.provider;
        let Some(peer) = wallet.node().peer(&provider).await? else {
            return Err(refused(format!(
                "rental {order}'s provider {provider} runs no data-plane peer, so its rentals \
                 take no sessions (its agent was started with --no-peer)"
            )));
        };
        let dialer = Dialer::start(wallet.key(), peer.relay.clone())
            .await
            .map_err(|e| refused(format!("cannot start this wallet's endpoint: {e}")))?;
        Ok(RentalLink {
            order,
            peer,
            dialer,
        })
    }

    /// The rental this link reaches.
    pub fn order(&self) -> OrderId {
        self.order
    }

    /// Opens a session asking `request`, which must name this rental.
    pub async fn open(&self, request: &AccessRequest) -> Result<RenterSession, ClientError> {
        let order = self.order;
        if request.order() != order {
            return Err(ClientError::Invalid(format!(
                "a request about order {} on rental {order}'s link",
                request.order()
            )));
        }
        self.dialer.open(&self.peer, request).await.map_err(|e| {
            ClientError::RentalSession(format!(
                "cannot reach rental {order}'s provider {}: {e} (its agent must be running)",
                self.peer.account
            ))
        })
    }

    /// Runs `command` in the rental without a terminal: `input` is its
    /// standard input (its end reaches the command when `input` ends), and
    /// what it writes goes to `stdout` and `stderr` as it arrives. Returns
    /// its exit code once it has exited.
    ///
    /// A command that stops reading its input early (it failed, say) still
    /// ends the session with its exit code.
    pub async fn exec(
        &self,
        command: Vec<String>,
        mut input: impl AsyncRead + Unpin,
        mut stdout: impl AsyncWrite + Unpin,
        mut stderr: impl AsyncWrite + Unpin,
    ) -> Result<i32, ClientError> {
        let order = self.order;
        let request = AccessRequest::Exec {
            order,
            command,
            terminal: None,
        };
        let (mut sender, mut receiver) = self.open(&request).await?.split();
        let broke = |why: String| {
            ClientError::RentalSession(format!("the session in rental {order} broke: {why}"))
        };
        let send = send_all(&mut input, &mut sender);
        let receive = async {
            loop {
                match receiver.recv().await.map_err(|e| broke(e.to_string()))? {
                    Some(FromRental::Stdout(bytes)) => stdout.write_all(&bytes).await?,
                    Some(FromRental::Stderr(bytes)) => stderr.write_all(&bytes).await?,
                    Some(FromRental::Exited(code)) => {
                        stdout.shutdown().await?;
                        stderr.shutdown().await?;
                        return Ok(code);
                    }
                    Some(FromRental::Failed(why)) => return Err(ClientError::RentalSession(why)),
                    None => {
                        return Err(broke("the provider closed it without an exit code".into()))
                    }
                }
            }
        };
        tokio::pin!(send, receive);
        tokio::select! {
            exited = &mut receive => exited,
            // The command stopped reading: its exit says why.
            Err(_) = &mut send => receive.await,
        }
    }

    /// Carries one connection to `port` on the rental's loopback: what
    /// `from_local` reads reaches the port (its end as a half-close), and
    /// what the port sends goes to `to_local`, until the port closes or
    /// either side fails.
    pub async fn forward(
        &self,
        port: u16,
        from_local: impl AsyncRead + Unpin,
        to_local: impl AsyncWrite + Unpin,
    ) -> Result<(), ClientError> {
        let order = self.order;
        let (sender, receiver) = self
            .open(&AccessRequest::Forward { order, port })
            .await?
            .split();
        carry(sender, receiver, from_local, to_local).await
    }

    /// Closes the endpoint and every session on it.
    pub async fn close(&self) {
        self.dialer.close().await;
    }
}

/// [`RentalLink::forward`] on an open session.
///
/// A provider ends a session by stopping the renter's stream and then
/// saying why ([`FromRental::Failed`] or [`FromRental::Exited`]), so a
/// renter's write can fail before that last word is read: the last word is
/// awaited for [`LAST_WORD_WAIT`], and only without one is the failed write
/// the error.
async fn carry(
    mut sender: FrameSender<ToRental>,
    mut receiver: FrameReceiver<FromRental>,
    mut from_local: impl AsyncRead + Unpin,
    mut to_local: impl AsyncWrite + Unpin,
) -> Result<(), ClientError> {
    let broke = |why: String| ClientError::RentalSession(format!("the connection broke: {why}"));
    let upstream = send_all(&mut from_local, &mut sender);
    let downstream = async {
        loop {
            match receiver.recv().await.map_err(|e| broke(e.to_string()))? {
                Some(FromRental::Stdout(bytes)) => {
                    to_local
                        .write_all(&bytes)
                        .await
                        .map_err(|e| broke(e.to_string()))?;
                    to_local.flush().await.map_err(|e| broke(e.to_string()))?;
                }
                Some(FromRental::Stderr(_)) => {}
                Some(FromRental::Exited(_)) => {
                    let _ = to_local.shutdown().await;
                    return Ok(());
                }
                Some(FromRental::Failed(why)) => return Err(ClientError::RentalSession(why)),
                None => return Err(broke("the provider closed it".into())),
            }
        }
    };
    tokio::pin!(upstream, downstream);
    tokio::select! {
        ended = &mut downstream => ended,
        Err(failed) = &mut upstream => {
            match tokio::time::timeout(LAST_WORD_WAIT, downstream).await {
                Ok(ended) => ended,
                Err(_) => Err(failed),
            }
        }
    }
}

/// How long a session whose sending failed waits for the provider's word
/// on why it ended.
const LAST_WORD_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Sends what `input` reads, then its end; and then waits for good, as a
/// finished input must not end the session while the other side still
/// answers (a command's output, a forwarded port's replies).
async fn send_all(
    input: &mut (impl AsyncRead + Unpin),
    sender: &mut FrameSender<ToRental>,
) -> Result<(), ClientError> {
    let broke = |why: String| ClientError::RentalSession(format!("the connection broke: {why}"));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = input
            .read(&mut buf)
            .await
            .map_err(|e| broke(e.to_string()))?;
        let frame = match n {
            0 => ToRental::StdinClosed,
            n => ToRental::Stdin(buf[..n].to_vec()),
        };
        sender
            .send(&frame)
            .await
            .map_err(|e| broke(e.to_string()))?;
        if n == 0 {
            return std::future::pending().await;
        }
    }
}

/// What a command wrote to one of its streams, kept up to a bound (the
/// rental is not trusted with this machine's memory); what came beyond it
/// is counted, not kept.
#[derive(Debug)]
pub struct OutputBuffer {
    bytes: Vec<u8>,
    limit: usize,
    dropped: u64,
}

impl OutputBuffer {
    /// Keeps at most `limit` bytes.
    pub fn new(limit: usize) -> OutputBuffer {
        OutputBuffer {
            bytes: Vec::new(),
            limit,
            dropped: 0,
        }
    }

    /// The bytes kept: the first `limit` written.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Bytes written beyond the limit, not kept.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The bytes kept.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

impl AsyncWrite for OutputBuffer {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let room = this.limit.saturating_sub(this.bytes.len());
        let kept = buf.len().min(room);
        this.bytes.extend_from_slice(&buf[..kept]);
        this.dropped = this.dropped.saturating_add((buf.len() - kept) as u64);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::{carry, OutputBuffer};
    use crate::ClientError;
    use gpunet_p2p::access::{AccessHandler, AccessRequest, Dialer, FromRental, ProviderSession};
    use gpunet_p2p::{AllowList, Peer, PeerConfig};
    use gpunet_primitives::{Address, Keypair};
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    /// Refuses every session as a provider's agent may: the renter's
    /// stream stopped at once (its reading half dropped), the reason sent
    /// only a moment later.
    struct SlowToSayWhy;

    const REFUSAL: &str = "only this rental's renter may open a session in it";

    impl AccessHandler for SlowToSayWhy {
        fn serve(
            &self,
            _renter: Address,
            _request: AccessRequest,
            session: ProviderSession,
        ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
            Box::pin(async move {
                let (mut sender, receiver) = session.split();
                drop(receiver);
                tokio::time::sleep(Duration::from_millis(500)).await;
                if sender
                    .send(&FromRental::Failed(REFUSAL.into()))
                    .await
                    .is_ok()
                {
                    sender.finish().await;
                }
            })
        }
    }

    /// A renter still sending when its session is refused is told the
    /// provider's reason, not that its writing was stopped.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_forward_says_the_providers_reason_though_its_sending_failed_first() {
        let dir = tempfile::tempdir().unwrap();
        let config = PeerConfig::new(dir.path().join("provider"), "127.0.0.1:0".parse().unwrap());
        let provider = Peer::start_with_access(
            &Keypair::from_label("provider"),
            config,
            Arc::new(AllowList::default()),
            Some(Arc::new(SlowToSayWhy)),
        )
        .await
        .unwrap();
        let dialer = Dialer::start(&Keypair::from_label("renter"), None)
            .await
            .unwrap();
        let request = AccessRequest::Forward { order: 7, port: 22 };
        let (sender, receiver) = dialer
            .open(&provider.addr(), &request)
            .await
            .unwrap()
            .split();
        // Input that never ends: its sending fails once the stream is stopped.
        let carried = carry(sender, receiver, tokio::io::repeat(b'x'), tokio::io::sink()).await;
        assert!(
            matches!(&carried, Err(ClientError::RentalSession(why)) if why == REFUSAL),
            "{carried:?}"
        );
        dialer.close().await;
        provider.shutdown().await;
    }

    #[tokio::test]
    async fn an_output_buffer_keeps_its_limit_and_counts_the_rest() {
        let mut buffer = OutputBuffer::new(5);
        buffer.write_all(b"abc").await.unwrap();
        buffer.write_all(b"defgh").await.unwrap();
        buffer.shutdown().await.unwrap();
        assert_eq!(buffer.bytes(), b"abcde");
        assert_eq!(buffer.dropped(), 3);
        assert_eq!(OutputBuffer::new(0).dropped(), 0);
    }
}
