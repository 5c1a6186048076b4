//! Property-based fuzzing of everything that reads client input before any rule runs: the JSON
//! body parser and the body validators, the amount parser, the cursor decoder and the
//! Authorization/JWT path. Each target feeds arbitrary and near-valid input and asserts that the
//! answer is a value or a typed error, never a panic.
//!
//! `cargo test -p markets-lambda --test properties` runs 256 cases per target (proptest's default);
//! `dev/fuzz` runs the long campaign (`PROPTEST_CASES`, 100,000 by default).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::http::{HeaderMap, HeaderValue};
use markets_core::domain::{Amount, FieldError, MarketPatch, MarketReplacement, NewMarket, PositionInput};
use markets_core::json::{Json, JsonObject};
use markets_core::repo::PageToken;
use markets_lambda::ApiError;
use markets_lambda::auth::{Authenticator, CLOCK_SKEW_SECONDS, Caller};
use markets_lambda::config::ClaimRules;
use markets_lambda::http::CursorCodec;
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::json;

const SECRET: &[u8] = b"property-test-secret-0123456789abcdef";
const SCOPE: &str = "markets:all:createdAt:desc";

/// Any JSON value, up to a few levels deep, with the keys and strings the validators care about
/// mixed with arbitrary ones.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let number = prop_oneof![
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(serde_json::Value::from),
        (0u64..=2_000_000_000, 0u32..=8).prop_map(|(units, places)| json!(units as f64 / 10f64.powi(places as i32))),
    ];
    let text = prop_oneof![
        Just("yes".to_owned()),
        Just("active".to_owned()),
        Just("2030-01-01T00:00:00Z".to_owned()),
        "\\PC{0,20}",
        any::<String>(),
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        number,
        text.prop_map(serde_json::Value::from)
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        let key = prop_oneof![
            Just("name".to_owned()),
            Just("description".to_owned()),
            Just("status".to_owned()),
            Just("endDate".to_owned()),
            Just("initialPosition".to_owned()),
            Just("outcome".to_owned()),
            Just("amount".to_owned()),
            Just("version".to_owned()),
            "[a-z]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(key, inner, 0..6)
                .prop_map(|members| serde_json::Value::Object(members.into_iter().collect())),
        ]
    })
}

/// Every body validator over one object: each answers a value or a 400 naming fields.
fn validate_all(body: &JsonObject) {
    let typed = |result: Result<(), Vec<FieldError>>| {
        if let Err(details) = result {
            assert!(!details.is_empty());
        }
    };
    typed(NewMarket::from_json(body.clone()).map(drop));
    typed(MarketReplacement::from_json(body.clone()).map(drop));
    typed(MarketPatch::from_json(body.clone()).map(drop));
    typed(PositionInput::from_json(body.clone()).map(drop));
}

fn authenticator() -> Authenticator {
    Authenticator::with_secret(SECRET, &ClaimRules::default())
}

fn authenticate(auth: &Authenticator, value: &str) -> Option<Result<Caller, ApiError>> {
    let value = HeaderValue::from_bytes(value.as_bytes()).ok()?;
    let mut headers = HeaderMap::new();
    headers.insert("authorization", value);
    // HS256 verification never waits on anything: a bare current-thread runtime drives it.
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    Some(runtime.block_on(auth.authenticate(&headers)))
}

proptest! {
    /// Arbitrary bytes: the parser answers a value or a JsonError, at any length and depth.
    #[test]
    fn json_parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Json::parse(&bytes);
    }

    /// Text made of JSON's own characters, which reaches much deeper into the grammar.
    #[test]
    fn json_parser_never_panics_on_json_like_text(text in r#"[\[\]{}:,"\\0-9a-fA-FeE.+\-trunslNI ]{0,200}"#) {
        if let Ok(Json::Object(body)) = Json::parse(text.as_bytes()) {
            validate_all(&body);
        }
    }

    /// Valid JSON parses, keeps every number's text, and validates to a value or a 400.
    #[test]
    fn any_json_object_validates_to_a_value_or_a_400(value in json_value()) {
        let text = value.to_string();
        let parsed = Json::parse(text.as_bytes()).expect("serde_json's output is JSON");
        prop_assert_eq!(serde_json::to_string(&parsed).unwrap(), serde_json::to_string(&value).unwrap());
        if let Json::Object(body) = parsed {
            validate_all(&body);
        }
    }

    /// Arbitrary text as an amount: a value within the contract or a message, never a panic.
    #[test]
    fn amount_parser_never_panics(text in "\\PC{0,40}") {
        if let Ok(amount) = Amount::parse_position(&text) {
            let value = Decimal::from_str_exact(&amount.to_stored()).unwrap();
            prop_assert!(value > Decimal::ZERO && value <= Decimal::from(1_000_000_000u32) && value.scale() <= 6);
        }
    }

    /// Decimals written every way JSON allows read back exactly; more than 6 places, or more
    /// than 1e9, are refused, never rounded.
    #[test]
    fn amounts_are_read_exactly_in_every_notation(
        units in 1u64..=10_000_000_000_000_000,
        places in 0u32..=9,
        form in 0usize..3,
        upper in any::<bool>(),
    ) {
        let exact = Decimal::from_i128_with_scale(i128::from(units), places);
        let (digits, e) = (units.to_string(), if upper { "E" } else { "e" });
        let literal = match form {
            0 => exact.to_string(), // with its trailing zeros: 2.50
            1 => format!("{digits}{e}-{places}"), // 250e-2
            _ => {
                // d.ddd x 10^n: 2.50e0
                let fraction = if digits.len() > 1 { &digits[1..] } else { "0" };
                format!("{}.{fraction}{e}{}", &digits[..1], digits.len() as i64 - 1 - i64::from(places))
            }
        };
        let exact = exact.normalize();
        let within = exact <= Decimal::from(1_000_000_000u32) && exact.scale() <= 6;
        match Amount::parse_position(&literal) {
            Ok(amount) => {
                prop_assert!(within, "{} accepted", literal);
                prop_assert_eq!(Decimal::from_str_exact(&amount.to_stored()).unwrap(), exact, "{}", literal);
            }
            Err(_) => prop_assert!(!within, "{} refused", literal),
        }
    }

    /// Any text as a cursor: a page token only for what this codec signed for this scope.
    #[test]
    fn cursor_decoder_refuses_anything_it_did_not_sign(text in "\\PC{0,120}", payload in prop::collection::vec(any::<u8>(), 0..64)) {
        let codec = CursorCodec::new(SECRET);
        for cursor in [text.clone(), format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(&payload))] {
            prop_assert!(matches!(codec.decode(SCOPE, &cursor), Err(ApiError::InvalidCursor)));
        }
    }

    /// A signed cursor round-trips; any one-character edit of it, or another scope, is refused.
    #[test]
    fn cursor_edits_and_other_scopes_are_refused(
        token in prop::collection::vec(any::<u8>(), 0..120),
        at in any::<prop::sample::Index>(),
        replacement in "[A-Za-z0-9_.-]",
    ) {
        let codec = CursorCodec::new(SECRET);
        let token = PageToken(token);
        let cursor = codec.encode(SCOPE, &token);
        prop_assert_eq!(codec.decode(SCOPE, &cursor).unwrap(), token);
        prop_assert!(codec.decode("markets:all:volume:desc", &cursor).is_err());
        let mut edited: Vec<char> = cursor.chars().collect();
        let position = at.index(edited.len());
        let replacement = replacement.chars().next().unwrap();
        if edited[position] != replacement {
            edited[position] = replacement;
            let edited: String = edited.into_iter().collect();
            // Base64's last character may carry unused bits: an edit there can decode to the same bytes.
            if let Ok(decoded) = codec.decode(SCOPE, &edited) {
                prop_assert_eq!(decoded, codec.decode(SCOPE, &cursor).unwrap());
            }
        }
    }

    /// Any Authorization value: anonymous never, a caller never, only a 401.
    #[test]
    fn authorization_header_garbage_is_a_401(value in "\\PC{0,200}", scheme in prop_oneof![Just("Bearer "), Just("bearer "), Just(""), Just("Basic ")]) {
        let auth = authenticator();
        if let Some(result) = authenticate(&auth, &format!("{scheme}{value}")) {
            prop_assert!(matches!(result, Err(ApiError::InvalidToken(_))), "{:?}", result);
        }
    }

    /// Tokens made of three base64 segments of arbitrary JSON: a 401, unless validly signed.
    #[test]
    fn jwt_segments_of_arbitrary_json_are_a_401(header in json_value(), claims in json_value(), signature in prop::collection::vec(any::<u8>(), 0..64)) {
        let encode = |value: &serde_json::Value| URL_SAFE_NO_PAD.encode(value.to_string());
        let token = format!("{}.{}.{}", encode(&header), encode(&claims), URL_SAFE_NO_PAD.encode(&signature));
        let result = authenticate(&authenticator(), &format!("Bearer {token}")).unwrap();
        prop_assert!(matches!(result, Err(ApiError::InvalidToken(_))), "{:?}", result);
    }

    /// Signed tokens with arbitrary claims: a caller exactly when the claims are valid.
    #[test]
    fn signed_tokens_are_accepted_exactly_when_their_claims_are_valid(
        sub in "\\PC{0,20}",
        exp_offset in -1_000i64..1_000,
        nbf_offset in proptest::option::of(-1_000i64..1_000),
    ) {
        let now = markets_core::domain::unix_seconds() as i64;
        let mut claims = json!({"sub": sub, "role": "user", "exp": now + exp_offset});
        if let Some(offset) = nbf_offset {
            claims["nbf"] = json!(now + offset);
        }
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        let result = authenticate(&authenticator(), &format!("Bearer {token}")).unwrap();
        // A second's margin either side of each boundary, for the clock ticking during the test.
        let skew = CLOCK_SKEW_SECONDS as i64;
        let clearly_valid = exp_offset > 1 && nbf_offset.is_none_or(|o| o < skew - 1) && !sub.trim().is_empty();
        let clearly_invalid = exp_offset < -1 || nbf_offset.is_some_and(|o| o > skew + 1) || sub.trim().is_empty();
        if clearly_valid {
            prop_assert!(result.is_ok(), "{:?}", result);
        }
        if clearly_invalid {
            prop_assert!(matches!(result, Err(ApiError::InvalidToken(_))), "{:?}", result);
        }
    }
}
