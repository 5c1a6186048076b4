"""The template's resources in moto: SQS queues (dead-letter targets first), DynamoDB tables,
Secrets Manager secrets and S3 Vectors buckets and indexes; existing ones are reused."""
from __future__ import annotations

import os
import secrets
import string
from typing import Any

from botocore.exceptions import ClientError

from .common import DEV_JWT_SECRET, QUEUE, SECRET, TABLE, TOKEN_SECRET, VECTOR_BUCKET, VECTOR_INDEX, log
from .template import Resolver, env_str, referenced_ids


def create_queues(sqs: Any, res: Resolver) -> None:
    """Create the template's queues, dead-letter targets before the queues redriving to them."""
    queues = {lid: r for lid, r in res.resources.items() if r.get("Type") == QUEUE}
    ordered: list[str] = []

    def visit(lid: str, path: tuple = ()) -> None:
        if lid in ordered or lid in path:
            return
        for dep in sorted(referenced_ids(queues[lid].get("Properties") or {}) & queues.keys()):
            visit(dep, path + (lid,))
        ordered.append(lid)

    for lid in queues:
        visit(lid)
    for lid in ordered:
        props = res.resolve(queues[lid].get("Properties") or {})
        attrs = {k: env_str(v) for k, v in props.items()
                 if k not in ("QueueName", "Tags", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds")}
        name = res.local_name(lid)
        try:
            res.queue_urls[lid] = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        except ClientError as e:
            if "QueueAlreadyExists" not in str(e):
                raise
            log(f"queue {name} exists with other attributes; reusing it as is")
            res.queue_urls[lid] = sqs.get_queue_url(QueueName=name)["QueueUrl"]


def create_secrets(sm: Any, res: Resolver, given: dict[str, str]) -> dict[str, str]:
    """Create the template's secrets (those whose Condition holds) and return their values: `given`
    (--secret), else the dev token secret for JwtSecret, else generated like GenerateSecretString.
    An existing secret (same prefix) keeps its value unless one is given."""
    values = {}
    for lid, resource in res.resources.items():
        if resource.get("Type") != SECRET or not res.exists(lid):
            continue
        name = res.local_name(lid)
        spec = res.resolve((resource.get("Properties") or {}).get("GenerateSecretString") or {})
        value = given.get(lid)
        if not value and lid == TOKEN_SECRET:  # the token command signs with $JWT_SECRET, else the dev secret
            value = os.environ.get("JWT_SECRET") or DEV_JWT_SECRET
        try:
            generated = "".join(secrets.choice(string.ascii_letters + string.digits)
                                for _ in range(int(spec.get("PasswordLength", 32))))
            res.secret_arns[lid] = sm.create_secret(Name=name, SecretString=value or generated)["ARN"]
        except ClientError as e:
            if e.response["Error"]["Code"] != "ResourceExistsException":
                raise
            res.secret_arns[lid] = sm.describe_secret(SecretId=name)["ARN"]
            if value:
                sm.put_secret_value(SecretId=name, SecretString=value)
        values[lid] = value or sm.get_secret_value(SecretId=name)["SecretString"]
    return values


def create_tables(ddb: Any, res: Resolver) -> None:
    """Create the template's tables; an existing one (same prefix) is reused with its data. A table
    with a stream has its stream's ARN (which moto labels with its creation time) kept for GetAtt."""
    index_keys = {"IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput"}
    for lid, resource in res.resources.items():
        if resource.get("Type") != TABLE:
            continue
        props = res.resolve(resource.get("Properties") or {})
        args: dict[str, Any] = {"TableName": res.local_name(lid), "KeySchema": props["KeySchema"],
                                "AttributeDefinitions": props["AttributeDefinitions"],
                                "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST")}
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(key):  # CloudFormation-only keys (ContributorInsights...) are not API params
                args[key] = [{k: v for k, v in index.items() if k in index_keys} for index in props[key]]
        if args["BillingMode"] == "PROVISIONED":
            args["ProvisionedThroughput"] = props.get("ProvisionedThroughput")
        if "StreamSpecification" in props:
            args["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        try:
            created = ddb.create_table(**args)["TableDescription"]
        except ClientError as e:
            if e.response["Error"]["Code"] != "ResourceInUseException":
                raise
            existing = ddb.describe_table(TableName=args["TableName"])["Table"]
            if existing.get("LatestStreamArn"):
                res.stream_arns[lid] = existing["LatestStreamArn"]
            continue
        if created.get("LatestStreamArn"):
            res.stream_arns[lid] = created["LatestStreamArn"]
        ttl = props.get("TimeToLiveSpecification") or {}
        if ttl.get("Enabled") in (True, "true"):
            ddb.update_time_to_live(TableName=args["TableName"], TimeToLiveSpecification={
                "Enabled": True, "AttributeName": ttl["AttributeName"]})


def create_vector_indexes(s3vectors: Any, res: Resolver) -> None:
    """Create the template's S3 Vectors buckets, then their indexes; existing ones are reused with
    their vectors (moto's CreateIndex would silently empty an existing index)."""
    for kind in (VECTOR_BUCKET, VECTOR_INDEX):
        for lid, resource in res.resources.items():
            if resource.get("Type") != kind:
                continue
            props = res.resolve(resource.get("Properties") or {})
            arn = res.vector_arn(lid)
            try:
                if kind == VECTOR_BUCKET:
                    s3vectors.get_vector_bucket(vectorBucketArn=arn)
                else:
                    s3vectors.get_index(indexArn=arn)
                continue
            except ClientError as e:
                if e.response["Error"]["Code"] != "NotFoundException":
                    raise
            if kind == VECTOR_BUCKET:
                s3vectors.create_vector_bucket(vectorBucketName=res.local_name(lid))
                continue
            s3vectors.create_index(vectorBucketArn=res.index_bucket_arn(props), indexName=res.local_name(lid),
                                   dataType=props["DataType"], dimension=int(props["Dimension"]),
                                   distanceMetric=props["DistanceMetric"],
                                   **({"metadataConfiguration": {"nonFilterableMetadataKeys": keys}}
                                      if (keys := (props.get("MetadataConfiguration") or {}).get(
                                          "NonFilterableMetadataKeys")) else {}))
