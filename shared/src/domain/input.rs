//! Request bodies turned into validated inputs, with every broken field rule reported at once.

use serde_json::{Map, Value};

use super::{Amount, MarketStatus, Outcome, Timestamp, parse_timestamp};
use crate::error::{ApiError, FieldError};

const NAME_MAX_CHARS: usize = 200;
const DESCRIPTION_MAX_CHARS: usize = 5000;
/// Fields the server owns: sending them is a 400, never silently ignored.
const READ_ONLY: [&str; 7] = ["id", "volume", "creatorId", "creator", "createdAt", "updatedAt", "version"];

/// A position's side and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionInput {
    pub outcome: Outcome,
    pub amount: Amount,
}

/// Body of POST /api/markets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMarket {
    pub name: String,
    pub description: String,
    pub end_date: Option<Timestamp>,
    pub initial_position: Option<PositionInput>,
}

/// Body of PUT /api/markets/{id}: every field but `endDate` is required; a missing `endDate` clears it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketReplacement {
    pub name: String,
    pub description: String,
    pub status: MarketStatus,
    pub end_date: Option<Timestamp>,
}

/// Body of PATCH /api/markets/{id} (JSON merge patch): absent fields stay, `endDate: null` clears.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarketPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: Option<MarketStatus>,
    pub end_date: Option<Option<Timestamp>>,
}

impl PositionInput {
    /// Body of POST /api/markets/{id}/positions.
    pub fn from_json(body: Map<String, Value>) -> Result<Self, ApiError> {
        let mut body = Body::new(body, &["outcome", "amount"]);
        let outcome = body.required("outcome", outcome);
        let amount = body.required("amount", amount);
        body.finish()?;
        Ok(Self { outcome: outcome.unwrap(), amount: amount.unwrap() })
    }
}

impl NewMarket {
    pub fn from_json(body: Map<String, Value>) -> Result<Self, ApiError> {
        let mut body = Body::new(body, &["name", "description", "endDate", "initialPosition"]);
        let name = body.required("name", name);
        let description = body.optional("description", description).unwrap_or_default();
        let end_date = body.optional("endDate", end_date).flatten();
        let initial_position = body.optional("initialPosition", position).flatten();
        body.finish()?;
        Ok(Self { name: name.unwrap(), description, end_date, initial_position })
    }
}

impl MarketReplacement {
    pub fn from_json(body: Map<String, Value>) -> Result<Self, ApiError> {
        let mut body = Body::new(body, &["name", "description", "status", "endDate"]);
        let name = body.required("name", name);
        let description = body.required("description", description);
        let status = body.required("status", status);
        let end_date = body.optional("endDate", end_date).flatten();
        body.finish()?;
        Ok(Self { name: name.unwrap(), description: description.unwrap(), status: status.unwrap(), end_date })
    }
}

impl MarketPatch {
    pub fn from_json(body: Map<String, Value>) -> Result<Self, ApiError> {
        let mut body = Body::new(body, &["name", "description", "status", "endDate"]);
        let patch = Self {
            name: body.optional("name", name),
            description: body.optional("description", description),
            status: body.optional("status", status),
            end_date: body.optional("endDate", end_date),
        };
        body.finish()?;
        Ok(patch)
    }
}

/// Walks a JSON object field by field, collecting every rule broken.
struct Body {
    fields: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Body {
    fn new(fields: Map<String, Value>, allowed: &[&str]) -> Self {
        let mut errors = Vec::new();
        for key in fields.keys() {
            if READ_ONLY.contains(&key.as_str()) {
                errors.push(FieldError::new(key, "is read-only"));
            } else if !allowed.contains(&key.as_str()) {
                errors.push(FieldError::new(key, "is not a known field"));
            }
        }
        Self { fields, errors }
    }

    fn optional<T>(&mut self, field: &str, rule: fn(&Value) -> Result<T, String>) -> Option<T> {
        let value = self.fields.get(field)?;
        match rule(value) {
            Ok(parsed) => Some(parsed),
            Err(message) => {
                self.errors.push(FieldError::new(field, message));
                None
            }
        }
    }

    fn required<T>(&mut self, field: &str, rule: fn(&Value) -> Result<T, String>) -> Option<T> {
        if !self.fields.contains_key(field) {
            self.errors.push(FieldError::new(field, "is required"));
            return None;
        }
        self.optional(field, rule)
    }

    fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(self.errors)) }
    }
}

fn name(value: &Value) -> Result<String, String> {
    let text = value.as_str().ok_or("must be a string")?.trim();
    match text.chars().count() {
        0 => Err("must not be empty".into()),
        n if n > NAME_MAX_CHARS => Err(format!("must be at most {NAME_MAX_CHARS} characters")),
        _ => Ok(text.to_owned()),
    }
}

fn description(value: &Value) -> Result<String, String> {
    match value {
        // A merge patch's null removes the value, which for a description means empty.
        Value::Null => Ok(String::new()),
        Value::String(text) if text.chars().count() > DESCRIPTION_MAX_CHARS => {
            Err(format!("must be at most {DESCRIPTION_MAX_CHARS} characters"))
        }
        Value::String(text) => Ok(text.clone()),
        _ => Err("must be a string".into()),
    }
}

fn status(value: &Value) -> Result<MarketStatus, String> {
    value.as_str().and_then(MarketStatus::parse).ok_or_else(|| "must be one of active, closed, resolved".into())
}

fn end_date(value: &Value) -> Result<Option<Timestamp>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => parse_timestamp(text).map(Some).ok_or_else(|| "must be an RFC 3339 date-time".into()),
        _ => Err("must be an RFC 3339 date-time string or null".into()),
    }
}

fn position(value: &Value) -> Result<Option<PositionInput>, String> {
    if value.is_null() {
        return Ok(None);
    }
    let object = value.as_object().ok_or("must be an object with outcome and amount")?;
    if let Some(unknown) = object.keys().find(|key| !["outcome", "amount"].contains(&key.as_str())) {
        return Err(format!("has an unknown field {unknown}"));
    }
    let outcome =
        outcome(object.get("outcome").unwrap_or(&Value::Null)).map_err(|message| format!("outcome {message}"))?;
    let amount =
        amount(object.get("amount").ok_or("amount is required")?).map_err(|message| format!("amount {message}"))?;
    Ok(Some(PositionInput { outcome, amount }))
}

fn outcome(value: &Value) -> Result<Outcome, String> {
    match value.as_str() {
        Some("yes") => Ok(Outcome::Yes),
        Some("no") => Ok(Outcome::No),
        _ => Err("must be yes or no".into()),
    }
}

fn amount(value: &Value) -> Result<Amount, String> {
    Amount::parse_position(value).map_err(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn fields_of(error: ApiError) -> Vec<String> {
        match error {
            ApiError::Validation(details) => details.into_iter().map(|d| d.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn new_market_is_trimmed_and_defaulted() {
        let market = NewMarket::from_json(object(json!({"name": "  Rain?  "}))).unwrap();
        assert_eq!(market.name, "Rain?");
        assert_eq!(market.description, "");
        assert_eq!(market.end_date, None);
    }

    #[test]
    fn every_broken_field_is_named() {
        let error = NewMarket::from_json(object(json!({
            "name": "   ", "description": 5, "endDate": "soon", "volume": 3, "color": "red",
            "initialPosition": {"outcome": "maybe", "amount": 1}
        })))
        .unwrap_err();
        let mut fields = fields_of(error);
        fields.sort();
        assert_eq!(fields, ["color", "description", "endDate", "initialPosition", "name", "volume"]);
        assert_eq!(fields_of(NewMarket::from_json(object(json!({"name": "x".repeat(201)}))).unwrap_err()), ["name"]);
    }

    #[test]
    fn replacement_requires_all_but_end_date() {
        let mut fields = fields_of(MarketReplacement::from_json(object(json!({"name": "n"}))).unwrap_err());
        fields.sort();
        assert_eq!(fields, ["description", "status"]);
        let full = json!({"name": "n", "description": "", "status": "closed"});
        assert_eq!(MarketReplacement::from_json(object(full)).unwrap().end_date, None);
    }

    #[test]
    fn positions_need_an_outcome_and_an_exact_amount() {
        let position = PositionInput::from_json(object(json!({"outcome": "no", "amount": 12.5}))).unwrap();
        assert_eq!((position.outcome, position.amount.to_stored()), (Outcome::No, "12.5".to_owned()));
        let mut fields =
            fields_of(PositionInput::from_json(object(json!({"outcome": "maybe", "amount": 0.1234567}))).unwrap_err());
        fields.sort();
        assert_eq!(fields, ["amount", "outcome"]);
        let created =
            NewMarket::from_json(object(json!({"name": "n", "initialPosition": {"outcome": "yes", "amount": 3}})));
        assert_eq!(created.unwrap().initial_position.unwrap().amount.to_stored(), "3");
    }

    #[test]
    fn patch_distinguishes_absent_from_null() {
        assert_eq!(MarketPatch::from_json(object(json!({}))).unwrap(), MarketPatch::default());
        assert_eq!(MarketPatch::from_json(object(json!({"endDate": null}))).unwrap().end_date, Some(None));
        assert!(MarketPatch::from_json(object(json!({"status": "open"}))).is_err());
        assert_eq!(fields_of(MarketPatch::from_json(object(json!({"version": 9}))).unwrap_err()), ["version"]);
    }
}
