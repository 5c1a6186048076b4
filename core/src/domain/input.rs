//! Request bodies turned into validated inputs, with every broken field rule reported at once.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use super::{Amount, Market, MarketStatus, Outcome, Timestamp, parse_timestamp};
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

/// When a body must give a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    Required,
    /// Left out: the field's value in a new market (create), or as if sent `null` (replace).
    Optional,
    /// Not a field of this body.
    Refused,
}

/// A market field clients write, when each body must give it, and whether `null` means
/// something (clearing it); any other field's `null` is a 400. A PATCH may give any of them.
struct Writable {
    name: &'static str,
    on_create: Presence,
    on_replace: Presence,
    nullable: bool,
}

/// Every market field clients write (each with its line in [`MarketPatch::read`] and
/// [`MarketPatch::apply`]).
const WRITABLE: [Writable; 4] = [
    Writable { name: "name", on_create: Presence::Required, on_replace: Presence::Required, nullable: false },
    Writable { name: "description", on_create: Presence::Optional, on_replace: Presence::Required, nullable: false },
    Writable { name: "status", on_create: Presence::Refused, on_replace: Presence::Required, nullable: false },
    Writable { name: "endDate", on_create: Presence::Optional, on_replace: Presence::Optional, nullable: true },
];

/// A position's side and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PositionInput {
    pub outcome: Outcome,
    pub amount: Amount,
}

/// Body of POST /api/markets: the market's fields (applied to a new market) and the creator's
/// first position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMarket {
    pub fields: MarketPatch,
    pub initial_position: Option<PositionInput>,
}

/// Body of PUT /api/markets/{id}: every writable field, a left-out optional one cleared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketReplacement {
    pub fields: MarketPatch,
}

/// Market fields a body gives, each `None` when it leaves the field out. PATCH's body as it is
/// (JSON merge patch: absent fields stay, `endDate: null` clears), and the fields of the others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarketPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: Option<MarketStatus>,
    pub end_date: Option<Option<Timestamp>>,
}

impl MarketPatch {
    /// Each writable field of `body`, by its rule.
    fn read(body: &mut Body) -> Self {
        Self {
            name: body.writable("name", name),
            description: body.writable("description", description),
            status: body.writable("status", status),
            end_date: body.writable("endDate", end_date),
        }
    }

    /// Sets each field the patch gives.
    pub fn apply(&self, market: &mut Market) {
        fn set<T: Clone>(field: &mut T, value: &Option<T>) {
            if let Some(value) = value {
                field.clone_from(value);
            }
        }
        set(&mut market.name, &self.name);
        set(&mut market.description, &self.description);
        set(&mut market.status, &self.status);
        set(&mut market.end_date, &self.end_date);
    }

    pub fn from_json(body: JsonObject) -> Result<Self, Vec<FieldError>> {
        if body.is_empty() {
            let names: Vec<&str> = WRITABLE.iter().map(|field| field.name).collect();
            return Err(vec![FieldError::new("body", format!("must change at least one of {}", names.join(", ")))]);
        }
        let mut body = Body::market(body, BodyKind::Patch, &[]);
        let patch = Self::read(&mut body);
        body.finish()?;
        Ok(patch)
    }
}

impl PositionInput {
    /// Body of POST /api/markets/{id}/positions.
    pub fn from_json(body: JsonObject) -> Result<Self, Vec<FieldError>> {
        let mut body = Body::new(body, &["outcome", "amount"], None);
        let outcome = body.required("outcome", outcome);
        let amount = body.required("amount", amount);
        body.finish()?;
        Ok(Self { outcome: outcome.unwrap(), amount: amount.unwrap() })
    }
}

impl NewMarket {
    pub fn from_json(body: JsonObject) -> Result<Self, Vec<FieldError>> {
        let mut body = Body::market(body, BodyKind::Create, &["initialPosition"]);
        let fields = MarketPatch::read(&mut body);
        let initial_position = body.optional("initialPosition", position);
        body.finish()?;
        Ok(Self { fields, initial_position })
    }
}

impl MarketReplacement {
    pub fn from_json(body: JsonObject) -> Result<Self, Vec<FieldError>> {
        let mut body = Body::market(body, BodyKind::Replace, &[]);
        let fields = MarketPatch::read(&mut body);
        body.finish()?;
        Ok(Self { fields })
    }
}

/// Which body a market's fields come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Create,
    Replace,
    Patch,
}

impl BodyKind {
    fn presence(self, field: &Writable) -> Presence {
        match self {
            Self::Create => field.on_create,
            Self::Replace => field.on_replace,
            Self::Patch => Presence::Optional,
        }
    }
}

/// Walks a JSON object field by field, collecting every rule broken.
struct Body {
    fields: JsonObject,
    errors: Vec<FieldError>,
    /// The market body this is, if it is one.
    kind: Option<BodyKind>,
}

impl Body {
    fn new(fields: JsonObject, allowed: &[&str], kind: Option<BodyKind>) -> Self {
        let mut errors = Vec::new();
        for key in fields.keys() {
            if READ_ONLY.contains(&key.as_str()) {
                errors.push(FieldError::new(key, "is read-only"));
            } else if !allowed.contains(&key.as_str()) {
                errors.push(FieldError::new(key, "is not a known field"));
            }
        }
        Self { fields, errors, kind }
    }

    /// A market body of `kind`: its writable fields and `also`.
    fn market(fields: JsonObject, kind: BodyKind, also: &[&str]) -> Self {
        let writable = WRITABLE.iter().filter(|field| kind.presence(field) != Presence::Refused);
        let allowed: Vec<&str> = writable.map(|field| field.name).chain(also.iter().copied()).collect();
        Self::new(fields, &allowed, Some(kind))
    }

    /// A writable market field, given or not as the body's kind wants it.
    fn writable<T>(&mut self, field: &str, rule: fn(&Json) -> Result<T, String>) -> Option<T> {
        let kind = self.kind.expect("a market body");
        let writable = WRITABLE.iter().find(|writable| writable.name == field).expect("a field of WRITABLE");
        match kind.presence(writable) {
            Presence::Required => self.required(field, rule),
            Presence::Refused => None,
            Presence::Optional if kind == BodyKind::Replace && !self.fields.contains_key(field) => {
                self.rule(field, &Json::Null, rule)
            }
            Presence::Optional => self.optional(field, rule),
        }
    }

    fn optional<T>(&mut self, field: &str, rule: fn(&Json) -> Result<T, String>) -> Option<T> {
        let value = self.fields.get(field)?.clone();
        let nullable = WRITABLE.iter().any(|writable| writable.name == field && writable.nullable);
        if value.is_null() && !nullable {
            self.errors.push(FieldError::new(field, "must not be null"));
            return None;
        }
        self.rule(field, &value, rule)
    }

    fn rule<T>(&mut self, field: &str, value: &Json, rule: fn(&Json) -> Result<T, String>) -> Option<T> {
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
        let market = NewMarket::from_json(object(json!({"name": "  Rain?  "}))).unwrap().fields;
        assert_eq!(market.name.as_deref(), Some("Rain?"));
        assert_eq!((market.description, market.end_date), (None, None));
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
        assert_eq!(MarketReplacement::from_json(object(full)).unwrap().fields.end_date, Some(None));
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
        let status = NewMarket::from_json(object(json!({"name": "n", "status": "closed"}))).unwrap_err();
        assert_eq!((status[0].field.as_str(), status[0].message.as_str()), ("status", "is not a known field"));
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
