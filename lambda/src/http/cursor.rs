//! Opaque, tamper-evident pagination cursors: the page key and the query it belongs to, signed
//! with HMAC-SHA256, so an edited cursor or one from another query is refused with 400.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

use crate::error::ApiError;

type HmacSha256 = Hmac<Sha256>;

/// What a cursor is valid for: the list and its filter and order, e.g. `markets:active:volume:desc`.
pub type CursorScope = str;

/// Signs and checks cursors with a key derived from the cursor secret.
#[derive(Clone)]
pub struct CursorCodec {
    key: Vec<u8>,
}

impl CursorCodec {
    /// Derives a key of its own, so that a cursor can never double as any other signed value.
    pub fn new(secret: &[u8]) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(b"markets-api cursor key v1");
        Self { key: mac.finalize().into_bytes().to_vec() }
    }

    fn mac(&self, scope: &CursorScope, payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac
    }

    /// A cursor of `payload`'s bytes: 4/3 of them and 44 characters (the tag and a dot).
    pub fn encode_bytes(&self, scope: &CursorScope, payload: &[u8]) -> String {
        let tag = self.mac(scope, payload).finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(tag))
    }

    /// The bytes of a cursor [`Self::encode_bytes`] made for `scope` with this key.
    pub fn decode_bytes(&self, scope: &CursorScope, cursor: &str) -> Result<Vec<u8>, ApiError> {
        let (payload, tag) = cursor.split_once('.').ok_or(ApiError::InvalidCursor)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| ApiError::InvalidCursor)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| ApiError::InvalidCursor)?;
        // verify_slice compares in constant time.
        self.mac(scope, &payload).verify_slice(&tag).map_err(|_| ApiError::InvalidCursor)?;
        Ok(payload)
    }

    /// A cursor of `key` as JSON.
    pub fn encode(&self, scope: &CursorScope, key: &impl Serialize) -> String {
        self.encode_bytes(scope, &serde_json::to_vec(key).expect("page keys serialize to JSON"))
    }

    pub fn decode<K: DeserializeOwned>(&self, scope: &CursorScope, cursor: &str) -> Result<K, ApiError> {
        serde_json::from_slice(&self.decode_bytes(scope, cursor)?).map_err(|_| ApiError::InvalidCursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_tampering_or_another_scope() {
        let codec = CursorCodec::new(b"a secret that is at least 32 bytes long");
        let cursor = codec.encode("markets:all:createdAt:desc", &vec!["k1", "k2"]);
        let key: Vec<String> = codec.decode("markets:all:createdAt:desc", &cursor).unwrap();
        assert_eq!(key, ["k1", "k2"]);

        assert!(matches!(
            codec.decode::<Vec<String>>("markets:all:volume:desc", &cursor),
            Err(ApiError::InvalidCursor)
        ));
        let mut edited = cursor.clone().into_bytes();
        edited[2] ^= 1;
        let edited = String::from_utf8(edited).unwrap();
        assert!(codec.decode::<Vec<String>>("markets:all:createdAt:desc", &edited).is_err());
        assert!(codec.decode::<Vec<String>>("markets:all:createdAt:desc", "garbage").is_err());
        let other = CursorCodec::new(b"another secret, also 32 bytes or more");
        assert!(other.decode::<Vec<String>>("markets:all:createdAt:desc", &cursor).is_err());
    }
}
