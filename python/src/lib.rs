//! The native half of the `gpunet` Python package: the Rust client that
//! the CLI uses (signing, encoding, key pinning, verified downloads), for
//! Python. Every answer crosses as JSON text in the API's one schema, which
//! `gpunet/__init__.py` turns into Python values; every failure is a
//! `NativeError(code, message)` with the API's or the client's stable code.

use gpunet_client::config::Config;
use gpunet_client::jobfile::JobFile;
use gpunet_client::rental_copy::{self, Place};
use gpunet_client::rental_session::{OutputBuffer, RentalLink};
use gpunet_client::secrets::{deliver_secrets, while_delivering, DeliverUntil, SecretValues};
use gpunet_client::{jobs, logs, ClientError, Keystore, NodeClient, Wallet};
use gpunet_primitives::{OrderId, TxBody};
use gpunet_types::api::{MachineSearch, OrdersPage};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

create_exception!(
    _native,
    NativeError,
    PyException,
    "(code, message) of a failed call."
);

fn failed(e: ClientError) -> PyErr {
    NativeError::new_err((e.stable_code().to_string(), e.to_string()))
}

fn invalid(message: impl std::fmt::Display) -> PyErr {
    NativeError::new_err(("invalid".to_string(), message.to_string()))
}

fn json<T: Serialize>(value: &T) -> PyResult<String> {
    serde_json::to_string(value).map_err(invalid)
}

/// The node address and keystore of profile `name` (the default one when
/// `None`) in the CLI's configuration (`GPUNET_CONFIG` or the user's).
#[pyfunction]
#[pyo3(signature = (name=None))]
fn profile(name: Option<&str>) -> PyResult<(String, String)> {
    let path = Config::path().map_err(invalid)?;
    let config = Config::load(&path).map_err(invalid)?;
    let profile = match name {
        Some(name) => config.profile(name, &path).map_err(invalid)?,
        None => config.default_entry().map(|(_, p)| p).ok_or_else(|| {
            invalid(format!(
                "no default profile in {}: run `gpunet init` or `gpunet devnet`, or name one",
                path.display()
            ))
        })?,
    };
    Ok((profile.node.clone(), profile.keystore.display().to_string()))
}

/// Seconds in `text`: a count of them, or a duration as people write it
/// ("90s", "30m", "2h", "1d"); the CLI reads durations so.
#[pyfunction]
fn parse_duration(text: &str) -> PyResult<u64> {
    let text = text.trim();
    let secs = match text.parse::<u64>() {
        Ok(secs) => secs,
        Err(_) => humantime::parse_duration(text)
            .map_err(|e| {
                invalid(format!(
                    "{text:?} is not a duration like 90s, 30m, 2h or 1d: {e}"
                ))
            })?
            .as_secs(),
    };
    match secs {
        0 => Err(invalid(format!("{text:?} is not a positive duration"))),
        secs => Ok(secs),
    }
}

/// A failure as Python receives it: `(stable code, message)`.
type CodedError = (String, String);

/// A wallet on a node: what `gpunet.Client` calls.
#[pyclass(frozen)]
struct NativeClient {
    /// Shared with the tasks that follow logs in the background.
    wallet: Arc<Wallet>,
    /// Shared with the rentals' links opened on it.
    runtime: Arc<tokio::runtime::Runtime>,
}

/// Most bytes `exec` keeps of each of a command's streams: the rental is
/// not trusted with this machine's memory. Larger output goes to a file
/// in the rental, fetched with `cp`.
const EXEC_OUTPUT_LIMIT: usize = 256 << 20;

/// A running rental's link to its provider: what `gpunet.Rental` runs
/// commands and copies files on. Closed when dropped.
#[pyclass(frozen)]
struct NativeRental {
    link: RentalLink,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl Drop for NativeRental {
    fn drop(&mut self) {
        self.runtime.block_on(self.link.close());
    }
}

#[pymethods]
impl NativeRental {
    /// Runs `command` (a program and its arguments) in the rental with
    /// `input` as its standard input; returns `(exit code, stdout,
    /// stderr)` once it exited. Output beyond 256 MiB a stream is refused.
    fn exec(
        &self,
        py: Python<'_>,
        command: Vec<String>,
        input: Vec<u8>,
    ) -> PyResult<(i32, Vec<u8>, Vec<u8>)> {
        if command.is_empty() {
            return Err(invalid("an empty command"));
        }
        let order = self.link.order();
        let mut stdout = OutputBuffer::new(EXEC_OUTPUT_LIMIT);
        let mut stderr = OutputBuffer::new(EXEC_OUTPUT_LIMIT);
        let code = py
            .allow_threads(|| {
                self.runtime.block_on(
                    self.link
                        .exec(command, &input[..], &mut stdout, &mut stderr),
                )
            })
            .map_err(failed)?;
        if stdout.dropped() > 0 || stderr.dropped() > 0 {
            return Err(failed(ClientError::RentalSession(format!(
                "the command in rental {order} wrote over {} MiB to a stream (exit code {code}): \
                 write it to a file there and fetch it with cp",
                EXEC_OUTPUT_LIMIT >> 20
            ))));
        }
        Ok((code, stdout.into_bytes(), stderr.into_bytes()))
    }

    /// Copies between `local`, a path here, and `in_rental`, a path in the
    /// rental: into the rental when `to_rental`, out of it otherwise.
    /// Returns what was copied (JSON).
    fn copy(
        &self,
        py: Python<'_>,
        local: PathBuf,
        in_rental: String,
        to_rental: bool,
    ) -> PyResult<String> {
        let rental = Place::Rental {
            order: self.link.order(),
            path: in_rental,
        };
        let local = Place::Local(local);
        let (from, to) = match to_rental {
            true => (local, rental),
            false => (rental, local),
        };
        let copied = py
            .allow_threads(|| {
                self.runtime
                    .block_on(rental_copy::copy_on(&self.link, from, to))
            })
            .map_err(failed)?;
        json(&copied)
    }
}

/// What following a log yields: a piece, or why following stopped.
type Followed = Result<logs::LogPiece, ClientError>;

/// A job's logs as it writes them, followed in the background: what
/// `Client.logs(order, follow=True)` iterates. Dropping it stops following.
#[pyclass]
struct LogFollower {
    pieces: tokio::sync::mpsc::UnboundedReceiver<Followed>,
    following: tokio::task::AbortHandle,
}

impl Drop for LogFollower {
    fn drop(&mut self) {
        self.following.abort();
    }
}

#[pymethods]
impl LogFollower {
    /// The next piece: `(stream, bytes, skipped)`, `stream` being "stdout"
    /// or "stderr", `skipped` the bytes written there that no node kept
    /// (then `bytes` is empty); `None` once the job reported (its result's
    /// logs, verified, completed what was followed) or closed unrun. Waits
    /// with the GIL released.
    fn next_piece(&mut self, py: Python<'_>) -> PyResult<Option<(String, Vec<u8>, u64)>> {
        let pieces = &mut self.pieces;
        match py.allow_threads(|| pieces.blocking_recv()) {
            None => Ok(None),
            Some(Err(e)) => Err(failed(e)),
            Some(Ok(logs::LogPiece::Bytes(stream, bytes))) => {
                Ok(Some((stream.name().to_string(), bytes, 0)))
            }
            Some(Ok(logs::LogPiece::Skipped(stream, skipped))) => {
                Ok(Some((stream.name().to_string(), Vec::new(), skipped)))
            }
        }
    }
}

impl NativeClient {
    /// Runs `call` on the client's runtime with the GIL released.
    fn block<T: Send>(
        &self,
        py: Python<'_>,
        call: impl std::future::Future<Output = Result<T, ClientError>> + Send,
    ) -> PyResult<T> {
        py.allow_threads(|| self.runtime.block_on(call))
            .map_err(failed)
    }

    /// Seals `secrets` (if any) to the first lease of each of `orders`.
    fn seal_first_leases(
        &self,
        py: Python<'_>,
        orders: &[OrderId],
        secrets: &SecretValues,
    ) -> PyResult<()> {
        if secrets.is_empty() {
            return Ok(());
        }
        let until = DeliverUntil::FirstLease;
        self.block(
            py,
            deliver_secrets(&self.wallet, orders, secrets, until, |_| {}),
        )
    }
}

#[pymethods]
impl NativeClient {
    /// A client of the node at `node` (`https://HOST:PORT#KEY`, comma-separated
    /// to fail over) signing with the key in `keystore` (sealed ones open
    /// with `GPUNET_PASSPHRASE`).
    #[new]
    fn new(node: &str, keystore: &str) -> PyResult<Self> {
        let runtime = Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(invalid)?,
        );
        let key = Keystore::load(&PathBuf::from(keystore)).map_err(failed)?;
        let node = {
            let _entered = runtime.enter();
            NodeClient::new(node).map_err(failed)?
        };
        Ok(NativeClient {
            wallet: Arc::new(Wallet::new(key, node)),
            runtime,
        })
    }

    /// This wallet's address.
    fn address(&self) -> String {
        self.wallet.address().to_string()
    }

    /// The node's view of the chain (JSON).
    fn status(&self, py: Python<'_>) -> PyResult<String> {
        json(&self.block(py, self.wallet.node().status())?)
    }

    /// The account at `address`, this wallet's by default (JSON).
    #[pyo3(signature = (address=None))]
    fn account(&self, py: Python<'_>, address: Option<&str>) -> PyResult<String> {
        let address = match address {
            Some(text) => text.parse().map_err(invalid)?,
            None => self.wallet.address(),
        };
        json(&self.block(py, self.wallet.node().account(&address))?)
    }

    /// Sends `amount` GPN (a decimal, exact) to `to`; returns where the
    /// transfer was included (JSON).
    fn transfer(&self, py: Python<'_>, to: &str, amount: &str) -> PyResult<String> {
        let to = to
            .parse()
            .map_err(|e| invalid(format!("invalid recipient address {to:?}: {e}")))?;
        let amount = gpunet_primitives::parse_amount(amount).map_err(invalid)?;
        json(&self.block(py, self.wallet.send(TxBody::Transfer { to, amount }))?)
    }

    /// The machines `query` matches (the CLI's query language), sorted by
    /// `order`, at most `limit` (JSON: `[machines, matched]`).
    #[pyo3(signature = (query, order=None, limit=None))]
    fn machines(
        &self,
        py: Python<'_>,
        query: &str,
        order: Option<String>,
        limit: Option<usize>,
    ) -> PyResult<String> {
        let search = MachineSearch {
            q: (!query.trim().is_empty()).then(|| query.to_string()),
            order,
            limit,
        };
        json(&self.block(py, self.wallet.node().find_machines(&search))?)
    }

    /// Uploads a job's inputs and places its order: `job` is a job file's
    /// fields as JSON, local inputs relative to `base_dir`. Returns the id.
    /// A job with `secrets` returns once they are sealed to its first lease.
    fn submit(&self, py: Python<'_>, job: &str, base_dir: &str) -> PyResult<OrderId> {
        let job = JobFile::from_json(job, PathBuf::from(base_dir)).map_err(failed)?;
        let secrets = job.secret_values().map_err(failed)?;
        let id = self.block(py, jobs::submit_job(&self.wallet, &job))?;
        self.seal_first_leases(py, &[id], &secrets)?;
        Ok(id)
    }

    /// Uploads a job's inputs once and places `size` copies of it as a job
    /// array (see `submit`); returns the members' ids in index order.
    fn submit_array(
        &self,
        py: Python<'_>,
        job: &str,
        base_dir: &str,
        size: u32,
    ) -> PyResult<Vec<OrderId>> {
        let job = JobFile::from_json(job, PathBuf::from(base_dir)).map_err(failed)?;
        let secrets = job.secret_values().map_err(failed)?;
        let ids = self.block(py, jobs::submit_array(&self.wallet, &job, size))?;
        self.seal_first_leases(py, &ids, &secrets)?;
        Ok(ids)
    }

    /// Waits up to `timeout_secs` for order `id` to end (JSON of the order).
    fn wait(&self, py: Python<'_>, id: OrderId, timeout_secs: u64) -> PyResult<String> {
        let node = self.wallet.node();
        let order = self.block(
            py,
            jobs::wait_for_order(
                node,
                id,
                Duration::from_secs(timeout_secs),
                |o| jobs::is_final(o.status) || o.report.is_some(),
                |_| {},
            ),
        )?;
        json(&order)
    }

    /// Order `id` as the node has it (JSON).
    fn describe(&self, py: Python<'_>, id: OrderId) -> PyResult<String> {
        json(&self.block(py, self.wallet.node().order(id))?)
    }

    /// This wallet's orders, newest first, at most `limit` (JSON).
    fn orders(&self, py: Python<'_>, limit: usize) -> PyResult<String> {
        let page = OrdersPage {
            before: None,
            limit: Some(limit),
        };
        let address = self.wallet.address();
        json(&self.block(py, self.wallet.node().orders_of(&address, &page))?)
    }

    /// Stops running job `id`: the provider is paid the time it ran.
    fn stop(&self, py: Python<'_>, id: OrderId) -> PyResult<()> {
        self.block(py, self.wallet.send(TxBody::StopJob { order: id }))?;
        Ok(())
    }

    /// Job `id`'s logs: `(stdout, stderr, live)`, verified once it reported.
    fn logs(&self, py: Python<'_>, id: OrderId) -> PyResult<(Vec<u8>, Vec<u8>, bool)> {
        let logs = self.block(py, async {
            let order = self.wallet.node().order(id).await?;
            logs::current_logs(&self.wallet, &order).await
        })?;
        Ok((logs.stdout, logs.stderr, logs.live))
    }

    /// Follows job `id`'s logs, polling every `poll_ms`, until it reports.
    fn follow_logs(&self, id: OrderId, poll_ms: u64) -> LogFollower {
        let (send, pieces) = tokio::sync::mpsc::unbounded_channel::<Followed>();
        let wallet = Arc::clone(&self.wallet);
        let poll = Duration::from_millis(poll_ms.max(1));
        let task = self.runtime.spawn(async move {
            let sink = send.clone();
            let followed = logs::follow_logs(&wallet, id, poll, move |piece| {
                // A closed channel: the Python side let go; the task is aborted.
                let _ = sink.send(Ok(piece));
            })
            .await;
            if let Err(e) = followed {
                let _ = send.send(Err(e));
            }
        });
        LogFollower {
            pieces,
            following: task.abort_handle(),
        }
    }

    /// Places a rental of `job` (a job file's fields as JSON, local inputs
    /// relative to `base_dir`) for `duration_secs`, and waits up to
    /// `wait_secs` for it to be ready: a machine, its ports' addresses, its
    /// secrets sealed (or it ended). Returns its id and either the order
    /// (JSON) or why it is not ready, `(code, message)`: a rental placed and
    /// then not ready is still there, so its id comes back either way.
    fn rent(
        &self,
        py: Python<'_>,
        job: &str,
        base_dir: &str,
        duration_secs: u64,
        wait_secs: u64,
    ) -> PyResult<(OrderId, Option<String>, Option<CodedError>)> {
        let mut job = JobFile::from_json(job, PathBuf::from(base_dir)).map_err(failed)?;
        job.timeout_secs = duration_secs;
        let secrets = job.secret_values().map_err(failed)?;
        let id = self.block(py, jobs::submit_rental(&self.wallet, &job))?;
        let wait = Duration::from_secs(wait_secs);
        let mut undelivered = None;
        let ready = jobs::wait_for_order(self.wallet.node(), id, wait, jobs::rental_ready, |_| {});
        // Its secrets are sealed to its lease while it is waited for.
        let until = DeliverUntil::FirstLease;
        let record = |e| undelivered = Some(e);
        let orders = [id];
        let work = while_delivering(
            &self.wallet,
            &orders,
            &secrets,
            until,
            |_| {},
            record,
            ready,
        );
        match py.allow_threads(|| self.runtime.block_on(work)) {
            Ok(order) => Ok((id, Some(json(&order)?), None)),
            Err(e) => {
                // Not ready in time because its secrets could not be sealed.
                let e = undelivered.unwrap_or(e);
                Ok((id, None, Some((e.stable_code().to_string(), e.to_string()))))
            }
        }
    }

    /// Opens a link to running rental `id`'s provider, for commands and copies.
    fn rental_link(&self, py: Python<'_>, id: OrderId) -> PyResult<NativeRental> {
        let link = self.block(py, RentalLink::connect(&self.wallet, id))?;
        Ok(NativeRental {
            link,
            runtime: Arc::clone(&self.runtime),
        })
    }

    /// Extends rental `id` by `extra_secs`; returns the GPN paid into escrow.
    fn renew(&self, py: Python<'_>, id: OrderId, extra_secs: u64) -> PyResult<String> {
        let (deposit, _) = self.block(py, jobs::renew_rental(&self.wallet, id, extra_secs))?;
        Ok(gpunet_primitives::format_amount(deposit))
    }

    /// Ends rental `id`; with `save`, waits up to `wait_secs` for its
    /// workspace to be saved. Returns the order then (JSON).
    fn end_rental(
        &self,
        py: Python<'_>,
        id: OrderId,
        save: bool,
        wait_secs: u64,
    ) -> PyResult<String> {
        let wait = Duration::from_secs(wait_secs);
        json(&self.block(py, jobs::end_rental(&self.wallet, id, save, wait))?)
    }

    /// Downloads job `id`'s outputs into `dir`, each file verified against
    /// the output root on chain; returns their paths, relative to `dir`.
    fn fetch_outputs(&self, py: Python<'_>, id: OrderId, dir: &str) -> PyResult<Vec<String>> {
        let manifest = self.block(py, async {
            let order = self.wallet.node().order(id).await?;
            jobs::fetch_outputs(&self.wallet, &order, &PathBuf::from(dir)).await
        })?;
        Ok(manifest.files.into_iter().map(|f| f.path).collect())
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeClient>()?;
    m.add_class::<LogFollower>()?;
    m.add_class::<NativeRental>()?;
    m.add_function(wrap_pyfunction!(parse_duration, m)?)?;
    m.add_function(wrap_pyfunction!(profile, m)?)?;
    m.add("NativeError", m.py().get_type::<NativeError>())?;
    Ok(())
}
