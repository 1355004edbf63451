//! Rental access: a renter's commands run in the rented container, and its
//! connections reach the container's ports, over a QUIC connection to the
//! provider's peer.
//!
//! The connection is iroh's, so both ends are proven by their chain keys in
//! its TLS handshake and everything on it is encrypted: the provider's
//! [`AccessHandler`] learns the renter's account from the connection, never
//! from what the renter sends. Each session is one bidirectional stream: the
//! renter's [`AccessRequest`] first, then [`ToRental`] frames one way and
//! [`FromRental`] frames the other, each a 4-byte big-endian length and its
//! borsh encoding. A session ends with exactly one [`FromRental::Exited`] or
//! [`FromRental::Failed`].
//!
//! A forwarded connection ([`AccessRequest::Forward`]) is a session too:
//! its bytes travel as [`ToRental::Stdin`] and [`FromRental::Stdout`], the
//! renter's end of its writing as [`ToRental::StdinClosed`], and the port's
//! as [`FromRental::Exited`]. All of a renter's sessions with one provider
//! share one connection (one handshake, then a stream each).

use crate::peer::bind_endpoint;
use crate::{P2pError, PeerAddr, Reach};
use borsh::{BorshDeserialize, BorshSerialize};
use futures_util::{SinkExt, StreamExt};
use gpunet_primitives::{Address, Keypair, OrderId};
use iroh::endpoint::{Connection, RecvStream, SendStream};
use iroh::protocol::{AcceptError, ProtocolHandler};
use iroh::Endpoint;
use std::collections::BTreeMap;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::bytes::Bytes;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

/// The protocol's name in the QUIC handshake.
pub const ACCESS_ALPN: &[u8] = b"gpunet/rental-access/0";

/// Largest frame either side accepts: output and input travel in pieces
/// far smaller; a larger length is a broken or hostile peer.
const MAX_FRAME: usize = 1 << 20;

/// How long a renter has to send its request once it opened a stream.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What a renter asks of its rental.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum AccessRequest {
    /// Run `command` (a program and its arguments) in the rental's
    /// container, with a terminal when one is given.
    Exec {
        /// The rental.
        order: OrderId,
        /// The program and its arguments.
        command: Vec<String>,
        /// A pseudo-terminal for it (an interactive shell), or plain pipes.
        terminal: Option<Terminal>,
    },
    /// Connect to `port` on the rental's own loopback, as a program in its
    /// container would (`ssh -L PORT:localhost:PORT` does the same): a
    /// server there need not listen on any outside address.
    Forward {
        /// The rental.
        order: OrderId,
        /// The TCP port in the rental.
        port: u16,
    },
}

impl AccessRequest {
    /// The rental it is about.
    pub fn order(&self) -> OrderId {
        match self {
            AccessRequest::Exec { order, .. } | AccessRequest::Forward { order, .. } => *order,
        }
    }
}

/// The renter's terminal, which the command's pseudo-terminal mirrors.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Terminal {
    /// Its `TERM`, e.g. `xterm-256color`.
    pub term: String,
    /// Its size.
    pub size: WindowSize,
}

/// A terminal's size in characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct WindowSize {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

/// From the renter to the command.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ToRental {
    /// Bytes for its standard input (or for the forwarded port).
    Stdin(Vec<u8>),
    /// Its standard input ends (the renter's end of a connection is done
    /// writing).
    StdinClosed,
    /// The renter's terminal was resized.
    Resize(WindowSize),
}

/// From the command to the renter.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum FromRental {
    /// Bytes it wrote to its standard output or its terminal (or that the
    /// forwarded port sent).
    Stdout(Vec<u8>),
    /// Bytes it wrote to its standard error.
    Stderr(Vec<u8>),
    /// It ended with this exit code (a forwarded port closed: 0); the
    /// session is over.
    Exited(i32),
    /// The request was refused, the command could not start or it was cut
    /// off (the rental ended) before it exited: why. The session is over.
    Failed(String),
}

/// One side of a session: sends `Out` frames, receives `In` frames.
pub struct Session<Out, In> {
    sender: FrameSender<Out>,
    receiver: FrameReceiver<In>,
}

/// A renter's side of a session.
pub type RenterSession = Session<ToRental, FromRental>;
/// The provider's side of a session.
pub type ProviderSession = Session<FromRental, ToRental>;

impl<Out: BorshSerialize, In: BorshDeserialize> Session<Out, In> {
    fn new(send: SendStream, recv: RecvStream, connection: Connection) -> Self {
        Session {
            sender: FrameSender {
                frames: FramedWrite::new(send, codec()),
                _connection: connection,
                _frame: PhantomData,
            },
            receiver: FrameReceiver {
                frames: FramedRead::new(recv, codec()),
                _frame: PhantomData,
            },
        }
    }

    /// Sends one frame.
    pub async fn send(&mut self, frame: &Out) -> Result<(), P2pError> {
        self.sender.send(frame).await
    }

    /// The next frame, or `None` once the other side finished.
    pub async fn recv(&mut self) -> Result<Option<In>, P2pError> {
        self.receiver.recv().await
    }

    /// Its sending and receiving halves, to use at once.
    pub fn split(self) -> (FrameSender<Out>, FrameReceiver<In>) {
        (self.sender, self.receiver)
    }
}

fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec()
}

/// The sending half of a session.
pub struct FrameSender<T> {
    frames: FramedWrite<SendStream, LengthDelimitedCodec>,
    // The connection lives while either half does.
    _connection: Connection,
    _frame: PhantomData<fn(T)>,
}

impl<T: BorshSerialize> FrameSender<T> {
    /// Sends one frame.
    pub async fn send(&mut self, frame: &T) -> Result<(), P2pError> {
        let bytes = borsh::to_vec(frame).map_err(|e| P2pError::Session(e.to_string()))?;
        self.frames
            .send(Bytes::from(bytes))
            .await
            .map_err(|e| P2pError::Session(e.to_string()))
    }

    /// Ends the stream once what was sent is delivered.
    pub async fn finish(mut self) {
        if SinkExt::<Bytes>::flush(&mut self.frames).await.is_err() {
            return;
        }
        let stream = self.frames.get_mut();
        if stream.finish().is_ok() {
            // Dropping the stream before the peer has it would lose the tail.
            let _ = stream.stopped().await;
        }
    }
}

/// The receiving half of a session.
pub struct FrameReceiver<T> {
    frames: FramedRead<RecvStream, LengthDelimitedCodec>,
    _frame: PhantomData<fn() -> T>,
}

impl<T: BorshDeserialize> FrameReceiver<T> {
    /// The next frame, or `None` once the other side finished.
    pub async fn recv(&mut self) -> Result<Option<T>, P2pError> {
        match self.frames.next().await {
            None => Ok(None),
            Some(Err(e)) => Err(P2pError::Session(e.to_string())),
            Some(Ok(bytes)) => borsh::from_slice(&bytes)
                .map(Some)
                .map_err(|e| P2pError::Session(format!("a frame that does not decode: {e}"))),
        }
    }
}

/// Serves renters' requests on a provider's peer.
pub trait AccessHandler: Send + Sync + 'static {
    /// Serves `request` from `renter` (whose key the connection proved)
    /// until the session ends; it decides whether `renter` may have it.
    fn serve(
        &self,
        renter: Address,
        request: AccessRequest,
        session: ProviderSession,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

/// iroh's side of [`AccessHandler`]: each stream a renter opens is a session.
#[derive(Clone)]
pub(crate) struct AccessProtocol(pub(crate) Arc<dyn AccessHandler>);

impl std::fmt::Debug for AccessProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessProtocol")
    }
}

impl ProtocolHandler for AccessProtocol {
    async fn accept(&self, connection: Connection) -> Result<(), AcceptError> {
        let renter = Address(*connection.remote_id().as_bytes());
        while let Ok((send, recv)) = connection.accept_bi().await {
            let mut session = ProviderSession::new(send, recv, connection.clone());
            let handler = self.0.clone();
            tokio::spawn(async move {
                let request =
                    tokio::time::timeout(REQUEST_TIMEOUT, session.receiver.recv_request())
                        .await
                        .map_err(|_| P2pError::Session("no request in time".into()))
                        .and_then(|request| request);
                match request {
                    Ok(request) => handler.serve(renter, request, session).await,
                    Err(e) => {
                        tracing::debug!(%renter, "rental access: {e}");
                        let (mut sender, _) = session.split();
                        let refusal = FromRental::Failed(format!("bad request: {e}"));
                        if sender.send(&refusal).await.is_ok() {
                            sender.finish().await;
                        }
                    }
                }
            });
        }
        Ok(())
    }
}

impl FrameReceiver<ToRental> {
    /// The session's opening request, sent before any [`ToRental`] frame.
    async fn recv_request(&mut self) -> Result<AccessRequest, P2pError> {
        match self.frames.next().await {
            Some(Ok(bytes)) => borsh::from_slice(&bytes)
                .map_err(|e| P2pError::Session(format!("a request that does not decode: {e}"))),
            Some(Err(e)) => Err(P2pError::Session(e.to_string())),
            None => Err(P2pError::Session(
                "the stream ended before a request".into(),
            )),
        }
    }
}

/// A renter's endpoint: dials providers' peers with the renter's key.
pub struct Dialer {
    endpoint: Endpoint,
    connect_timeout: Duration,
    /// The connection to each provider dialled, which later sessions reuse
    /// while it lasts.
    connections: tokio::sync::Mutex<BTreeMap<Address, Connection>>,
}

impl Dialer {
    /// An endpoint of `key`'s account that dials out only (through `relay`
    /// when the provider is reached there).
    pub async fn start(key: &Keypair, relay: Option<String>) -> Result<Dialer, P2pError> {
        let reach = Reach::Direct {
            bind: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
            relay,
        };
        let connect_timeout = crate::PeerConfig::CONNECT_TIMEOUT;
        let endpoint = bind_endpoint(key, &reach, connect_timeout).await?;
        Ok(Dialer {
            endpoint,
            connect_timeout,
            connections: Default::default(),
        })
    }

    /// Opens a session with `provider`'s peer asking `request`.
    pub async fn open(
        &self,
        provider: &PeerAddr,
        request: &AccessRequest,
    ) -> Result<RenterSession, P2pError> {
        let connect = |why: String| P2pError::Connect {
            account: provider.account,
            why,
        };
        let connection = self.connection(provider).await?;
        let (send, recv) = connection
            .open_bi()
            .await
            .map_err(|e| connect(e.to_string()))?;
        let mut sender = FrameSender::<AccessRequest> {
            frames: FramedWrite::new(send, codec()),
            _connection: connection.clone(),
            _frame: PhantomData,
        };
        sender.send(request).await?;
        let send = sender.frames.into_inner();
        Ok(RenterSession::new(send, recv, connection))
    }

    /// The open connection to `provider`, or a new one.
    async fn connection(&self, provider: &PeerAddr) -> Result<Connection, P2pError> {
        let mut connections = self.connections.lock().await;
        if let Some(open) = connections
            .get(&provider.account)
            .filter(|c| c.close_reason().is_none())
        {
            return Ok(open.clone());
        }
        let connect = |why: String| P2pError::Connect {
            account: provider.account,
            why,
        };
        let addr = crate::peer::endpoint_addr(provider)?;
        let connecting = self.endpoint.connect(addr, ACCESS_ALPN);
        let connection = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| connect(format!("no answer in {:?}", self.connect_timeout)))?
            .map_err(|e| connect(e.to_string()))?;
        connections.insert(provider.account, connection.clone());
        Ok(connection)
    }

    /// Closes its endpoint.
    pub async fn close(&self) {
        self.endpoint.close().await;
    }
}
