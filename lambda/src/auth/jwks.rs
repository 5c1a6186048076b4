//! The signing keys of an external identity provider (e.g. Cognito), from its JWKS URL: fetched at
//! cold start, fetched again when they are older than their TTL or when a token names a key id we
//! do not know (the provider rotated its keys), at most once per `min_refetch`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};

use crate::config::JwksSettings;
use markets_core::error::BoxError;

/// A fetch must not hold a cold start or a request for long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A real key set is a few KiB (Cognito's: 2 keys, ~1 KiB); anything much larger is not one.
const MAX_JWKS_BYTES: usize = 64 * 1024;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<bytes::Bytes>>;

/// The provider's RSA keys by key id, cached.
pub struct JwksKeys {
    settings: JwksSettings,
    client: HttpsClient,
    cache: Mutex<Cached>,
    /// One fetch at a time: concurrent requests with a new `kid` wait for the same fetch.
    fetching: tokio::sync::Mutex<()>,
}

struct Cached {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Instant,
    attempted_at: Instant,
}

impl JwksKeys {
    /// Fetches the key set once: a cold start fails on a wrong URL rather than every request.
    pub async fn load(settings: JwksSettings) -> Result<Self, BoxError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(https);
        let keys = fetch(&client, &settings.url).await.map_err(|e| format!("cannot load JWT_JWKS_URL: {e}"))?;
        let now = Instant::now();
        let cache = Mutex::new(Cached { keys, fetched_at: now, attempted_at: now });
        Ok(Self { settings, client, cache, fetching: tokio::sync::Mutex::new(()) })
    }

    /// The key with this id; fetches the set again first when it is stale or lacks the id (and
    /// the last fetch is at least `min_refetch` old).
    pub async fn key(&self, kid: &str) -> Option<DecodingKey> {
        if let Some(key) = self.fresh_key(kid) {
            return Some(key);
        }
        let _one_fetch = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(key) = self.fresh_key(kid) {
            return Some(key);
        }
        if self.lock().attempted_at.elapsed() >= self.settings.min_refetch {
            self.lock().attempted_at = Instant::now();
            match fetch(&self.client, &self.settings.url).await {
                Ok(keys) => {
                    tracing::info!(keys = keys.len(), "JWKS fetched again");
                    let mut cache = self.lock();
                    (cache.keys, cache.fetched_at) = (keys, Instant::now());
                }
                // The keys we have stay in use until the provider answers again.
                Err(error) => tracing::warn!(error = %error, "JWKS fetch failed; keeping the keys we have"),
            }
        }
        self.lock().keys.get(kid).cloned()
    }

    fn fresh_key(&self, kid: &str) -> Option<DecodingKey> {
        let cache = self.lock();
        if cache.fetched_at.elapsed() >= self.settings.cache_ttl {
            return None;
        }
        cache.keys.get(kid).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Downloads the key set (bounded in time and size) and keeps its RSA keys that have a `kid`.
async fn fetch(client: &HttpsClient, url: &str) -> Result<HashMap<String, DecodingKey>, BoxError> {
    let response = tokio::time::timeout(FETCH_TIMEOUT, client.get(url.parse()?)).await??;
    if !response.status().is_success() {
        return Err(format!("JWKS URL answered {}", response.status()).into());
    }
    let body = Limited::new(response.into_body(), MAX_JWKS_BYTES);
    let body = tokio::time::timeout(FETCH_TIMEOUT, body.collect()).await?.map_err(|e| format!("JWKS body: {e}"))?;
    let jwks: JwkSet = serde_json::from_slice(&body.to_bytes())?;
    Ok(jwks
        .keys
        .iter()
        .filter(|jwk| matches!(jwk.algorithm, AlgorithmParameters::RSA(_)))
        .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
        .collect())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves `bodies[n]` to the n-th request (the last one after that), counting requests.
    pub(in crate::auth) async fn jwks_server(bodies: Vec<String>) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
        let served = Arc::new(AtomicUsize::new(0));
        let count = served.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 1024];
                let _ = socket.read(&mut request).await;
                let n = count.fetch_add(1, Ordering::SeqCst);
                let body = &bodies[n.min(bodies.len() - 1)];
                let response =
                    format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        (url, served)
    }

    /// A key set with the test RSA key (see jwt.rs's tests) under this key id.
    pub(in crate::auth) fn key_set(kid: &str) -> String {
        serde_json::json!({"keys": [{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
            "n": include_str!("test-rsa-key.n.txt").trim(), "e": "AQAB"}]})
        .to_string()
    }

    fn settings(url: String, min_refetch: Duration) -> JwksSettings {
        JwksSettings { url, cache_ttl: Duration::from_secs(3600), min_refetch }
    }

    #[tokio::test]
    async fn an_unknown_kid_fetches_the_rotated_keys_at_most_once_per_interval() {
        let (url, served) = jwks_server(vec![key_set("k1"), key_set("k2")]).await;
        let keys = JwksKeys::load(settings(url, Duration::ZERO)).await.unwrap();
        assert!(keys.key("k1").await.is_some());
        assert_eq!(served.load(Ordering::SeqCst), 1, "a known kid is served from the cache");
        assert!(keys.key("k2").await.is_some(), "the rotated key is fetched");
        assert!(keys.key("k1").await.is_none(), "the retired key is gone");

        let (url, served) = jwks_server(vec![key_set("k1"), key_set("k2")]).await;
        let keys = JwksKeys::load(settings(url, Duration::from_secs(3600))).await.unwrap();
        for _ in 0..5 {
            assert!(keys.key("forged").await.is_none());
        }
        assert_eq!(served.load(Ordering::SeqCst), 1, "unknown kids do not refetch within min_refetch");
    }

    #[tokio::test]
    async fn refuses_oversized_or_unreachable_key_sets() {
        let huge = format!(r#"{{"keys":[],"padding":"{}"}}"#, "x".repeat(MAX_JWKS_BYTES));
        let (url, _) = jwks_server(vec![huge]).await;
        assert!(JwksKeys::load(settings(url, Duration::ZERO)).await.is_err());
        assert!(JwksKeys::load(settings("http://127.0.0.1:1/nothing".into(), Duration::ZERO)).await.is_err());
    }
}
