"""The template as CloudFormation gets it: SAM's own translator (aws-sam-translator, which `sam build`
and `sam deploy` run) turns each AWS::Serverless::Function into an AWS::Lambda::Function and the
AWS::IAM::Role it runs as, with policy templates expanded and the managed policies SAM adds."""
from __future__ import annotations

import copy
import functools
import json

import boto3
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from .common import FUNCTION, REGION, StartupError
from .template import PSEUDO, Resolver


@functools.cache
def aws_managed_policy_arns() -> dict[str, str]:
    """Names of AWS managed policies to their ARNs, from the copy of them moto ships (no network, no
    credentials: SAM's own loader asks IAM)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    return {name: f"arn:aws:iam::aws:policy{data['Path']}{name}"
            for name, data in json.loads(aws_managed_policies_data).items()}


def translate(template: dict, params: dict[str, str]) -> dict:
    """The CloudFormation template SAM makes of `template` for these parameter values (conditions
    such as `!If` stay in it, for the Resolver to evaluate)."""
    fragment = copy.deepcopy(template)
    for resource in (fragment.get("Resources") or {}).values():
        if resource.get("Type") == FUNCTION:
            # As `sam validate` does: the code is local, and the translator only wants an S3 location.
            resource.setdefault("Properties", {})["CodeUri"] = "s3://local-stack/unused"
    pseudo = {name: value for name, value in PSEUDO.items() if value is not None}
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=REGION))
    try:
        return translator.translate(fragment, parameter_values={**params, **pseudo},
                                    get_managed_policy_map=aws_managed_policy_arns)
    except InvalidDocumentException as e:
        causes = "; ".join(cause.message for cause in e.causes)
        raise StartupError(f"SAM cannot translate the template: {causes}") from e


def translation(res: Resolver) -> dict:
    """SAM's translation of the resolver's template for its parameters, made once per resolver."""
    if res.translated is None:
        res.translated = translate(res.template, res.params)
    return res.translated
