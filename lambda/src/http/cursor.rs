//! Opaque, tamper-evident pagination cursors: the storage adapter's page token and the query it
//! belongs to, signed with HMAC-SHA256, so an edited cursor or one from another query is refused
//! with 400.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use markets_core::repo::PageToken;

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

    /// A cursor of a page token: 4/3 of its bytes and 44 characters (the tag and a dot).
    pub fn encode(&self, scope: &CursorScope, token: &PageToken) -> String {
        let tag = self.mac(scope, &token.0).finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&token.0), URL_SAFE_NO_PAD.encode(tag))
    }

    /// The page token of a cursor [`Self::encode`] made for `scope` with this key.
    pub fn decode(&self, scope: &CursorScope, cursor: &str) -> Result<PageToken, ApiError> {
        let (payload, tag) = cursor.split_once('.').ok_or(ApiError::InvalidCursor)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| ApiError::InvalidCursor)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| ApiError::InvalidCursor)?;
        // verify_slice compares in constant time.
        self.mac(scope, &payload).verify_slice(&tag).map_err(|_| ApiError::InvalidCursor)?;
        Ok(PageToken(payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_tampering_or_another_scope() {
        let codec = CursorCodec::new(b"a secret that is at least 32 bytes long");
        let token = PageToken(b"k1 k2".to_vec());
        let cursor = codec.encode("markets:all:createdAt:desc", &token);
        assert_eq!(codec.decode("markets:all:createdAt:desc", &cursor).unwrap(), token);

        assert!(matches!(codec.decode("markets:all:volume:desc", &cursor), Err(ApiError::InvalidCursor)));
        let mut edited = cursor.clone().into_bytes();
        edited[2] ^= 1;
        let edited = String::from_utf8(edited).unwrap();
        assert!(codec.decode("markets:all:createdAt:desc", &edited).is_err());
        assert!(codec.decode("markets:all:createdAt:desc", "garbage").is_err());
        let other = CursorCodec::new(b"another secret, also 32 bytes or more");
        assert!(other.decode("markets:all:createdAt:desc", &cursor).is_err());
    }
}
