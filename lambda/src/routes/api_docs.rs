//! GET /api/openapi.yaml and GET /api/docs: this API's OpenAPI document and a reference page that
//! renders it. Both are built into the binary; the page inlines Redoc (vendor/redoc), so a browser
//! fetches nothing but the document from this same API. Each is gzipped once per cold start (the
//! page is 1.1 MB), sent gzipped to a caller whose `Accept-Encoding` takes it, and revalidated by
//! its ETag (a 304 with no body).

use std::io::Write;
use std::sync::LazyLock;

use flate2::Compression;
use flate2::write::GzEncoder;
use lambda_http::Request;
use lambda_http::http::{HeaderValue, StatusCode};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::http::{ApiResponse, if_none_match_hits, route_key};

/// The contract, `openapi.yaml` at the repository root.
pub const OPENAPI_YAML: &str = include_str!("../../../openapi.yaml");

/// Redoc's standalone bundle, inlined into the page.
pub const REDOC_JS: &str = include_str!("../../../vendor/redoc/redoc.standalone.js");

/// The page around the bundle. Redoc loads `openapi.yaml` relative to the page, which keeps a
/// named stage (`/prod/api/docs` reads `/prod/api/openapi.yaml`).
pub const PAGE_HEAD: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Markets API reference</title>
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<div id="redoc"></div>
<script>
"#;
pub const PAGE_TAIL: &str = r#"</script>
<script>
Redoc.init("openapi.yaml", { expandResponses: "200,201" }, document.getElementById("redoc"));
</script>
</body>
</html>
"#;

/// How long a cache may use a document without asking again; it changes only with a deployment.
const CACHE_CONTROL: &str = "public, max-age=300";

/// A document as served: its text and its gzip, each with its own strong ETag (two representations
/// of one resource), both made once.
struct Document {
    content_type: &'static str,
    text: String,
    text_etag: String,
    gzip: Vec<u8>,
    gzip_etag: String,
}

impl Document {
    fn new(content_type: &'static str, text: String) -> Document {
        let digest = Sha256::digest(text.as_bytes());
        let tag: String = digest[..12].iter().map(|byte| format!("{byte:02x}")).collect();
        let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(text.as_bytes()).expect("gzip into memory");
        let gzip = encoder.finish().expect("gzip into memory");
        Document { content_type, text, text_etag: format!("\"{tag}\""), gzip, gzip_etag: format!("\"{tag}-gzip\"") }
    }

    /// The representation the request takes (gzip when accepted), or a 304 when the caller has it.
    fn respond(&self, request: &Request) -> ApiResponse {
        let gzip = accepts_gzip(request);
        let etag = if gzip { &self.gzip_etag } else { &self.text_etag };
        let response = if if_none_match_hits(request, etag) {
            ApiResponse::empty(StatusCode::NOT_MODIFIED)
        } else if gzip {
            ApiResponse::document(self.content_type, self.gzip.clone())
                .header("content-encoding", HeaderValue::from_static("gzip"))
        } else {
            ApiResponse::document(self.content_type, self.text.clone())
        };
        response
            .text_header("etag", etag)
            .header("cache-control", HeaderValue::from_static(CACHE_CONTROL))
            .header("vary", HeaderValue::from_static("accept-encoding"))
    }
}

static OPENAPI: LazyLock<Document> = LazyLock::new(|| Document::new("application/yaml", OPENAPI_YAML.to_owned()));
static DOCS_PAGE: LazyLock<Document> =
    LazyLock::new(|| Document::new("text/html; charset=utf-8", [PAGE_HEAD, REDOC_JS, PAGE_TAIL].concat()));

/// Whether `Accept-Encoding` takes gzip (RFC 9110 12.5.3): a `gzip` entry with a non-zero weight,
/// or else a `*` with one. An unreadable header or weight takes nothing but the identity.
fn accepts_gzip(request: &Request) -> bool {
    let mut gzip = None;
    let mut any = None;
    let values = request.headers().get_all("accept-encoding");
    for entry in values.iter().filter_map(|value| value.to_str().ok()).flat_map(|value| value.split(',')) {
        let mut parts = entry.split(';').map(str::trim);
        let coding = parts.next().unwrap_or_default();
        let weight = parts
            .find_map(|parameter| parameter.strip_prefix("q=").or_else(|| parameter.strip_prefix("Q=")))
            .map_or(Some(1.0), |weight| weight.parse::<f32>().ok().filter(|weight| (0.0..=1.0).contains(weight)));
        let accepted = weight.is_some_and(|weight| weight > 0.0);
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(accepted);
        } else if coding == "*" {
            any = Some(accepted);
        }
    }
    gzip.or(any).unwrap_or(false)
}

/// The runtime has already refused query parameters (neither route takes any) and other methods.
pub async fn api_docs(request: Request) -> Result<ApiResponse, ApiError> {
    match route_key(&request).as_str() {
        "GET /api/openapi.yaml" => Ok(OPENAPI.respond(&request)),
        "GET /api/docs" => Ok(DOCS_PAGE.respond(&request)),
        other => Err(ApiError::NotFound(format!("no document for {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http;

    fn request(accept_encoding: &[&str]) -> Request {
        let mut builder = http::Request::builder();
        for value in accept_encoding {
            builder = builder.header("accept-encoding", *value);
        }
        builder.body(lambda_http::Body::Empty).unwrap()
    }

    #[test]
    fn gzip_is_taken_when_accept_encoding_weighs_it_above_zero() {
        for taken in
            [&["gzip"][..], &["br, gzip;q=0.5"], &["deflate", "GZIP"], &["*"], &["br;q=1, *;q=0.1"], &["x-gzip"]]
        {
            assert!(accepts_gzip(&request(taken)), "{taken:?}");
        }
        for refused in [
            &[][..],
            &["identity"],
            &["br"],
            &["gzip;q=0"],
            &["gzip;q=0.000"],
            &["*, gzip;q=0"],
            &["gzip;q=x"],
            &["*;q=0"],
        ] {
            assert!(!accepts_gzip(&request(refused)), "{refused:?}");
        }
    }

    #[test]
    fn each_representation_has_its_own_etag_and_the_gzip_is_the_text() {
        let document = Document::new("text/plain", "some text ".repeat(1000));
        assert_ne!(document.text_etag, document.gzip_etag);
        assert!(document.gzip.len() < document.text.len() / 10);
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&document.gzip[..]), &mut text).unwrap();
        assert_eq!(text, document.text);
    }
}
