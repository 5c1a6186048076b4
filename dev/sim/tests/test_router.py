"""Route selection as API Gateway HTTP APIs do it, from a template's HttpApi events."""
import yaml

from sim.common import REPO
from sim.functions import discover_functions
from sim.router import Router
from sim.template import CfnLoader, Resolver, load_template, parameter_values


def router(events: dict[str, str], stage: str = "$default") -> Router:
    """A router over one function per event: {"GetMarket": "GET /api/markets/{id}", ...}."""
    resources = {"Api": {"Type": "AWS::Serverless::HttpApi", "Properties": {"StageName": stage}}}
    for name, key in events.items():
        method, _, path = key.partition(" ")
        properties = {"ApiId": {"Ref": "Api"}, **({"Path": path, "Method": method} if path else {})}
        resources[name] = {"Type": "AWS::Serverless::Function",
                           "Properties": {"Events": {"Http": {"Type": "HttpApi", "Properties": properties}}}}
    template = {"Globals": {"Function": {"Runtime": "provided.al2023", "Handler": "bootstrap"}}, "Resources": resources}
    functions = discover_functions(template, Resolver(template, {}, "t"))
    return Router([route for fn in functions for route in fn.routes])


def chosen(r: Router, method: str, path: str) -> tuple[str, dict] | list[str]:
    match = r.resolve(method, path)
    return match if isinstance(match, list) else (match[0].function.logical_id, match[1])


ROUTES = {"Search": "GET /api/markets/search", "Get": "GET /api/markets/{id}",
          "Positions": "GET /api/markets/{id}/positions", "Update": "PATCH /api/markets/{id}",
          "Fallback": "ANY /{proxy+}"}


def test_literal_beats_param_beats_proxy():
    r = router(ROUTES)
    assert chosen(r, "GET", "/api/markets/search") == ("Search", {})
    assert chosen(r, "GET", "/api/markets/m-1") == ("Get", {"id": "m-1"})
    assert chosen(r, "GET", "/api/markets/m-1/positions") == ("Positions", {"id": "m-1"})
    assert chosen(r, "GET", "/api/other/thing") == ("Fallback", {"proxy": "api/other/thing"})


def test_path_parameters_are_url_decoded():
    assert chosen(router(ROUTES), "GET", "/api/markets/a%20b") == ("Get", {"id": "a b"})


def test_method_any_and_allowed_methods():
    r = router({"Get": "GET /items/{id}", "Patch": "PATCH /items/{id}", "Any": "ANY /things"})
    assert chosen(r, "DELETE", "/things") == ("Any", {})
    assert chosen(r, "FOO", "/things") == ("Any", {})
    assert chosen(r, "DELETE", "/items/1") == ["GET", "PATCH"]  # the gateway's 405 and its Allow
    assert chosen(r, "GET", "/nothing") == []                    # the gateway's 404
    assert chosen(r, "GET", "/items/") == []                     # an empty {param} matches nothing


def test_a_method_beats_any_on_the_same_path():
    r = router({"Any": "ANY /things", "Get": "GET /things"})
    assert chosen(r, "GET", "/things") == ("Get", {})
    assert chosen(r, "POST", "/things") == ("Any", {})


def test_proxy_needs_at_least_one_segment():
    r = router({"Proxy": "ANY /files/{path+}"})
    assert chosen(r, "GET", "/files/a/b%2Fc") == ("Proxy", {"path": "a/b/c"})
    assert chosen(r, "GET", "/files/") == []


def test_default_route_catches_what_nothing_else_matches():
    r = router({"Get": "GET /things", "Default": "$default"})
    assert chosen(r, "GET", "/things") == ("Get", {})
    assert chosen(r, "POST", "/things") == ("Default", {})
    assert chosen(r, "GET", "/anything/else") == ("Default", {})
    assert r.routes[-1].key == "$default"


def test_a_named_stage_prefixes_every_path():
    r = router({"Get": "GET /api/markets/{id}"}, stage="v1")
    assert chosen(r, "GET", "/v1/api/markets/m-1") == ("Get", {"id": "m-1"})
    assert chosen(r, "GET", "/api/markets/m-1") == []
    assert r.routes[0].stage == "v1" and r.routes[0].key == "GET /api/markets/{id}"


def test_the_repository_template():
    template = load_template(REPO / "template.yaml")
    resolver = Resolver(template, parameter_values(template, {}), "t")
    functions = {fn.logical_id: fn for fn in discover_functions(template, resolver)}
    r = Router([route for fn in functions.values() for route in fn.routes])
    assert r.resolve("GET", "/api/markets/search")[0].function.binary == "search-markets"
    assert r.resolve("GET", "/api/markets/x")[0].function.binary == "get-market"
    assert r.resolve("GET", "/nope")[0].function.binary == "route-not-found"
    sqs = [s for fn in functions.values() for s in fn.sqs]
    assert [(s.queue, s.batch_size, s.report_failures) for s in sqs] == [("IndexQueue", 10, True)]
    assert [fn.schedules for fn in functions.values() if fn.schedules] == [[60.0]]


def test_loader_reads_yaml_events():
    template = yaml.load("Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n"
                         "      Runtime: provided.al2023\n      Handler: bootstrap\n"
                         "      Events: { E: { Type: HttpApi, Properties: { Path: /a, Method: get } } }\n",
                         Loader=CfnLoader)
    r = Router(discover_functions(template, Resolver(template, {}, "t"))[0].routes)
    assert chosen(r, "GET", "/a") == ("F", {})


def test_settings_come_from_sams_translation_with_conditions_resolved():
    template = load_template(REPO / "template.yaml")
    by_binary = {fn.binary: fn for fn in discover_functions(template, Resolver(template, parameter_values(template, {}), "t"))}
    assert (by_binary["outbox-sweeper"].timeout, by_binary["outbox-sweeper"].reserved) == (30.0, 1)
    assert (by_binary["get-market"].memory, by_binary["get-market"].reserved) == (256, 20)
    assert by_binary["get-market"].env["POSITIONS_TABLE"] == {"Ref": "PositionsTable"}  # Globals' variables
    unreserved = parameter_values(template, {"ReadRouteConcurrency": "0"})
    by_binary = {fn.binary: fn for fn in discover_functions(template, Resolver(template, unreserved, "t"))}
    assert by_binary["get-market"].reserved is None and by_binary["create-market"].reserved == 10


def test_each_route_has_its_integration_timeout_and_the_stages_throttling():
    template = yaml.load("Resources:\n  Api:\n    Type: AWS::Serverless::HttpApi\n    Properties:\n"
                         "      DefaultRouteSettings: { ThrottlingBurstLimit: 2, ThrottlingRateLimit: 1 }\n"
                         "      RouteSettings: { 'GET /b': { ThrottlingBurstLimit: 7 } }\n"
                         "  F:\n    Type: AWS::Serverless::Function\n    Properties:\n"
                         "      Runtime: provided.al2023\n      Handler: bootstrap\n      Events:\n"
                         "        A: { Type: HttpApi, Properties: { ApiId: !Ref Api, Path: /a, Method: get } }\n"
                         "        B: { Type: HttpApi, Properties: { ApiId: !Ref Api, Path: /b, Method: get,"
                         " TimeoutInMillis: 1500 } }\n", Loader=CfnLoader)
    routes = {r.path: r for r in discover_functions(template, Resolver(template, {}, "t"))[0].routes}
    assert (routes["/a"].timeout, routes["/b"].timeout) == (30.0, 1.5)  # an HTTP API's default: 30 s
    assert (routes["/a"].throttle.burst, routes["/a"].throttle.rate) == (2, 1.0)
    assert (routes["/b"].throttle.burst, routes["/b"].throttle.rate) == (7, 1.0)
    assert [routes["/a"].throttle.take() for _ in range(3)] == [True, True, False]


def test_the_templates_routes_take_the_stage_throttling_parameters():
    template = load_template(REPO / "template.yaml")
    params = parameter_values(template, {"ApiThrottlingBurstLimit": "3", "ApiThrottlingRateLimit": "2"})
    routes = [r for fn in discover_functions(template, Resolver(template, params, "t")) for r in fn.routes]
    assert {(r.throttle.burst, r.throttle.rate, r.timeout) for r in routes} == {(3, 2.0, 30.0)}
