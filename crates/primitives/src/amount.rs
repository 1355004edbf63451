//! Token amounts: integers in base units, never floats.

/// An amount of GPN in base units.
pub type Amount = u128;

/// Decimal places shown to users.
pub const DECIMALS: u32 = 6;
/// Base units in one GPN.
pub const UNIT: Amount = 1_000_000;

/// Formats base units as a decimal GPN string, e.g. `12.500000`.
pub fn format_amount(amount: Amount) -> String {
    format!(
        "{}.{:0width$}",
        amount / UNIT,
        amount % UNIT,
        width = DECIMALS as usize
    )
}

/// Text that is not a GPN amount.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid amount {input:?}: expected a decimal GPN amount with at most {DECIMALS} decimals, e.g. 12.5")]
pub struct AmountParseError {
    /// The text given.
    pub input: String,
}

/// Parses a decimal GPN amount (`12`, `0.25`) into base units, exactly.
pub fn parse_amount(input: &str) -> Result<Amount, AmountParseError> {
    let err = || AmountParseError {
        input: input.to_string(),
    };
    let s = input.trim();
    let (whole, frac) = match s.split_once('.') {
        Some((_, "")) => return Err(err()),
        Some(parts) => parts,
        None => (s, ""),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (!frac.is_empty() && !digits(frac)) || frac.len() > DECIMALS as usize {
        return Err(err());
    }
    let whole: Amount = whole.parse().map_err(|_| err())?;
    let frac_units: Amount = if frac.is_empty() {
        0
    } else {
        let scale = 10u128.pow(DECIMALS - frac.len() as u32);
        frac.parse::<Amount>().map_err(|_| err())? * scale
    };
    whole
        .checked_mul(UNIT)
        .and_then(|w| w.checked_add(frac_units))
        .ok_or_else(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_decimal_amounts() {
        assert_eq!(parse_amount("12.5").unwrap(), 12_500_000);
        assert_eq!(parse_amount("0.000001").unwrap(), 1);
        assert_eq!(parse_amount("7").unwrap(), 7 * UNIT);
        assert_eq!(format_amount(12_500_000), "12.500000");
        assert_eq!(format_amount(1), "0.000001");
    }

    #[test]
    fn rejects_bad_amounts() {
        for bad in [
            "",
            "-1",
            "1.2345678",
            "abc",
            "1e5",
            ".5",
            "1.",
            "999999999999999999999999999999999999999",
        ] {
            assert!(parse_amount(bad).is_err(), "{bad} should be rejected");
        }
    }
}
