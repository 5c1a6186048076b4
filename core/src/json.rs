//! Request bodies as strict JSON (RFC 8259 and nothing more), read into a tree that keeps every
//! number's exact text: an amount is judged on what the client wrote, never on an f64 rounding
//! of it. A member name given twice in one object is refused, and so is nesting deeper than
//! [`MAX_DEPTH`], before any recursion could run out of stack.

use std::collections::BTreeMap;

use crate::error::printable;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::value::RawValue;
use struson::reader::{JsonReader, JsonStreamReader, ReaderError, ReaderSettings, ValueType};

/// The deepest nesting of arrays and objects a body may have (serde_json's own limit).
pub const MAX_DEPTH: u32 = 128;

/// A JSON value whose numbers keep their literal text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Json {
    Null,
    Bool(bool),
    /// A number exactly as written (`0.10000000000000000001`, `1e2`, `-0`).
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(JsonObject),
}

/// An object's members by name (each name once).
pub type JsonObject = BTreeMap<String, Json>;

/// Why a text is not acceptable JSON, for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JsonError(String);

impl From<ReaderError> for JsonError {
    fn from(error: ReaderError) -> Self {
        JsonError(match error {
            ReaderError::MaxNestingDepthExceeded { .. } => format!("nested deeper than {MAX_DEPTH} levels"),
            ReaderError::IoError { .. } => "not UTF-8".to_owned(),
            other => other.to_string(),
        })
    }
}

impl Json {
    /// Parses one JSON document: no NaN or Infinity, comments, trailing commas, lone surrogates
    /// or trailing data; at most [`MAX_DEPTH`] levels; no member name twice in an object.
    /// Linear in the text's length.
    pub fn parse(text: &[u8]) -> Result<Json, JsonError> {
        let settings = ReaderSettings {
            track_path: false,
            max_nesting_depth: Some(MAX_DEPTH),
            // Any number the grammar allows is read as text; the field's own rule judges it.
            restrict_number_values: false,
            ..ReaderSettings::default()
        };
        let mut reader = JsonStreamReader::new_custom(text, settings);
        let value = read(&mut reader)?;
        reader.consume_trailing_whitespace()?;
        Ok(value)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&JsonObject> {
        match self {
            Json::Object(members) => Some(members),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }
}

/// A `serde_json` object as a request body parsed from its text, for unit tests.
#[cfg(test)]
pub(crate) fn object(value: serde_json::Value) -> JsonObject {
    Json::parse(value.to_string().as_bytes()).unwrap().as_object().expect("an object").clone()
}

/// One value; the reader's depth limit bounds the recursion.
fn read(reader: &mut JsonStreamReader<&[u8]>) -> Result<Json, JsonError> {
    Ok(match reader.peek()? {
        ValueType::Null => {
            reader.next_null()?;
            Json::Null
        }
        ValueType::Boolean => Json::Bool(reader.next_bool()?),
        ValueType::Number => Json::Number(reader.next_number_as_string()?),
        ValueType::String => Json::String(reader.next_string()?),
        ValueType::Array => {
            reader.begin_array()?;
            let mut items = Vec::new();
            while reader.has_next()? {
                items.push(read(reader)?);
            }
            reader.end_array()?;
            Json::Array(items)
        }
        ValueType::Object => {
            reader.begin_object()?;
            let mut members = JsonObject::new();
            while reader.has_next()? {
                let name = reader.next_name_owned()?;
                if members.contains_key(&name) {
                    return Err(JsonError(format!("the member \"{}\" is given more than once", printable(&name))));
                }
                let value = read(reader)?;
                members.insert(name, value);
            }
            reader.end_object()?;
            Json::Object(members)
        }
    })
}

impl Serialize for Json {
    /// Canonical JSON (members sorted, numbers with their exact text), e.g. to fingerprint a body.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(value) => serializer.serialize_bool(*value),
            Json::Number(text) => {
                RawValue::from_string(text.clone()).map_err(serde::ser::Error::custom)?.serialize(serializer)
            }
            Json::String(text) => serializer.serialize_str(text),
            Json::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (name, value) in members {
                    map.serialize_entry(name, value)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Json, JsonError> {
        Json::parse(text.as_bytes())
    }

    #[test]
    fn keeps_numbers_exactly_as_written() {
        let body = parse(r#"{"amount": 0.10000000000000000001, "big": 1e400, "n": [-0, 1E+2]}"#).unwrap();
        let members = body.as_object().unwrap();
        assert_eq!(members["amount"], Json::Number("0.10000000000000000001".into()));
        assert_eq!(members["big"], Json::Number("1e400".into()));
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"amount":0.10000000000000000001,"big":1e400,"n":[-0,1E+2]}"#
        );
    }

    #[test]
    fn refuses_what_rfc_8259_does_not_allow() {
        for text in [
            "",
            "{",
            r#"{"a":1"#,
            r#"{"a":1,}"#,
            "[1,]",
            "NaN",
            r#"{"a":NaN}"#,
            r#"{"a":Infinity}"#,
            r#"{"a":-Infinity}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":+1}"#,
            "{'a':1}",
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\udc00x"}"#,
            "{\"a\":\"\u{0}\"}",
            "{} {}",
            "{}x",
            "/*c*/{}",
            "\u{feff}{}",
        ] {
            assert!(parse(text).is_err(), "{text:?}");
        }
        assert!(Json::parse(b"{\"a\":\"\xff\"}").is_err(), "not UTF-8");
        assert_eq!(parse(r#"{"a":"\u0000"}"#).unwrap().as_object().unwrap()["a"], Json::String("\0".into()));
    }

    #[test]
    fn refuses_a_member_given_twice_at_any_depth() {
        assert!(parse(r#"{"outcome":"yes","amount":1,"amount":2}"#).unwrap_err().0.contains("\"amount\""));
        assert!(parse(r#"{"p":{"a":1,"b":[{"c":1,"c":1}]}}"#).is_err());
        assert!(parse(r#"{"a":{"a":{"a":1}}}"#).is_ok(), "the same name in nested objects is fine");
    }

    #[test]
    fn refuses_deep_nesting_without_overflowing_the_stack() {
        let deep = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(parse(&deep(MAX_DEPTH as usize)).is_ok());
        assert!(parse(&deep(MAX_DEPTH as usize + 1)).unwrap_err().0.contains("nested deeper"));
        let objects = format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
        assert!(parse(&objects).is_err());
    }
}
