//! Text or JSON output for every command.

use crate::check::CheckFailed;
use gpunet_client::ClientError;
use gpunet_primitives::{format_amount, Amount};
use std::io::Write as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Output {
    Text,
    Json,
}

impl Output {
    /// Prints `value` as JSON, or `text()` for humans. A reader that stops
    /// reading (`| head`) ends the command quietly, as it does other tools.
    pub(crate) fn print<T: serde::Serialize>(self, value: &T, text: impl FnOnce() -> String) {
        let printed = match self {
            Output::Json => serde_json::to_string_pretty(value).expect("serializable"),
            Output::Text => text(),
        };
        Self::write(&printed);
    }

    /// Prints `value` as JSON on one line, or `text()` for humans: what a
    /// command that goes on running says first (a program reads a line).
    pub(crate) fn print_line<T: serde::Serialize>(self, value: &T, text: impl FnOnce() -> String) {
        let printed = match self {
            Output::Json => serde_json::to_string(value).expect("serializable"),
            Output::Text => text(),
        };
        Self::write(&printed);
    }

    /// Prints `text` and a newline on stdout, as [`Output::print`] does: a
    /// reader that has gone (`| head`) ends the command quietly.
    pub(crate) fn write(printed: &str) {
        let mut stdout = std::io::stdout().lock();
        if let Err(e) = writeln!(stdout, "{printed}").and_then(|()| stdout.flush()) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: cannot write the output: {e}");
            std::process::exit(1);
        }
    }
}

/// An error as a program reads it: a stable code and the message.
#[derive(serde::Serialize)]
struct ErrorOutput<'a> {
    code: &'a str,
    message: String,
}

impl Output {
    /// Prints `error` to stderr: `error: MESSAGE` for people, or
    /// `{"code", "message"}` in JSON (the node's code when it refused).
    pub(crate) fn print_error(self, error: &anyhow::Error) {
        let message = format!("{error:#}");
        match self {
            Output::Text => eprintln!("error: {message}"),
            Output::Json => {
                let code = error
                    .chain()
                    .find_map(|cause| {
                        cause
                            .downcast_ref::<ClientError>()
                            .map(ClientError::stable_code)
                            .or_else(|| cause.is::<CheckFailed>().then_some(CheckFailed::CODE))
                    })
                    .unwrap_or("error");
                let json =
                    serde_json::to_string(&ErrorOutput { code, message }).expect("serializable");
                eprintln!("{json}");
            }
        }
    }
}

/// A spinner on stderr while a command waits on an order: its state and the
/// time waited, redrawn in place (indicatif). Drawn only on a terminal;
/// lines said through it print above it, and to a pipe as they are.
pub(crate) struct WaitLine {
    bar: indicatif::ProgressBar,
}

impl WaitLine {
    pub(crate) fn new(what: String) -> WaitLine {
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{spinner} {prefix}: {msg} ({elapsed})")
        {
            bar.set_style(style);
        }
        bar.set_prefix(what);
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        WaitLine { bar }
    }

    /// What the spinner says the order is doing.
    pub(crate) fn state(&self, state: impl std::fmt::Display) {
        self.bar.set_message(state.to_string());
    }

    /// A line that stays (a state change, a decline), above the spinner.
    pub(crate) fn say(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }
}

impl Drop for WaitLine {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// A table for people: a header, then one row per item; columns as wide
/// as their content, numbers right-aligned, no borders.
pub(crate) fn table<const N: usize>(
    header: [&str; N],
    right_aligned: [bool; N],
    rows: impl IntoIterator<Item = [String; N]>,
) -> String {
    let mut table = comfy_table::Table::new();
    table
        .load_preset(comfy_table::presets::NOTHING)
        .set_header(header);
    for row in rows {
        table.add_row(row);
    }
    for (column, right) in table.column_iter_mut().zip(right_aligned) {
        if right {
            column.set_cell_alignment(comfy_table::CellAlignment::Right);
        }
    }
    table
        .lines()
        .map(|line| line.trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) fn gpn(amount: Amount) -> String {
    format!("{} GPN", format_amount(amount))
}

/// How long from block time `now_ms` to `until_ms`, roughly: `6d 23h`, `5h 3m`, `42s`.
pub(crate) fn time_until(now_ms: u64, until_ms: u64) -> String {
    let secs = until_ms.saturating_sub(now_ms) / 1000;
    let (d, h, m) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, _) => format!("{m}m {}s", secs % 60),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::{table, time_until};

    #[test]
    fn times_until_read_at_a_glance() {
        assert_eq!(time_until(0, 42_000), "42s");
        assert_eq!(time_until(0, 303_000), "5m 3s");
        assert_eq!(time_until(0, (5 * 3600 + 180) * 1000), "5h 3m");
        assert_eq!(time_until(0, 7 * 86_400_000 - 1), "6d 23h");
        assert_eq!(time_until(10, 5), "0s", "already past");
    }

    #[test]
    fn a_table_is_as_wide_as_its_content_with_numbers_to_the_right() {
        let shown = table(
            ["id", "gpu", "price/hour"],
            [true, false, true],
            [
                [
                    "7".into(),
                    "1x NVIDIA H100 80GB HBM3 80G".into(),
                    "2.5 GPN".into(),
                ],
                ["1234".into(), "-".into(), "10.25 GPN".into()],
            ],
        );
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.len(), 3, "{shown}");
        assert!(lines.iter().all(|l| !l.ends_with(' ')), "{shown}");
        // Each column starts where its header does: a long GPU name does
        // not push its row out of line.
        let gpu = lines[0].find("gpu").unwrap();
        assert_eq!(lines[1].find("1x NVIDIA").unwrap(), gpu, "{shown}");
        assert_eq!(lines[2].find('-').unwrap(), gpu, "{shown}");
        // Numbers end where their column ends.
        assert_eq!(
            lines[1].find('7').unwrap(),
            lines[2].find("1234").unwrap() + 3,
            "{shown}"
        );
        assert_eq!(lines[1].len(), lines[2].len(), "{shown}");
        assert!(
            lines[0].ends_with("price/hour") && lines[2].ends_with("10.25 GPN"),
            "{shown}"
        );
    }
}
