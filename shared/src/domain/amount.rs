//! Exact decimal amounts: position sizes and market volumes never drift through floating point.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// A non-negative decimal with at most [`Amount::MAX_SCALE`] places, written to JSON as an exact number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(Decimal);

impl Amount {
    pub const MAX_SCALE: u32 = 6;
    pub const ZERO: Amount = Amount(Decimal::ZERO);

    /// The largest single position.
    pub fn max_position() -> Amount {
        Amount(Decimal::from(1_000_000_000u64))
    }

    /// Reads a position amount from JSON: a finite number, > 0, <= 1e9, with at most 6 places.
    pub fn parse_position(value: &Value) -> Result<Amount, &'static str> {
        let Value::Number(number) = value else { return Err("must be a number") };
        // serde_json prints the shortest text that reads back as the same number, which is the
        // client's own text for every amount within the contract's range and precision.
        let text = number.to_string();
        let decimal =
            if text.contains(['e', 'E']) { Decimal::from_scientific(&text) } else { Decimal::from_str(&text) }
                .map_err(|_| "must be a finite decimal number")?
                .normalize();
        if decimal <= Decimal::ZERO {
            return Err("must be greater than 0");
        }
        if decimal > Self::max_position().0 {
            return Err("must be at most 1000000000");
        }
        if decimal.scale() > Self::MAX_SCALE {
            return Err("must have at most 6 decimal places");
        }
        Ok(Amount(decimal))
    }

    /// Reads a stored amount (a DynamoDB number).
    pub fn from_stored(text: &str) -> Option<Amount> {
        Decimal::from_str(text).ok().map(|d| Amount(d.normalize()))
    }

    /// The text DynamoDB stores: plain decimal digits, no exponent, no trailing zeros.
    pub fn to_stored(self) -> String {
        self.0.normalize().to_string()
    }

    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }
}

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_stored())
    }
}

impl Serialize for Amount {
    /// A JSON number with the exact digits (not an f64 approximation).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = RawValue::from_string(self.to_stored()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_positions_within_the_contract() {
        assert_eq!(Amount::parse_position(&json!(0.1)).unwrap().to_stored(), "0.1");
        assert_eq!(Amount::parse_position(&json!(1000000000)).unwrap().to_stored(), "1000000000");
        assert_eq!(Amount::parse_position(&json!(123456789.123456)).unwrap().to_stored(), "123456789.123456");
        assert!(Amount::parse_position(&json!(0)).is_err());
        assert!(Amount::parse_position(&json!(-1)).is_err());
        assert!(Amount::parse_position(&json!(1000000000.000001)).is_err());
        assert!(Amount::parse_position(&json!(0.0000001)).is_err());
        assert!(Amount::parse_position(&json!(1.1234567)).is_err());
        assert!(Amount::parse_position(&json!("5")).is_err());
    }

    #[test]
    fn sums_exactly_and_serializes_exact_digits() {
        let tenth = Amount::parse_position(&json!(0.1)).unwrap();
        let mut sum = Amount::ZERO;
        for _ in 0..10 {
            sum = sum.checked_add(tenth).unwrap();
        }
        assert_eq!(sum.to_stored(), "1");
        let big = Amount::from_stored("123456789012345678.123456").unwrap();
        assert_eq!(serde_json::to_string(&big).unwrap(), "123456789012345678.123456");
    }
}
