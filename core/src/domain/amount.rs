//! Exact decimal amounts: position sizes and market volumes never drift through floating point.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
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

    /// Reads a position amount from a JSON number's literal text, exactly: > 0, <= 1e9, at most
    /// 6 decimal places, whatever the notation (`1e2` is 100; `1e-7` and `0.10000000000000000001`
    /// are refused, never rounded). Linear in the text's length, whatever its exponent.
    pub fn parse_position(literal: &str) -> Result<Amount, &'static str> {
        let number = Literal::parse(literal).ok_or("must be a JSON number")?;
        if number.negative || number.digits.is_empty() {
            return Err("must be greater than 0");
        }
        if number.point > 10 || (number.point == 10 && number.digits != "1") {
            return Err("must be at most 1000000000");
        }
        if number.digits.len() as i64 - number.point > i64::from(Self::MAX_SCALE) {
            return Err("must have at most 6 decimal places");
        }
        let decimal = Decimal::from_str_exact(&number.plain()).map_err(|_| "must be a decimal number")?;
        Ok(Amount(decimal.normalize()))
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

/// A JSON number's text taken apart: its value is `0.<digits> x 10^point`, negated if `negative`.
struct Literal {
    negative: bool,
    /// The significant digits: no leading or trailing zeros (empty for zero).
    digits: String,
    point: i64,
}

/// Exponents are clamped here, far beyond any text's length, so that arithmetic cannot overflow.
const EXPONENT_LIMIT: i64 = 1 << 40;

impl Literal {
    /// Parses `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?` (RFC 8259's number), or `None`.
    fn parse(text: &str) -> Option<Literal> {
        let (negative, unsigned) = text.strip_prefix('-').map_or((false, text), |rest| (true, rest));
        let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
            Some((mantissa, exponent)) => (mantissa, Some(exponent)),
            None => (unsigned, None),
        };
        let (integer, fraction) = mantissa.split_once('.').map_or((mantissa, None), |(i, f)| (i, Some(f)));
        let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !is_digits(integer) || (integer.len() > 1 && integer.starts_with('0')) || !fraction.is_none_or(is_digits) {
            return None;
        }
        let exponent = match exponent {
            None => 0,
            Some(exponent) => {
                let (sign, digits) = match exponent.strip_prefix('-') {
                    Some(digits) => (-1, digits),
                    None => (1, exponent.strip_prefix('+').unwrap_or(exponent)),
                };
                if !is_digits(digits) {
                    return None;
                }
                sign * digits.parse::<i64>().map_or(EXPONENT_LIMIT, |e| e.min(EXPONENT_LIMIT))
            }
        };
        let all = format!("{integer}{}", fraction.unwrap_or(""));
        let significant = all.trim_start_matches('0');
        let leading_zeros = (all.len() - significant.len()) as i64;
        let digits = significant.trim_end_matches('0').to_owned();
        Some(Literal { negative, digits, point: integer.len() as i64 - leading_zeros + exponent })
    }

    /// The value in plain decimal notation (for a value already known to be of a sane size).
    fn plain(&self) -> String {
        let len = self.digits.len() as i64;
        if self.point >= len {
            format!("{}{}", self.digits, "0".repeat((self.point - len) as usize))
        } else if self.point <= 0 {
            format!("0.{}{}", "0".repeat(-self.point as usize), self.digits)
        } else {
            let (integer, fraction) = self.digits.split_at(self.point as usize);
            format!("{integer}.{fraction}")
        }
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

impl<'de> Deserialize<'de> for Amount {
    /// The exact digits of a JSON number, as [`Serialize`] wrote them (JSON only: it reads the
    /// number's text, which no f64 would keep).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Amount::from_stored(raw.get()).ok_or_else(|| serde::de::Error::custom(format!("not an amount: {}", raw.get())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(literal: &str) -> Result<String, &'static str> {
        Amount::parse_position(literal).map(Amount::to_stored)
    }

    #[test]
    fn parses_positions_within_the_contract_exactly() {
        for (literal, value) in [
            ("0.1", "0.1"),
            ("1000000000", "1000000000"),
            ("123456789.123456", "123456789.123456"),
            ("0.000001", "0.000001"),
            ("1e2", "100"),
            ("1E+2", "100"),
            ("100e-2", "1"),
            ("2.50000", "2.5"),
            ("0.1000000000000000000000000000000000", "0.1"),
            ("1e9", "1000000000"),
            ("0.0000001e1", "0.000001"),
            ("1000000000000e-3", "1000000000"),
        ] {
            assert_eq!(stored(literal), Ok(value.to_owned()), "{literal}");
        }
    }

    #[test]
    fn refuses_amounts_outside_the_contract_never_rounding() {
        for (literal, why) in [
            ("0", "greater than 0"),
            ("-0", "greater than 0"),
            ("0e5", "greater than 0"),
            ("-1", "greater than 0"),
            ("1000000000.000001", "at most 1000000000"),
            ("1000000001", "at most 1000000000"),
            ("1e400", "at most 1000000000"),
            ("1e99999999999999999999999", "at most 1000000000"),
            ("12345678901234567890", "at most 1000000000"),
            ("0.0000001", "decimal places"),
            ("1e-7", "decimal places"),
            ("1.1234567", "decimal places"),
            ("0.10000000000000000001", "decimal places"),
            ("1e-99999999999999999999", "decimal places"),
            ("NaN", "JSON number"),
            ("Infinity", "JSON number"),
            ("01", "JSON number"),
            ("1.", "JSON number"),
            (".5", "JSON number"),
            ("+1", "JSON number"),
            ("1e", "JSON number"),
            ("", "JSON number"),
            ("\"5\"", "JSON number"),
        ] {
            let refused = Amount::parse_position(literal).unwrap_err();
            assert!(refused.contains(why), "{literal}: {refused}");
        }
    }

    #[test]
    fn sums_exactly_and_serializes_exact_digits() {
        let tenth = Amount::parse_position("0.1").unwrap();
        let mut sum = Amount::ZERO;
        for _ in 0..10 {
            sum = sum.checked_add(tenth).unwrap();
        }
        assert_eq!(sum.to_stored(), "1");
        let big = Amount::from_stored("123456789012345678.123456").unwrap();
        assert_eq!(serde_json::to_string(&big).unwrap(), "123456789012345678.123456");
    }
}
