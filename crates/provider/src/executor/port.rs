//! A renter's connection to a port in its rental (`gpunet rent forward`):
//! a TCP connection made from inside the run's network, served as an
//! [`ExecSession`] so that it travels like a command's input and output.
//!
//! A container's loopback is its own, so the connection is made from its
//! network namespace: a server listening on `localhost` there (Jupyter's
//! default) is reached, and so is a rental without any network.

use super::{ExecControl, ExecError, ExecFuture, ExecOutput, ExecSession};
use futures_util::StreamExt;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::time::Duration;
use tokio::net::TcpStream;

/// How long a connection to a port in a rental may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `port` on the loopback of this host.
pub(super) async fn connect_here(port: u16) -> Result<ExecSession, ExecError> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
        .await
        .map_err(|_| connect_error(port, std::io::ErrorKind::TimedOut.into()))?
        .map_err(|e| connect_error(port, e))?;
    Ok(session(stream))
}

/// Connects to `port` on the loopback of the network namespace process
/// `pid` lives in (a container's).
pub(super) async fn connect_in_namespace_of(pid: i64, port: u16) -> Result<ExecSession, ExecError> {
    let (connected, connection) = tokio::sync::oneshot::channel();
    // A thread of its own enters the namespace and ends in it, so that
    // nothing else ever runs there (a socket stays in the namespace it was
    // made in, wherever it is used).
    std::thread::Builder::new()
        .name("gpunet-forward".into())
        .spawn(move || {
            let connect = || {
                let namespace = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
                rustix::thread::move_into_link_name_space(
                    namespace.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )?;
                let address = SocketAddr::from(([127, 0, 0, 1], port));
                std::net::TcpStream::connect_timeout(&address, CONNECT_TIMEOUT)
            };
            let _ = connected.send(connect());
        })?;
    let stream = connection
        .await
        .map_err(|_| ExecError::Io(std::io::Error::other("the connecting thread died")))?
        .map_err(|e| connect_error(port, e))?;
    stream.set_nonblocking(true)?;
    Ok(session(TcpStream::from_std(stream)?))
}

fn connect_error(port: u16, error: std::io::Error) -> ExecError {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => ExecError::NothingListening(port),
        _ => ExecError::Io(std::io::Error::new(
            error.kind(),
            format!("connecting to port {port} in the rental: {error}"),
        )),
    }
}

/// The connection as a session: what the port sends is its output, its
/// input is what the port receives, and its end is an exit with 0.
fn session(stream: TcpStream) -> ExecSession {
    let (from_port, to_port) = stream.into_split();
    let output = tokio_util::io::ReaderStream::new(from_port).map(|read| {
        read.map(|bytes| ExecOutput::Stdout(bytes.to_vec()))
            .map_err(ExecError::Io)
    });
    ExecSession {
        output: Box::pin(output),
        input: Box::pin(to_port),
        control: Box::new(Connection),
    }
}

/// A connection's [`ExecControl`]: no terminal, and it ends well.
struct Connection;

impl ExecControl for Connection {
    fn resize(&self, _cols: u16, _rows: u16) -> ExecFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }

    fn exit_code(&mut self) -> ExecFuture<'_, i32> {
        Box::pin(async { Ok(0) })
    }
}
