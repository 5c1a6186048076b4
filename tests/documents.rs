//! The API's own documents, GET /api/openapi.yaml and GET /api/docs, as a browser or a cache gets
//! them: gzipped when `Accept-Encoding` takes it (and the same bytes once unzipped), `Cache-Control`,
//! and an ETag per representation that a revalidation turns into a 304 with no body.

use std::io::Read;

use api_tests::Stack;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

const OPENAPI_YAML: &str = include_str!("../openapi.yaml");

struct Fetched {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Fetched {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().expect("a visible header"))
    }
}

/// The raw answer: this client never decodes a content coding itself.
async fn fetch(stack: &Stack, path: &str, headers: &[(&str, &str)]) -> Fetched {
    let mut request = reqwest::Client::new().get(format!("{}{path}", stack.url));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("an answer from the stack");
    let (status, headers) = (response.status(), response.headers().clone());
    Fetched { status, headers, body: response.bytes().await.expect("read body").to_vec() }
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut text).expect("a gzip body");
    text
}

#[tokio::test]
async fn documents_are_gzipped_when_accepted_and_cacheable() {
    let stack = Stack::start();
    for path in ["/api/openapi.yaml", "/api/docs"] {
        let plain = fetch(&stack, path, &[]).await;
        assert_eq!(plain.status, StatusCode::OK, "{path}");
        assert_eq!(plain.header("content-encoding"), None, "{path}: no Accept-Encoding, no coding");
        let zipped = fetch(&stack, path, &[("accept-encoding", "br;q=1, gzip;q=0.8")]).await;
        assert_eq!(zipped.status, StatusCode::OK, "{path}");
        assert_eq!(zipped.header("content-encoding"), Some("gzip"), "{path}");
        assert_eq!(gunzip(&zipped.body), plain.body, "{path}: the gzip is the document");
        assert!(
            zipped.body.len() * 3 < plain.body.len(),
            "{path}: {} bytes gzipped of {}",
            zipped.body.len(),
            plain.body.len()
        );
        for reply in [&plain, &zipped] {
            assert_eq!(reply.header("content-type"), plain.header("content-type"), "{path}");
            assert_eq!(reply.header("cache-control"), Some("public, max-age=300"), "{path}");
            assert_eq!(reply.header("vary"), Some("accept-encoding"), "{path}");
            assert!(reply.header("x-request-id").is_some(), "{path}");
        }
        assert_ne!(plain.header("etag"), zipped.header("etag"), "{path}: one ETag per representation");
        let refused = fetch(&stack, path, &[("accept-encoding", "gzip;q=0, br")]).await;
        assert_eq!((refused.header("content-encoding"), &refused.body), (None, &plain.body), "{path}: gzip;q=0");
        println!("{path}: {} bytes, {} gzipped", plain.body.len(), zipped.body.len());
    }
    let spec = fetch(&stack, "/api/openapi.yaml", &[]).await;
    assert_eq!(spec.body, OPENAPI_YAML.as_bytes(), "the served document is openapi.yaml");
}

#[tokio::test]
async fn a_revalidation_with_the_current_etag_is_a_304_with_no_body() {
    let stack = Stack::start();
    for path in ["/api/openapi.yaml", "/api/docs"] {
        for accept_encoding in ["identity", "gzip"] {
            let first = fetch(&stack, path, &[("accept-encoding", accept_encoding)]).await;
            let etag = first.header("etag").expect("an ETag").to_owned();
            let again = fetch(&stack, path, &[("accept-encoding", accept_encoding), ("if-none-match", &etag)]).await;
            assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path} {accept_encoding}");
            assert!(again.body.is_empty(), "{path} {accept_encoding}: a 304 has no body");
            assert_eq!(again.header("etag"), Some(etag.as_str()), "{path} {accept_encoding}");
            assert_eq!(again.header("cache-control"), Some("public, max-age=300"), "{path} {accept_encoding}");
            assert!(again.header("x-request-id").is_some(), "{path} {accept_encoding}");
            // A list, weak or not, holding the tag is a hit too.
            let listed = format!("\"other\", W/{etag}");
            let listed = fetch(&stack, path, &[("accept-encoding", accept_encoding), ("if-none-match", &listed)]).await;
            assert_eq!(listed.status, StatusCode::NOT_MODIFIED, "{path} {accept_encoding}: in a list");
        }
        // Another representation's tag, or a stale one, is a full answer.
        let gzip_etag = fetch(&stack, path, &[("accept-encoding", "gzip")]).await.header("etag").unwrap().to_owned();
        let plain = fetch(&stack, path, &[("if-none-match", &gzip_etag)]).await;
        assert_eq!((plain.status, plain.header("content-encoding")), (StatusCode::OK, None), "{path}");
        assert!(!plain.body.is_empty());
        let stale = fetch(&stack, path, &[("accept-encoding", "gzip"), ("if-none-match", "\"0123\"")]).await;
        assert_eq!((stale.status, stale.header("content-encoding")), (StatusCode::OK, Some("gzip")), "{path}");
    }
}
