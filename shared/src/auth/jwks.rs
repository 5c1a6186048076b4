//! The signing keys of an external identity provider (e.g. Cognito), from its JWKS URL, fetched
//! once per cold start.

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::JwkSet;

use crate::error::BoxError;

/// A cold start must not hang on a slow identity provider.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Downloads and parses the key set at `url` (https, or http for local tests).
pub async fn fetch_jwks(url: &str) -> Result<JwkSet, BoxError> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let response = tokio::time::timeout(FETCH_TIMEOUT, client.get(url.parse()?)).await??;
    if !response.status().is_success() {
        return Err(format!("JWKS URL answered {}", response.status()).into());
    }
    let body = tokio::time::timeout(FETCH_TIMEOUT, response.into_body().collect()).await??.to_bytes();
    Ok(serde_json::from_slice(&body)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn fetches_a_key_set() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await.unwrap();
            let body = r#"{"keys":[{"kty":"RSA","kid":"k1","alg":"RS256","use":"sig","n":"AQAB","e":"AQAB"}]}"#;
            let response =
                format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            socket.write_all(response.as_bytes()).await.unwrap();
        });
        let keys = fetch_jwks(&url).await.unwrap();
        assert_eq!(keys.keys[0].common.key_id.as_deref(), Some("k1"));
        assert!(fetch_jwks("http://127.0.0.1:1/nothing").await.is_err());
    }
}
