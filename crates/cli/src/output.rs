//! Text or JSON output for every command.

use gpunet_primitives::{format_amount, Amount};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

impl Output {
    /// Prints `value` as JSON, or `text()` for humans.
    pub fn print<T: serde::Serialize>(self, value: &T, text: impl FnOnce() -> String) {
        match self {
            Output::Json => println!(
                "{}",
                serde_json::to_string_pretty(value).expect("serializable")
            ),
            Output::Text => println!("{}", text()),
        }
    }
}

pub fn gpn(amount: Amount) -> String {
    format!("{} GPN", format_amount(amount))
}
