"""CORS as API Gateway applies an HttpApi's CorsConfiguration."""
from sim.cors import Cors, template_cors
from sim.template import Resolver

CONFIG = {"AllowOrigins": ["https://app.example", "http://*"], "AllowMethods": ["get", "POST"],
          "AllowHeaders": ["Authorization", "Content-Type"], "ExposeHeaders": ["ETag"], "MaxAge": 600}


def test_preflight_from_an_allowed_origin():
    cors = Cors.of(CONFIG)
    assert cors.preflight("https://app.example", "POST", "authorization") == [
        ("access-control-allow-origin", "https://app.example"), ("access-control-allow-methods", "GET,POST"),
        ("access-control-allow-headers", "authorization,content-type"), ("access-control-max-age", "600"),
        ("vary", "origin")]


def test_preflight_from_another_origin_gets_no_cors_headers():
    cors = Cors.of(CONFIG)
    assert cors.preflight("https://evil.example", "POST", "") == []
    assert cors.actual("https://evil.example") == []


def test_scheme_wildcard_and_case():
    cors = Cors.of(CONFIG)
    assert cors.allowed_origin("http://localhost:5173") == "http://localhost:5173"
    assert cors.allowed_origin("HTTPS://APP.EXAMPLE") == "HTTPS://APP.EXAMPLE"
    assert cors.allowed_origin("https://other.example") is None


def test_actual_responses_expose_headers():
    assert Cors.of(CONFIG).actual("https://app.example") == [
        ("access-control-allow-origin", "https://app.example"), ("access-control-expose-headers", "etag"),
        ("vary", "origin")]


def test_any_origin_and_wildcards():
    cors = Cors.of({"AllowOrigins": "*", "AllowMethods": "*", "AllowHeaders": "*"})
    assert cors.preflight("https://x.example", "DELETE", "x-a, x-b") == [
        ("access-control-allow-origin", "*"), ("access-control-allow-methods", "DELETE"),
        ("access-control-allow-headers", "x-a,x-b")]
    with_credentials = Cors.of({"AllowOrigins": ["*"], "AllowCredentials": True})
    assert with_credentials.actual("https://x.example") == [
        ("access-control-allow-origin", "https://x.example"), ("access-control-allow-credentials", "true"),
        ("vary", "origin")]


def test_template_cors_resolves_the_http_api_block():
    template = {"Parameters": {"Origins": {"Type": "CommaDelimitedList"}},
                "Resources": {"Api": {"Type": "AWS::Serverless::HttpApi", "Properties": {
                    "CorsConfiguration": {"AllowOrigins": {"Ref": "Origins"}, "AllowMethods": ["GET"]}}}}}
    cors = template_cors(Resolver(template, {"Origins": "https://a.example, https://b.example"}, "t"))
    assert cors.origins == ["https://a.example", "https://b.example"] and cors.methods == ["GET"]
    assert template_cors(Resolver({"Resources": {}}, {}, "t")) is None
    assert Cors.of(None) is None
