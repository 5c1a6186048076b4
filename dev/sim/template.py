"""The template: CloudFormation YAML with its short tags, parameter values, and the Resolver that
evaluates intrinsics (Ref, Fn::GetAtt, Fn::Sub, Fn::If and conditions...) against local resources."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any, Callable

import yaml

from .common import (ACCOUNT, FUNCTION, HTTP_API, MANAGED_POLICY, QUEUE, REGION, SECRET, TABLE, VECTOR_BUCKET, VECTOR_INDEX,
                     StartupError, log, resource_name)

PSEUDO = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
          "AWS::StackName": "local", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None}


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short tags (!Ref, !GetAtt, !Sub...) as long form."""


def _cfn_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.load(f, Loader=CfnLoader) or {}
    except OSError as e:
        raise StartupError(f"cannot read template {path}: {e.strerror}") from e


def env_str(value: Any) -> str:
    """Stringify a value the way CloudFormation does for env vars and queue attributes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def parameter_values(template: dict, given: dict[str, str]) -> dict[str, str]:
    """Template parameter values: --param, else Default."""
    specs = template.get("Parameters") or {}
    for name in given.keys() - specs.keys():
        log(f"warning: --param {name} is not a template parameter")
    values = {}
    for name, spec in specs.items():
        if name in given:
            value = given[name]
        elif "Default" in spec:
            value = env_str(spec["Default"])
        else:
            log(f"warning: parameter {name} has no value (pass --param {name}=...); using ''")
            value = ""
        if len(value) < int(spec.get("MinLength", 0)):
            raise StartupError(f"parameter {name} must be at least {spec['MinLength']} characters")
        if "AllowedValues" in spec and value not in map(env_str, spec["AllowedValues"]):
            raise StartupError(f"parameter {name} must be one of {spec['AllowedValues']}")
        values[name] = value
    return values


def referenced_ids(value: Any) -> set[str]:
    """Logical ids referenced anywhere in value (Ref, GetAtt, ${X} / ${X.Attr} in Sub)."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= referenced_ids(item)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else str(arg).split(".")[0])
            elif key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!][^}]*)\}", text)}
            found |= referenced_ids(arg)
    return found


class Resolver:
    """Evaluates CloudFormation intrinsics against the local resources."""

    def __init__(self, template: dict, params: dict[str, str], prefix: str):
        self.template = template
        self.translated: dict | None = None  # SAM's translation of it (sam.translation)
        self.resources: dict[str, dict] = template.get("Resources") or {}
        self.conditions: dict[str, Any] = template.get("Conditions") or {}
        self.params, self.prefix = params, prefix
        self.list_params = {name for name, spec in (template.get("Parameters") or {}).items()
                            if spec.get("Type") == "CommaDelimitedList"}
        self.queue_urls: dict[str, str] = {}   # filled in as queues are created
        self.secret_arns: dict[str, str] = {}  # and secrets
        self.stream_arns: dict[str, str] = {}  # and tables' streams

    def exists(self, logical_id: str) -> bool:
        """Whether the resource's Condition (if any) holds."""
        condition = self.resources[logical_id].get("Condition")
        return condition is None or self.condition(self.conditions[condition])

    def local_name(self, logical_id: str) -> str:
        """The resource's name here: a vector bucket's or index's own name if the template gives one,
        else resource_name (with .fifo for a FIFO queue)."""
        props = self.resources[logical_id].get("Properties") or {}
        kind = self.resources[logical_id].get("Type")
        if kind in (VECTOR_BUCKET, VECTOR_INDEX):
            given = props.get("VectorBucketName" if kind == VECTOR_BUCKET else "IndexName")
            return given or resource_name(self.prefix, logical_id, kind)
        fifo = kind == QUEUE and props.get("FifoQueue") in (True, "true")
        return resource_name(self.prefix, logical_id, kind) + (".fifo" if fifo else "")

    def vector_arn(self, logical_id: str) -> str:
        """The ARN of a vector bucket, or of an index (its bucket's ARN + /index/<name>)."""
        resource = self.resources[logical_id]
        if resource.get("Type") == VECTOR_BUCKET:
            return f"arn:aws:s3vectors:{REGION}:{ACCOUNT}:bucket/{self.local_name(logical_id)}"
        bucket = self.index_bucket_arn(self.resolve(resource.get("Properties") or {}))
        return f"{bucket}/index/{self.local_name(logical_id)}"

    @staticmethod
    def index_bucket_arn(props: dict) -> str:
        """The ARN of an index's bucket, from the index's (resolved) properties."""
        name = props.get("VectorBucketName")
        return props.get("VectorBucketArn") or f"arn:aws:s3vectors:{REGION}:{ACCOUNT}:bucket/{name}"

    def queue_arn(self, logical_id: str) -> str:
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self.local_name(logical_id)}"

    def ref(self, name: str) -> Any:
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.list_params:
            return [item.strip() for item in self.params[name].split(",")]
        if name in self.params:
            return self.params[name]
        kind = self.resources.get(name, {}).get("Type")
        if kind == QUEUE:
            return self.queue_urls.get(name, self.local_name(name))
        if kind == TABLE:
            return self.local_name(name)
        if kind == SECRET:
            return self.secret_arns.get(name, self.local_name(name))
        if kind in (VECTOR_BUCKET, VECTOR_INDEX):
            return self.vector_arn(name)
        if kind == FUNCTION:
            return function_binary(name, self.resources[name])
        if kind == MANAGED_POLICY:
            return f"arn:aws:iam::{ACCOUNT}:policy/{resource_name(self.prefix, name)}"
        return "local" if kind == HTTP_API else name

    def get_att(self, name: str, attr: str) -> str:
        kind = self.resources.get(name, {}).get("Type")
        if kind == QUEUE:
            return {"Arn": self.queue_arn(name), "QueueName": self.local_name(name)}.get(
                attr, self.queue_urls.get(name, ""))
        if kind == TABLE:
            arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{self.local_name(name)}"
            return self.stream_arns.get(name, arn + "/stream/local") if attr == "StreamArn" else arn
        if kind in (VECTOR_BUCKET, VECTOR_INDEX):
            return "2025-01-01T00:00:00Z" if attr == "CreationTime" else self.vector_arn(name)
        if kind == FUNCTION:
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.ref(name)}"
        return f"{name}.{attr}"

    def condition(self, value: Any) -> bool:
        value = self.resolve(value)
        return bool(value) and value not in ("false", "False")

    def sub(self, arg: Any) -> str:
        text, extra = (arg[0], self.resolve(arg[1])) if isinstance(arg, list) else (arg, {})

        def one(m: re.Match) -> str:
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} escapes
            if name in extra:
                return env_str(extra[name])
            if "." in name and name not in PSEUDO:
                return self.get_att(*name.split(".", 1))
            return env_str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    INTRINSICS: dict[str, Callable[["Resolver", Any], Any]] = {
        "Ref": lambda self, a: self.ref(a),
        "Fn::GetAtt": lambda self, a: self.get_att(*(a if isinstance(a, list) else a.split(".", 1))),
        "Fn::Sub": lambda self, a: self.sub(a),
        "Fn::Join": lambda self, a: a[0].join(env_str(x) for x in self.resolve(a[1]) if x is not None),
        "Fn::Select": lambda self, a: self.resolve(a[1])[int(self.resolve(a[0]))],
        "Fn::Split": lambda self, a: self.resolve(a[1]).split(a[0]),
        "Fn::Base64": lambda self, a: base64.b64encode(env_str(self.resolve(a)).encode()).decode(),
        "Fn::If": lambda self, a: self.resolve(a[1] if self.condition(self.conditions[a[0]]) else a[2]),
        "Fn::Equals": lambda self, a: env_str(self.resolve(a[0])) == env_str(self.resolve(a[1])),
        "Fn::Not": lambda self, a: not self.condition(a[0]),
        "Fn::And": lambda self, a: all(self.condition(c) for c in a),
        "Fn::Or": lambda self, a: any(self.condition(c) for c in a),
        "Condition": lambda self, a: self.condition(self.conditions[a]),
    }

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key in self.INTRINSICS:
                return self.INTRINSICS[key](self, arg)
        return {k: self.resolve(v) for k, v in value.items()}


def function_binary(logical_id: str, resource: dict) -> str:
    binary = ((resource.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
    return binary or logical_id
