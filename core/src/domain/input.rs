//! Request bodies turned into validated inputs, with every broken field rule reported at once.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use super::{Amount, MarketStatus, Outcome, Timestamp, parse_timestamp};
use crate::json::{Json, JsonObject};

/// One rule broken by one field of a request body or query.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

const NAME_MAX_CHARS: usize = 200;
const DESCRIPTION_MAX_CHARS: usize = 5000;
/// Fields the server owns: sending them is a 400, never silently ignored.
const READ_ONLY: [&str; 7] = ["id", "volume", "creatorId", "creator", "createdAt", "updatedAt", "version"];
/// The one field whose `null` means something (no end date); any other field's `null` is a 400.
const NULLABLE: [&str; 1] = ["endDate"];
/// The fields a PATCH may change, at least one of which it must name.
const EDITABLE: [&str; 4] = ["name", "description", "status", "endDate"];

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
    pub fn from_json(body: JsonObject) -> Result<Self, Vec<FieldError>> {
        let mut body = Body::new(body, &["outcome", "amount"]);
        let outcome = body.required("outcome", outcome);
        let amount = body.required("amount", amount);
        body.finish()?;
        Ok(Self { outcome: outcome.unwrap(), amount: amount.unwrap() })
    }
}

impl NewMarket {
    pub fn from_json(body: JsonObject) -> Result<Self, Vec<FieldError>> {
        let mut body = Body::new(body, &["name", "description", "endDate", "initialPosition"]);
        let name = body.required("name", name);
        let description = body.optional("description", description).unwrap_or_default();
        let end_date = body.optional("endDate", end_date).flatten();
        let initial_position = body.optional("initialPosition", position);
        body.finish()?;
        Ok(Self { name: name.unwrap(), description, end_date, initial_position })
    }
}

impl MarketReplacement {
    pub fn from_json(body: JsonObject) -> Result<Self, Vec<FieldError>> {
        let mut body = Body::new(body, &EDITABLE);
        let name = body.required("name", name);
        let description = body.required("description", description);
        let status = body.required("status", status);
        let end_date = body.optional("endDate", end_date).flatten();
        body.finish()?;
        Ok(Self { name: name.unwrap(), description: description.unwrap(), status: status.unwrap(), end_date })
    }
}

impl MarketPatch {
    pub fn from_json(body: JsonObject) -> Result<Self, Vec<FieldError>> {
        if body.is_empty() {
            return Err(vec![FieldError::new("body", format!("must change at least one of {}", EDITABLE.join(", ")))]);
        }
        let mut body = Body::new(body, &EDITABLE);
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
    fields: JsonObject,
    errors: Vec<FieldError>,
}

impl Body {
    fn new(fields: JsonObject, allowed: &[&str]) -> Self {
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

    fn optional<T>(&mut self, field: &str, rule: fn(&Json) -> Result<T, String>) -> Option<T> {
        let value = self.fields.get(field)?;
        if value.is_null() && !NULLABLE.contains(&field) {
            self.errors.push(FieldError::new(field, "must not be null"));
            return None;
        }
        match rule(value) {
            Ok(parsed) => Some(parsed),
            Err(message) => {
                self.errors.push(FieldError::new(field, message));
                None
            }
        }
    }

    fn required<T>(&mut self, field: &str, rule: fn(&Json) -> Result<T, String>) -> Option<T> {
        if !self.fields.contains_key(field) {
            self.errors.push(FieldError::new(field, "is required"));
            return None;
        }
        self.optional(field, rule)
    }

    fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() { Ok(()) } else { Err(self.errors) }
    }
}

/// A name: trimmed of white space, with at least one character that shows (white space, format
/// characters such as U+200B, U+FEFF or bidi controls, and combining marks alone are blank), and
/// no control characters.
fn name(value: &Json) -> Result<String, String> {
    let text = value.as_str().ok_or("must be a string")?;
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    let text = text.trim();
    let shows = |c: char| {
        !c.is_whitespace() && !matches!(c.general_category(), GeneralCategory::Format | GeneralCategory::NonspacingMark)
    };
    if !text.chars().any(shows) {
        return Err("must not be blank".into());
    }
    if text.chars().count() > NAME_MAX_CHARS {
        return Err(format!("must be at most {NAME_MAX_CHARS} characters"));
    }
    Ok(text.to_owned())
}

/// A description: free text, where line breaks and tabs are the only control characters.
fn description(value: &Json) -> Result<String, String> {
    let text = value.as_str().ok_or("must be a string")?;
    if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err("must not contain control characters other than line breaks and tabs".into());
    }
    if text.chars().count() > DESCRIPTION_MAX_CHARS {
        return Err(format!("must be at most {DESCRIPTION_MAX_CHARS} characters"));
    }
    Ok(text.to_owned())
}

fn status(value: &Json) -> Result<MarketStatus, String> {
    value.as_str().and_then(MarketStatus::parse).ok_or_else(|| "must be one of active, closed, resolved".into())
}

fn end_date(value: &Json) -> Result<Option<Timestamp>, String> {
    match value {
        Json::Null => Ok(None),
        Json::String(text) => parse_timestamp(text).map(Some).ok_or_else(|| "must be an RFC 3339 date-time".into()),
        _ => Err("must be an RFC 3339 date-time string or null".into()),
    }
}

fn position(value: &Json) -> Result<PositionInput, String> {
    let object = value.as_object().ok_or("must be an object with outcome and amount")?;
    if let Some(unknown) = object.keys().find(|key| !["outcome", "amount"].contains(&key.as_str())) {
        return Err(format!("has an unknown field {unknown}"));
    }
    let outcome =
        outcome(object.get("outcome").unwrap_or(&Json::Null)).map_err(|message| format!("outcome {message}"))?;
    let amount =
        amount(object.get("amount").ok_or("amount is required")?).map_err(|message| format!("amount {message}"))?;
    Ok(PositionInput { outcome, amount })
}

fn outcome(value: &Json) -> Result<Outcome, String> {
    match value.as_str() {
        Some("yes") => Ok(Outcome::Yes),
        Some("no") => Ok(Outcome::No),
        _ => Err("must be yes or no".into()),
    }
}

fn amount(value: &Json) -> Result<Amount, String> {
    match value {
        Json::Number(literal) => Amount::parse_position(literal).map_err(str::to_owned),
        _ => Err("must be a number".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::object;
    use serde_json::json;

    fn fields_of(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|error| error.field).collect()
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
    fn patch_distinguishes_absent_from_null_and_needs_a_field() {
        assert_eq!(fields_of(MarketPatch::from_json(object(json!({}))).unwrap_err()), ["body"]);
        assert_eq!(MarketPatch::from_json(object(json!({"endDate": null}))).unwrap().end_date, Some(None));
        assert!(MarketPatch::from_json(object(json!({"status": "open"}))).is_err());
        assert_eq!(fields_of(MarketPatch::from_json(object(json!({"version": 9}))).unwrap_err()), ["version"]);
    }

    #[test]
    fn null_is_refused_for_every_field_but_end_date() {
        let nulls = json!({"name": null, "description": null, "initialPosition": null, "endDate": null});
        let mut fields = fields_of(NewMarket::from_json(object(nulls)).unwrap_err());
        fields.sort();
        assert_eq!(fields, ["description", "initialPosition", "name"]);
        let patch = json!({"name": null, "description": null, "status": null});
        assert_eq!(fields_of(MarketPatch::from_json(object(patch)).unwrap_err()).len(), 3);
        let position = json!({"outcome": null, "amount": null});
        assert_eq!(fields_of(PositionInput::from_json(object(position)).unwrap_err()).len(), 2);
    }

    #[test]
    fn blank_names_and_control_characters_are_refused() {
        let name_error =
            |name: &str| NewMarket::from_json(object(json!({ "name": name }))).unwrap_err()[0].message.clone();
        for blank in [
            "",
            " \u{a0}\u{3000} ",
            "\u{200b}\u{feff}",
            "\u{200c}\u{200d}\u{2060}",
            "\u{202e}\u{200f}",
            "\u{301}\u{301}",
        ] {
            assert_eq!(name_error(blank), "must not be blank", "{blank:?}");
        }
        for control in ["a\u{0}b", "a\nb", "\u{7}bell", "a\u{85}b"] {
            assert_eq!(name_error(control), "must not contain control characters", "{control:?}");
        }
        for fine in ["\u{5e9}\u{5dc}\u{5d5}\u{5dd}", "e\u{301}", "\u{200b}x", "\u{1F327}"] {
            assert!(NewMarket::from_json(object(json!({ "name": fine }))).is_ok(), "{fine:?}");
        }
        let described = |text: &str| NewMarket::from_json(object(json!({"name": "n", "description": text})));
        assert!(described("line one\r\n\tline two").is_ok());
        assert_eq!(fields_of(described("nul \u{0}").unwrap_err()), ["description"]);
    }
}
