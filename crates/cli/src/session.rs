//! `gpunet rent exec` and `gpunet rent shell`: a command in a rental, its
//! input, output and exit code as if it ran here.
//!
//! Output is written as it arrives; the local terminal, for a shell, is put
//! in raw mode (every key goes to the rental, Ctrl-C included) and given
//! back as it was on the way out, and its size follows the window's.

use anyhow::Context;
use gpunet_client::rental_session::RentalLink;
use gpunet_client::{ClientError, Wallet};
use gpunet_p2p::access::{AccessRequest, FrameSender, FromRental, Terminal, ToRental, WindowSize};
use gpunet_primitives::OrderId;
use rustix::termios::{self, OptionalActions, Termios};
use std::io::IsTerminal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What a shell runs: the image's bash if it has one, else its sh.
const SHELL: &str = "if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi";

/// Runs `command` in rental `order` (a login shell with a terminal when
/// `shell`), and returns its exit code.
pub(crate) async fn run(
    wallet: &Wallet,
    order: OrderId,
    command: Vec<String>,
    shell: bool,
) -> anyhow::Result<i32> {
    let terminal = if shell {
        if !std::io::stdin().is_terminal() {
            anyhow::bail!(ClientError::Invalid(format!(
                "`rent shell` needs a terminal; run a command with `gpunet rent exec {order} -- CMD`"
            )));
        }
        Some(Terminal {
            term: std::env::var("TERM").unwrap_or_else(|_| "xterm".into()),
            size: window_size().unwrap_or(WindowSize { cols: 80, rows: 24 }),
        })
    } else {
        None
    };
    let command = if shell {
        vec!["/bin/sh".into(), "-c".into(), SHELL.into()]
    } else {
        command
    };
    let request = AccessRequest::Exec {
        order,
        command,
        terminal: terminal.clone(),
    };
    let link = RentalLink::connect(wallet, order).await?;
    let session = match link.open(&request).await {
        Ok(session) => session,
        Err(e) => {
            link.close().await;
            return Err(e.into());
        }
    };
    let (sender, mut receiver) = session.split();
    // Raw from here to the end: restored when this returns, whatever happens.
    let _raw = match terminal {
        Some(_) => Some(RawMode::enter().context("putting the terminal in raw mode")?),
        None => None,
    };
    let input = tokio::spawn(forward_input(sender, shell));
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    let ended = loop {
        match receiver.recv().await {
            Ok(Some(FromRental::Stdout(bytes))) => {
                stdout.write_all(&bytes).await?;
                stdout.flush().await?;
            }
            Ok(Some(FromRental::Stderr(bytes))) => {
                stderr.write_all(&bytes).await?;
                stderr.flush().await?;
            }
            Ok(Some(FromRental::Exited(code))) => break Ok(code),
            Ok(Some(FromRental::Failed(why))) => break Err(ClientError::RentalSession(why)),
            Ok(None) => {
                break Err(ClientError::RentalSession(format!(
                    "rental {order}'s provider closed the session without an exit code"
                )))
            }
            Err(e) => {
                break Err(ClientError::RentalSession(format!(
                    "the session in rental {order} broke: {e}"
                )))
            }
        }
    };
    input.abort();
    link.close().await;
    Ok(ended?)
}

/// Sends what this process reads on its input, and the window's new size
/// when it changes, until the session ends.
async fn forward_input(mut sender: FrameSender<ToRental>, terminal: bool) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut resized = match terminal {
        true => signal(SignalKind::window_change()).ok(),
        false => None,
    };
    let mut stdin = Some(tokio::io::stdin());
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let read = async {
            match stdin.as_mut() {
                Some(stdin) => stdin.read(&mut buf).await,
                None => std::future::pending().await,
            }
        };
        let resize = async {
            match resized.as_mut() {
                Some(signal) => signal.recv().await,
                None => std::future::pending().await,
            }
        };
        let frame = tokio::select! {
            read = read => match read {
                Ok(n) if n > 0 => ToRental::Stdin(buf[..n].to_vec()),
                // Its input ends; the command goes on, so does the session.
                _ => {
                    stdin = None;
                    ToRental::StdinClosed
                }
            },
            Some(()) = resize => match window_size() {
                Some(size) => ToRental::Resize(size),
                None => continue,
            },
        };
        if sender.send(&frame).await.is_err() {
            return;
        }
    }
}

/// The size of the terminal this process writes to.
fn window_size() -> Option<WindowSize> {
    let size = termios::tcgetwinsize(std::io::stdout()).ok()?;
    (size.ws_col > 0 && size.ws_row > 0).then_some(WindowSize {
        cols: size.ws_col,
        rows: size.ws_row,
    })
}

/// The local terminal in raw mode, as it was again when dropped.
struct RawMode {
    before: Termios,
}

impl RawMode {
    fn enter() -> std::io::Result<RawMode> {
        let stdin = std::io::stdin();
        let before = termios::tcgetattr(&stdin)?;
        let mut raw = before.clone();
        raw.make_raw();
        termios::tcsetattr(&stdin, OptionalActions::Now, &raw)?;
        Ok(RawMode { before })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &self.before);
    }
}
