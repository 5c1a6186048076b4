"""Each function's IAM role, as SAM's translator makes it from the template, in moto; and the
credentials each function runs with: its role's, from STS, as Lambda gives them. dev/moto_server.py
then refuses any call of a function that its role's policies do not allow."""
from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from .common import ACCOUNT, LAMBDA_FUNCTION, MANAGED_POLICY, StartupError, resource_name
from .template import Resolver, function_binary, referenced_ids

ROLE = "AWS::IAM::Role"


def without_action(policies: list[dict], action: str, role: str) -> list[dict]:
    """The inline policies less one action (for showing that a test needs it): removed from every
    statement that names it, and a statement left with no action dropped."""
    removed = False
    for policy in policies:
        statements = policy["PolicyDocument"]["Statement"]
        for statement in statements:
            actions = statement.get("Action")
            kept = [a for a in (actions if isinstance(actions, list) else [actions]) if a.lower() != action.lower()]
            if actions is not None and kept != (actions if isinstance(actions, list) else [actions]):
                statement["Action"], removed = kept, True
        policy["PolicyDocument"]["Statement"] = [s for s in statements if s.get("Action") != []]
    if not removed:
        raise StartupError(f"--without-permission: role {role} has no statement granting {action}")
    return policies


def ignore_existing(call: Any, **kwargs: Any) -> None:
    """Create something that a stack on the same prefix may have created already."""
    try:
        call(**kwargs)
    except ClientError as e:
        if e.response["Error"]["Code"] != "EntityAlreadyExists":
            raise


def create_roles(iam: Any, sts: Any, res: Resolver, cfn: dict, without: dict[str, str]) -> dict[str, dict[str, str]]:
    """Create the template's managed policies and each function's role (inline policies, managed
    ones attached) in moto, named <prefix>-<LogicalId>; return each function's (by logical id)
    credentials for its role. `without` maps a function's binary to an action its role loses."""
    resources = cfn.get("Resources") or {}
    for lid, resource in resources.items():
        if resource.get("Type") == MANAGED_POLICY and res.exists(lid):
            document = res.resolve(resource["Properties"]["PolicyDocument"])
            ignore_existing(iam.create_policy, PolicyName=resource_name(res.prefix, lid),
                            PolicyDocument=json.dumps(document))
    credentials = {}
    for lid, resource in resources.items():
        if resource.get("Type") != LAMBDA_FUNCTION:
            continue
        role_lid = next(iter(referenced_ids(resource["Properties"].get("Role"))), "")
        if resources.get(role_lid, {}).get("Type") != ROLE:
            raise StartupError(f"{lid}: its Role is not a role of the template (the local stack makes only those)")
        props = res.resolve(resources[role_lid]["Properties"])
        name, binary = resource_name(res.prefix, role_lid), function_binary(lid, resource)
        policies = [p for p in props.get("Policies") or [] if p]  # an !If's AWS::NoValue resolves to None
        tags = [{"Key": "local:logical-id", "Value": role_lid}, {"Key": "local:prefix", "Value": res.prefix}]
        if binary in without:
            policies = without_action(policies, without[binary], role_lid)
            tags.append({"Key": "local:without-permission", "Value": without[binary]})
        ignore_existing(iam.create_role, RoleName=name, Tags=tags,
                        AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]))
        for policy in policies:
            iam.put_role_policy(RoleName=name, PolicyName=policy["PolicyName"],
                                PolicyDocument=json.dumps({"Version": "2012-10-17", **policy["PolicyDocument"]}))
        for arn in props.get("ManagedPolicyArns") or []:
            if arn:
                iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        given = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}", RoleSessionName=binary)["Credentials"]
        credentials[lid] = {"AWS_ACCESS_KEY_ID": given["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": given["SecretAccessKey"],
                            "AWS_SESSION_TOKEN": given["SessionToken"]}
    return credentials
