//! GET /api/openapi.yaml and GET /api/docs: this API's OpenAPI document and a reference page that
//! renders it. Both are built into the binary; the page inlines Redoc (vendor/redoc), so a browser
//! fetches nothing but the document from this same API.

use lambda_http::Request;

use crate::error::ApiError;
use crate::http::{ApiResponse, route_key};

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

/// The runtime has already refused query parameters (neither route takes any) and other methods.
pub async fn api_docs(request: Request) -> Result<ApiResponse, ApiError> {
    match route_key(&request).as_str() {
        "GET /api/openapi.yaml" => Ok(ApiResponse::document("application/yaml", OPENAPI_YAML.to_owned())),
        "GET /api/docs" => {
            Ok(ApiResponse::document("text/html; charset=utf-8", [PAGE_HEAD, REDOC_JS, PAGE_TAIL].concat()))
        }
        other => Err(ApiError::NotFound(format!("no document for {other}"))),
    }
}
