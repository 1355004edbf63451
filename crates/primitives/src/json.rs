//! How amounts and instants look in JSON, everywhere gpunet writes JSON (the
//! API, the CLI's `--output json`, genesis files): one schema for people and
//! programs alike.
//!
//! - An amount is an exact decimal GPN string, `"12.500000"`: a JSON number
//!   would be read as a float by most languages, and a `u128` of base units
//!   does not fit one. The digits without the point are the amount in base
//!   units.
//! - An instant is an RFC 3339 UTC time with milliseconds,
//!   `"2026-12-03T22:55:00.123Z"`; the key drops the `_ms` its Rust field
//!   carries (`submitted_ms` is `submitted_at`). Durations stay integers of
//!   milliseconds under keys that end in `_ms`.
//!
//! Use them as `#[serde(with = "gpunet_primitives::json::gpn")]` and
//! `#[serde(rename = "submitted_at", with = "gpunet_primitives::json::rfc3339")]`.
//! Only JSON changes: the canonical encoding (borsh) and every hash over it
//! stay as they are. [`Gpn`] and [`Rfc3339`] say the same to the OpenAPI
//! document: `#[schema(value_type = gpunet_primitives::json::Gpn)]`.

#[cfg(feature = "openapi")]
pub use schema::{Gpn, Rfc3339};

/// An [`Amount`](crate::Amount) as an exact decimal GPN string.
pub mod gpn {
    use crate::{format_amount, parse_amount, Amount};
    use serde::{de::Error as _, Deserialize as _, Deserializer, Serializer};

    /// Writes `"12.500000"`.
    pub fn serialize<S: Serializer>(amount: &Amount, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_amount(*amount))
    }

    /// Reads a decimal GPN string with at most six decimals; a number is
    /// refused, as it cannot say whether it counts GPN or base units.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        parse_amount(&text).map_err(D::Error::custom)
    }
}

/// An `Option<Amount>`: a decimal GPN string or `null`.
pub mod gpn_option {
    use crate::{format_amount, parse_amount, Amount};
    use serde::{de::Error as _, Deserialize as _, Deserializer, Serializer};

    /// Writes `"12.500000"` or `null`.
    pub fn serialize<S: Serializer>(
        amount: &Option<Amount>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match amount {
            Some(amount) => serializer.serialize_some(&format_amount(*amount)),
            None => serializer.serialize_none(),
        }
    }

    /// Reads a decimal GPN string or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Amount>, D::Error> {
        Option::<std::borrow::Cow<str>>::deserialize(deserializer)?
            .map(|text| parse_amount(&text).map_err(D::Error::custom))
            .transpose()
    }
}

/// The last instant RFC 3339 can write (9999-12-31T23:59:59.999Z), in
/// milliseconds since the Unix epoch. Later instants only come from
/// parameters that mean "never"; they are written as this one.
pub const LAST_RFC3339_MS: u64 = 253_402_300_799_999;

/// `ms` since the Unix epoch as RFC 3339 UTC with milliseconds; instants past
/// [`LAST_RFC3339_MS`] as that one.
pub fn format_rfc3339(ms: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.min(LAST_RFC3339_MS));
    humantime::format_rfc3339_millis(time).to_string()
}

/// Milliseconds since the Unix epoch from an RFC 3339 UTC time (`Z`).
pub fn parse_rfc3339(text: &str) -> Result<u64, String> {
    let time = humantime::parse_rfc3339(text.trim()).map_err(|e| {
        format!(
            "invalid time {text:?}: {e}; expected RFC 3339 in UTC, e.g. 2026-12-03T22:55:00.123Z"
        )
    })?;
    let since_epoch = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| format!("invalid time {text:?}: before 1970"))?;
    u64::try_from(since_epoch.as_millis()).map_err(|_| format!("invalid time {text:?}: too late"))
}

/// An instant (`u64` milliseconds since the Unix epoch) as RFC 3339.
pub mod rfc3339 {
    use serde::{de::Error as _, Deserialize as _, Deserializer, Serializer};

    /// Writes `"2026-12-03T22:55:00.123Z"`.
    pub fn serialize<S: Serializer>(ms: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_rfc3339(*ms))
    }

    /// Reads an RFC 3339 UTC time.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        super::parse_rfc3339(&text).map_err(D::Error::custom)
    }
}

/// An `Option` of an instant: RFC 3339 or `null`.
pub mod rfc3339_option {
    use serde::{de::Error as _, Deserialize as _, Deserializer, Serializer};

    /// Writes `"2026-12-03T22:55:00.123Z"` or `null`.
    pub fn serialize<S: Serializer>(ms: &Option<u64>, serializer: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => serializer.serialize_some(&super::format_rfc3339(*ms)),
            None => serializer.serialize_none(),
        }
    }

    /// Reads an RFC 3339 UTC time or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<u64>, D::Error> {
        Option::<std::borrow::Cow<str>>::deserialize(deserializer)?
            .map(|text| super::parse_rfc3339(&text).map_err(D::Error::custom))
            .transpose()
    }
}

/// The OpenAPI schemas of the encodings above (with feature `openapi`).
#[cfg(feature = "openapi")]
pub(crate) mod schema {
    use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
    use utoipa::openapi::RefOr;

    /// The OpenAPI schema of a field written with [`gpn`](super::gpn):
    /// `#[schema(value_type = gpunet_primitives::json::Gpn)]` beside its
    /// `#[serde(with = ...)]` (an [`Amount`](crate::Amount) alone would be
    /// documented as a number).
    pub struct Gpn;

    impl utoipa::PartialSchema for Gpn {
        fn schema() -> RefOr<Schema> {
            string_schema(
                "An exact decimal amount of GPN, e.g. \"12.500000\" (six decimals when a node writes it).",
            )
            .pattern(Some(r"^[0-9]+(\.[0-9]{1,6})?$"))
            .into()
        }
    }

    impl utoipa::ToSchema for Gpn {}

    /// The OpenAPI schema of a field written with [`rfc3339`](super::rfc3339),
    /// as [`Gpn`] is of [`gpn`](super::gpn).
    pub struct Rfc3339;

    impl utoipa::PartialSchema for Rfc3339 {
        fn schema() -> RefOr<Schema> {
            string_schema(
                "An instant in RFC 3339, UTC, with milliseconds, e.g. \"2026-12-03T22:55:00.123Z\".",
            )
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .into()
        }
    }

    impl utoipa::ToSchema for Rfc3339 {}

    /// A string schema described by `description`, for the schemas above and
    /// the hex newtypes.
    pub(crate) fn string_schema(description: &str) -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(description))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Amount;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Sample {
        #[serde(with = "gpn")]
        paid: Amount,
        #[serde(with = "gpn_option")]
        padded: Option<Amount>,
        #[serde(rename = "settled_at", with = "rfc3339")]
        settled_ms: u64,
        #[serde(rename = "down_since", with = "rfc3339_option")]
        down_since_ms: Option<u64>,
    }

    #[test]
    fn amounts_and_instants_round_trip_exactly() {
        for sample in [
            Sample {
                paid: 12_500_001,
                padded: Some(Amount::MAX),
                settled_ms: 1_796_338_500_123,
                down_since_ms: Some(0),
            },
            Sample {
                paid: 0,
                padded: None,
                settled_ms: LAST_RFC3339_MS,
                down_since_ms: None,
            },
        ] {
            let json = serde_json::to_string(&sample).unwrap();
            assert_eq!(
                serde_json::from_str::<Sample>(&json).unwrap(),
                sample,
                "{json}"
            );
        }
        let json = serde_json::to_value(Sample {
            paid: 12_500_000,
            padded: None,
            settled_ms: 1_796_338_500_123,
            down_since_ms: Some(0),
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "paid": "12.500000",
                "padded": null,
                "settled_at": "2026-12-03T22:55:00.123Z",
                "down_since": "1970-01-01T00:00:00.000Z",
            })
        );
    }

    #[test]
    fn instants_past_year_9999_are_written_as_its_last_millisecond() {
        assert_eq!(format_rfc3339(u64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(
            parse_rfc3339(&format_rfc3339(u64::MAX)),
            Ok(LAST_RFC3339_MS)
        );
    }

    #[test]
    fn refuses_numbers_and_malformed_text() {
        let bad = [
            r#"{"paid": 12, "padded": null, "settled_at": "2026-12-03T22:15:00Z", "down_since": null}"#,
            r#"{"paid": "1.2345678", "padded": null, "settled_at": "2026-12-03T22:15:00Z", "down_since": null}"#,
            r#"{"paid": "1", "padded": null, "settled_at": 1796338500123, "down_since": null}"#,
            r#"{"paid": "1", "padded": null, "settled_at": "yesterday", "down_since": null}"#,
            r#"{"paid": "1", "padded": "-1", "settled_at": "2026-12-03T22:15:00Z", "down_since": null}"#,
        ];
        for text in bad {
            assert!(serde_json::from_str::<Sample>(text).is_err(), "{text}");
        }
    }
}
