//! Renters' sessions in their rentals: `gpunet rent exec`, `rent shell` and
//! each connection of `rent forward` arrive on the agent's peer
//! ([`gpunet_p2p::access`]) and run beside the rental's container through
//! the executor.
//!
//! Who gets in is the chain's word, asked per session: the order's client,
//! while the order is a running rental leased to this machine. The account
//! is the one the connection's handshake proved. A session ends when its
//! command exits (its port closes), its renter leaves, or the rental ends
//! here.

use crate::executor::{
    ExecCommand, ExecError, ExecFuture, ExecOutput, ExecSession, Executor, JobRun, Tty,
};
use futures_util::StreamExt;
use gpunet_client::NodeClient;
use gpunet_p2p::access::{
    AccessHandler, AccessRequest, FrameReceiver, FrameSender, FromRental, ProviderSession, ToRental,
};
use gpunet_primitives::{Address, MachineId, OrderId};
use gpunet_types::OrderStatus;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The rentals whose containers run on this machine now.
#[derive(Default)]
pub(crate) struct RunningRentals(Mutex<BTreeMap<OrderId, (JobRun, CancellationToken)>>);

impl RunningRentals {
    /// `order`'s container is up as `run`.
    pub(crate) fn insert(&self, order: OrderId, run: JobRun) {
        self.lock().insert(order, (run, CancellationToken::new()));
    }

    /// `order`'s container is going: its sessions end.
    pub(crate) fn remove(&self, order: OrderId) {
        if let Some((_, ended)) = self.lock().remove(&order) {
            ended.cancel();
        }
    }

    fn get(&self, order: OrderId) -> Option<(JobRun, CancellationToken)> {
        self.lock().get(&order).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<OrderId, (JobRun, CancellationToken)>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The agent's [`AccessHandler`].
pub(crate) struct RentalAccess {
    pub(crate) node: NodeClient,
    pub(crate) machine: MachineId,
    pub(crate) executor: Arc<dyn Executor>,
    pub(crate) rentals: Arc<RunningRentals>,
}

impl AccessHandler for RentalAccess {
    fn serve(
        &self,
        renter: Address,
        request: AccessRequest,
        session: ProviderSession,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let node = self.node.clone();
        let machine = self.machine;
        let executor = self.executor.clone();
        let rentals = self.rentals.clone();
        Box::pin(async move {
            let (mut sender, receiver) = session.split();
            let order = request.order();
            let started = async {
                let (run, ended) = admit(&node, machine, &rentals, renter, order).await?;
                let start = || match &request {
                    AccessRequest::Exec {
                        command, terminal, ..
                    } => executor.exec(
                        &run,
                        ExecCommand {
                            argv: command.clone(),
                            terminal: terminal.as_ref().map(|t| Tty {
                                term: t.term.clone(),
                                cols: t.size.cols,
                                rows: t.size.rows,
                            }),
                        },
                    ),
                    AccessRequest::Forward { port, .. } => executor.connect_port(&run, *port),
                };
                let session = once_up(start, &ended).await?;
                Ok::<_, String>((session, ended))
            };
            match started.await {
                Ok((exec, ended)) => {
                    tracing::info!(%renter, order, "a renter's session started");
                    pump(exec, sender, receiver, ended).await;
                }
                Err(why) => {
                    tracing::info!(%renter, order, "a renter's session refused: {why}");
                    if sender.send(&FromRental::Failed(why)).await.is_ok() {
                        sender.finish().await;
                    }
                }
            }
        })
    }
}

/// The rental `renter` may open a session in, with the signal that it ended
/// here; or why not.
async fn admit(
    node: &NodeClient,
    machine: MachineId,
    rentals: &RunningRentals,
    renter: Address,
    order: OrderId,
) -> Result<(JobRun, CancellationToken), String> {
    let view = node
        .order(order)
        .await
        .map_err(|e| format!("cannot look rental {order} up: {e}"))?;
    if view.client != renter {
        return Err(format!(
            "only rental {order}'s renter may open a session in it"
        ));
    }
    if view.rental.is_none() {
        return Err(format!("order {order} is a job, not a rental"));
    }
    if view.status != OrderStatus::Running
        || view.lease.as_ref().map(|l| l.machine) != Some(machine)
    {
        return Err(format!(
            "rental {order} is not running on this machine (it is {})",
            view.status
        ));
    }
    // Leased, its run may still be preparing (its secrets awaited, its
    // image pulled): a renter may ask as soon as the chain says it runs.
    let started = tokio::time::Instant::now();
    loop {
        if let Some(run) = rentals.get(order) {
            return Ok(run);
        }
        if started.elapsed() >= STARTING_WAIT {
            return Err(format!(
                "rental {order}'s container is not up on this machine after {STARTING_WAIT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Starts a session beside a run with `start`, waiting while its container
/// is still starting (a renter may ask as soon as the chain says the rental
/// runs, before its image is up), up to [`STARTING_WAIT`].
async fn once_up<'a>(
    start: impl Fn() -> ExecFuture<'a, ExecSession>,
    ended: &CancellationToken,
) -> Result<ExecSession, String> {
    let started = tokio::time::Instant::now();
    loop {
        match start().await {
            Err(ExecError::NotRunning) if ended.is_cancelled() => {
                return Err("the rental ended on this machine".into())
            }
            Err(ExecError::NotRunning) if started.elapsed() >= STARTING_WAIT => {
                return Err(format!(
                    "the rental's container did not come up in {STARTING_WAIT:?}"
                ))
            }
            Err(ExecError::NotRunning) => tokio::time::sleep(Duration::from_millis(200)).await,
            result => return result.map_err(|e| e.to_string()),
        }
    }
}

/// How long a session waits for its rental's container to come up.
const STARTING_WAIT: Duration = Duration::from_secs(60);

/// What the input side tells the session.
enum FromInput {
    Resize(u16, u16),
    /// The renter closed its side: the session is over.
    Left,
}

/// Carries the command's output to the renter and the renter's input to
/// the command until it exits (then its exit code), the renter leaves, or
/// the rental ends (then why).
async fn pump(
    mut exec: ExecSession,
    mut sender: FrameSender<FromRental>,
    receiver: FrameReceiver<ToRental>,
    ended: CancellationToken,
) {
    let (to_session, mut from_input) = mpsc::unbounded_channel();
    // Input is written apart from the output, so that a command not reading
    // its input never stops its output reaching the renter.
    let input = tokio::spawn(forward_input(receiver, exec.input, to_session));
    let last = loop {
        tokio::select! {
            item = exec.output.next() => match item {
                Some(Ok(ExecOutput::Stdout(bytes))) => {
                    if sender.send(&FromRental::Stdout(bytes)).await.is_err() {
                        break None;
                    }
                }
                Some(Ok(ExecOutput::Stderr(bytes))) => {
                    if sender.send(&FromRental::Stderr(bytes)).await.is_err() {
                        break None;
                    }
                }
                Some(Err(e)) => break Some(FromRental::Failed(e.to_string())),
                None => break Some(match exec.control.exit_code().await {
                    Ok(code) => FromRental::Exited(code),
                    Err(e) => FromRental::Failed(e.to_string()),
                }),
            },
            told = from_input.recv() => match told {
                Some(FromInput::Resize(cols, rows)) => {
                    if let Err(e) = exec.control.resize(cols, rows).await {
                        tracing::debug!("resizing a renter's terminal: {e}");
                    }
                }
                Some(FromInput::Left) | None => break None,
            },
            () = ended.cancelled() => break Some(FromRental::Failed("the rental ended".into())),
        }
    };
    input.abort();
    if let Some(last) = last {
        if sender.send(&last).await.is_ok() {
            sender.finish().await;
        }
    }
}

/// Writes the renter's input to the command and passes resizes on, until
/// the renter's side ends.
async fn forward_input(
    mut receiver: FrameReceiver<ToRental>,
    input: Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    session: mpsc::UnboundedSender<FromInput>,
) {
    let mut input = Some(input);
    loop {
        match receiver.recv().await {
            Ok(Some(ToRental::Stdin(bytes))) => {
                if let Some(writer) = input.as_mut() {
                    if writer.write_all(&bytes).await.is_err() {
                        // The command closed its input; it may still run.
                        input = None;
                    }
                }
            }
            Ok(Some(ToRental::StdinClosed)) => {
                if let Some(mut writer) = input.take() {
                    let _ = writer.shutdown().await;
                }
            }
            Ok(Some(ToRental::Resize(size))) => {
                let _ = session.send(FromInput::Resize(size.cols, size.rows));
            }
            Ok(None) | Err(_) => {
                let _ = session.send(FromInput::Left);
                return;
            }
        }
    }
}
