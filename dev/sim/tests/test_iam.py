"""IAM: what each request needs (actions per table, index, queue, secret, vector index, model), how
policies decide, and the roles SAM's translator makes of the template (policy templates, !If)."""
import json

import pytest

from sim.common import REPO, StartupError
from sim.iam import without_action
from sim.iam_policy import Request, decide, grants, needs
from sim.sam import translate
from sim.template import Resolver, load_template, parameter_values

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/"


def dynamodb(operation: str, body: dict) -> list[tuple[str, str]]:
    return needs(Request("dynamodb", f"DynamoDB_20120810.{operation}", "/", json.dumps(body).encode()), str)


def test_a_transaction_needs_each_items_own_action_on_its_own_table():
    assert dynamodb("TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": "p-Positions"}}, {"Update": {"TableName": "p-Markets"}},
        {"ConditionCheck": {"TableName": "p-Users"}}, {"Delete": {"TableName": "p-Outbox"}}]}) == [
        ("dynamodb:PutItem", TABLE + "p-Positions"), ("dynamodb:UpdateItem", TABLE + "p-Markets"),
        ("dynamodb:ConditionCheckItem", TABLE + "p-Users"), ("dynamodb:DeleteItem", TABLE + "p-Outbox")]
    assert dynamodb("TransactGetItems", {"TransactItems": [{"Get": {"TableName": "p-Markets"}}]}) == [
        ("dynamodb:GetItem", TABLE + "p-Markets")]


def test_batches_need_their_action_on_every_table_and_a_query_on_an_index_the_index_arn():
    assert dynamodb("BatchGetItem", {"RequestItems": {"p-Markets": {}, "p-Users": {}}}) == [
        ("dynamodb:BatchGetItem", TABLE + "p-Markets"), ("dynamodb:BatchGetItem", TABLE + "p-Users")]
    assert dynamodb("Query", {"TableName": "p-Markets", "IndexName": "all-volume"}) == [
        ("dynamodb:Query", TABLE + "p-Markets/index/all-volume")]
    assert dynamodb("Query", {"TableName": "p-Positions"}) == [("dynamodb:Query", TABLE + "p-Positions")]
    assert dynamodb("DescribeEndpoints", {}) == [("dynamodb:DescribeEndpoints", "*")]


def test_stream_reads_need_their_action_on_the_stream_arn_even_by_shard_iterator():
    stream = TABLE + "p-Outbox/stream/2026-12-04T13:00:00.000"
    streams = lambda operation, body: needs(  # noqa: E731
        Request("dynamodb", f"DynamoDBStreams_20120810.{operation}", "/", json.dumps(body).encode()), str)
    assert streams("DescribeStream", {"StreamArn": stream}) == [("dynamodb:DescribeStream", stream)]
    assert streams("GetShardIterator", {"StreamArn": stream, "ShardId": "s"}) == [("dynamodb:GetShardIterator", stream)]
    assert streams("GetRecords", {"ShardIterator": f"{stream}|1|c2VjcmV0"}) == [("dynamodb:GetRecords", stream)]


def test_queues_secrets_vectors_and_models_are_named_by_their_arns():
    sqs = Request("sqs", "AmazonSQS.SendMessageBatch", "/",
                  json.dumps({"QueueUrl": "http://localhost:4566/123456789012/p-Jobs"}).encode())
    assert needs(sqs, str) == [("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:p-Jobs")]
    secret = Request("secretsmanager", "secretsmanager.GetSecretValue", "/", b'{"SecretId": "p-Token"}')
    assert needs(secret, lambda name: f"arn:secret:{name}-AbCdEf") == [
        ("secretsmanager:GetSecretValue", "arn:secret:p-Token-AbCdEf")]
    index = "arn:aws:s3vectors:us-east-1:123456789012:bucket/b/index/i"
    query = Request("s3vectors", "", "/QueryVectors", json.dumps({"indexArn": index, "returnMetadata": True}).encode())
    assert needs(query, str) == [("s3vectors:QueryVectors", index), ("s3vectors:GetVectors", index)]
    keys_only = Request("s3vectors", "", "/QueryVectors", b'{"vectorBucketName": "b", "indexName": "i"}')
    assert needs(keys_only, str) == [("s3vectors:QueryVectors", index)]
    model = Request("bedrock", "", "/model/amazon.titan-embed-text-v2%3A0/invoke", b"{}")
    assert needs(model, str) == [
        ("bedrock:InvokeModel", "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0")]


def test_policies_decide_with_wildcards_and_an_explicit_deny_wins():
    policy = {"Statement": [
        {"Effect": "Allow", "Action": "dynamodb:Get*", "Resource": TABLE + "p-*"},
        {"Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": TABLE + "p-Markets/index/*"},
        {"Effect": "Deny", "Action": "dynamodb:GetItem", "Resource": TABLE + "p-Secret"},
        {"Effect": "Allow", "NotAction": "dynamodb:*", "Resource": "*"}]}
    rules = grants({"one": json.dumps(policy)})
    assert decide(rules, "dynamodb:GetItem", TABLE + "p-Markets")[0]
    assert decide(rules, "DynamoDB:getitem", TABLE + "p-Markets")[0]  # actions ignore case; resources don't
    assert not decide(rules, "dynamodb:GetItem", TABLE + "P-Markets")[0]
    assert not decide(rules, "dynamodb:GetItem", TABLE + "p-Secret")[0]
    assert not decide(rules, "dynamodb:Query", TABLE + "p-Markets")[0]  # the table is not its indexes
    assert decide(rules, "dynamodb:Query", TABLE + "p-Markets/index/all-volume")[0]
    assert not decide(rules, "dynamodb:PutItem", TABLE + "p-Markets")[0]
    assert decide(rules, "sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:p-Jobs")[0]


def roles(params: dict[str, str]) -> dict[str, dict]:
    """Each function role of the project's template, as SAM translates it and the stack resolves it."""
    template = load_template(REPO / "template.yaml")
    values = parameter_values(template, params)
    resolver = Resolver(template, values, "p")
    resolver.secret_arns = {"JwtSecret": "arn:jwt", "CursorSecret": "arn:cursor"}
    cfn = translate(template, values)
    return {lid: resolver.resolve(r["Properties"]) for lid, r in cfn["Resources"].items() if r["Type"] == "AWS::IAM::Role"}


def test_the_roles_come_from_sams_translation_with_policy_templates_and_conditions_resolved():
    hs256 = roles({})["GetMarketFunctionRole"]
    secrets = [s for p in hs256["Policies"] if p for s in p["PolicyDocument"]["Statement"]
               if s["Action"] == ["secretsmanager:GetSecretValue"]]
    assert [s["Resource"] for s in secrets] == ["arn:jwt"]  # AWSSecretsManagerGetSecretValuePolicy, expanded
    assert "arn:aws:iam::123456789012:policy/p-DynamoDbConnectPolicy" in hs256["ManagedPolicyArns"]
    rs256 = roles({"JwtJwksUrl": "https://idp.example/jwks.json"})["GetMarketFunctionRole"]
    assert [p for p in rs256["Policies"] if p and "secretsmanager:GetSecretValue" in json.dumps(p)] == []
    sqs_worker = roles({})["IndexWorkerFunctionRole"]["ManagedPolicyArns"]
    assert "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole" in sqs_worker


def test_a_permission_taken_out_leaves_the_rest_and_must_exist():
    policies = [{"PolicyName": "p", "PolicyDocument": {"Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": "a"},
        {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": "b"}]}}]
    left = without_action(policies, "dynamodb:PutItem", "Role")
    assert left[0]["PolicyDocument"]["Statement"] == [{"Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": "b"}]
    with pytest.raises(StartupError):
        without_action(left, "dynamodb:DeleteItem", "Role")

