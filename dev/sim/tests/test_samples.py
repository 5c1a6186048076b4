"""events/ (the sample events for `cargo lambda invoke` and `sam local invoke`) against what SAM's
translator makes of template.yaml: each file is named after a function's binary and is the event
that function's own event source sends (its HTTP API route, its SQS queue, its table's stream, its
schedule)."""
import json
import re

from sim.common import REPO
from sim.sam import translate
from sim.template import function_binary, load_template, parameter_values


def translated() -> dict:
    template = load_template(REPO / "template.yaml")
    return translate(template, parameter_values(template, {}))["Resources"]


def binary_of(resources: dict, text: str) -> str:
    """The binary of the function a translated reference (${X.Arn}, Ref X, GetAtt X.Arn) names."""
    logical_id = re.search(r"\$\{(\w+)\.Arn\}|'Ref': '(\w+)'|\['(\w+)', 'Arn'\]", text)
    lid = next(group for group in logical_id.groups() if group)
    return function_binary(lid, resources[lid])


def sources() -> dict[str, set]:
    """Each binary's event sources in the translation: ("route", "GET /path"), ("sqs",), ("stream",),
    ("schedule",)."""
    resources = translated()
    found: dict[str, set] = {}
    api = next(r for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Api")
    for path, methods in api["Properties"]["Body"]["paths"].items():
        for method, spec in methods.items():
            target = binary_of(resources, str(spec["x-amazon-apigateway-integration"]["uri"]))
            verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
            found.setdefault(target, set()).add(("route", f"{verb} {path}"))
    for resource in resources.values():
        if resource["Type"] == "AWS::Lambda::EventSourceMapping":
            kind = "stream" if "StreamArn" in str(resource["Properties"]["EventSourceArn"]) else "sqs"
            found.setdefault(binary_of(resources, str(resource["Properties"]["FunctionName"])), set()).add((kind,))
        if resource["Type"] == "AWS::Events::Rule":
            for target in resource["Properties"]["Targets"]:
                found.setdefault(binary_of(resources, str(target["Arn"])), set()).add(("schedule",))
    return found


def test_every_sample_event_is_its_functions_own_event_and_every_function_has_one():
    by_binary = sources()
    samples = sorted((REPO / "events").glob("*.json"))
    covered = set()
    for path in samples:
        event = json.loads(path.read_text(encoding="utf-8"))
        binary = next(b for b in sorted(by_binary, key=len, reverse=True) if path.stem.startswith(b))
        covered.add(binary)
        if "routeKey" in event:
            assert ("route", event["routeKey"]) in by_binary[binary], path.name
            assert event["requestContext"]["routeKey"] == event["routeKey"], path.name
            verb = event["routeKey"].split(" ")[0]
            assert event["version"] == "2.0" and verb in ("ANY", event["requestContext"]["http"]["method"]), path.name
        elif "Records" in event:
            kind = event["Records"][0]["eventSource"].removeprefix("aws:").replace("dynamodb", "stream")
            assert (kind,) in by_binary[binary], path.name
            assert all(r["eventSource"] == f"aws:{'dynamodb' if kind == 'stream' else kind}"
                       for r in event["Records"]), path.name
        else:
            assert ("schedule",) in by_binary[binary], path.name
            assert event["detail-type"] == "Scheduled Event", path.name
    assert covered == set(by_binary), f"functions without a sample event: {set(by_binary) - covered}"
