"""The template resolver: short tags, parameters, Ref, Fn::Sub, Fn::GetAtt, conditions, names."""
import pytest
import yaml

from sim.common import StartupError, resource_name
from sim.template import CfnLoader, Resolver, parameter_values, referenced_ids

TEMPLATE = """
Parameters:
  Stage: { Type: String, Default: dev, AllowedValues: [dev, prod] }
  Origins: { Type: CommaDelimitedList, Default: "https://a.example, https://b.example" }
  Secret: { Type: String, MinLength: 4 }
  Shards: { Type: Number, Default: 8 }
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  IsDev: !Not [!Condition IsProd]
  DevWithShards: !And [!Condition IsDev, !Equals [!Ref Shards, 8]]
  ProdOrDev: !Or [!Condition IsProd, !Condition IsDev]
Resources:
  Jobs: { Type: AWS::SQS::Queue }
  Ordered: { Type: AWS::SQS::Queue, Properties: { FifoQueue: true } }
  Markets: { Type: AWS::DynamoDB::Table }
  Vectors: { Type: AWS::S3Vectors::VectorBucket }
  Index:
    Type: AWS::S3Vectors::Index
    Properties: { VectorBucketName: pre-vectors, IndexName: named-index }
  OtherIndex:
    Type: AWS::S3Vectors::Index
    Properties: { VectorBucketArn: !GetAtt Vectors.VectorBucketArn }
  Token: { Type: AWS::SecretsManager::Secret, Condition: IsProd }
  Worker:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: index-worker } }
"""


def resolver(**params: str) -> Resolver:
    template = yaml.load(TEMPLATE, Loader=CfnLoader)
    return Resolver(template, parameter_values(template, {"Secret": "s3cret", **params}), "pre")


def test_short_tags_load_as_long_form():
    loaded = yaml.load("a: !Ref X\nb: !GetAtt Q.Arn\nc: !Sub '${X}'\nd: !Condition C\n", Loader=CfnLoader)
    assert loaded == {"a": {"Ref": "X"}, "b": {"Fn::GetAtt": ["Q", "Arn"]}, "c": {"Fn::Sub": "${X}"},
                      "d": {"Condition": "C"}}


def test_parameters_take_the_given_value_else_the_default():
    res = resolver(Stage="prod")
    assert res.resolve({"Ref": "Stage"}) == "prod"
    assert res.resolve({"Ref": "Shards"}) == "8"
    assert res.resolve({"Ref": "Origins"}) == ["https://a.example", "https://b.example"]


def test_parameters_are_checked():
    template = yaml.load(TEMPLATE, Loader=CfnLoader)
    with pytest.raises(StartupError, match="Stage must be one of"):
        parameter_values(template, {"Secret": "s3cret", "Stage": "qa"})
    with pytest.raises(StartupError, match="Secret must be at least 4"):
        parameter_values(template, {"Secret": "abc"})


def test_pseudo_parameters():
    res = resolver()
    assert res.resolve({"Fn::Sub": "${AWS::Region}/${AWS::AccountId}/${AWS::Partition}"}) == \
        "us-east-1/123456789012/aws"
    assert res.resolve({"Ref": "AWS::NoValue"}) is None
    assert res.resolve({"Ref": "AWS::StackName"}) == "local"


def test_ref_names_local_resources():
    res = resolver()
    assert res.resolve({"Ref": "Markets"}) == "pre-Markets"
    assert res.resolve({"Ref": "Jobs"}) == "pre-Jobs"  # no URL until the queue is created
    res.queue_urls["Jobs"] = "http://moto/123/pre-Jobs"
    assert res.resolve({"Ref": "Jobs"}) == "http://moto/123/pre-Jobs"
    assert res.resolve({"Ref": "Worker"}) == "index-worker"
    assert res.resolve({"Ref": "Vectors"}) == "arn:aws:s3vectors:us-east-1:123456789012:bucket/pre-vectors"


def test_naming_has_one_rule():
    res = resolver()
    assert resource_name("pre", "Markets", "AWS::DynamoDB::Table") == "pre-Markets"
    assert resource_name("Pre", "Vectors", "AWS::S3Vectors::VectorBucket") == "pre-vectors"
    assert res.local_name("Ordered") == "pre-Ordered.fifo"
    assert res.local_name("Index") == "named-index"
    assert res.local_name("OtherIndex") == "pre-otherindex"


def test_get_att():
    res = resolver()
    assert res.resolve({"Fn::GetAtt": ["Jobs", "Arn"]}) == "arn:aws:sqs:us-east-1:123456789012:pre-Jobs"
    assert res.resolve({"Fn::GetAtt": "Jobs.QueueName"}) == "pre-Jobs"
    assert res.resolve({"Fn::GetAtt": ["Markets", "StreamArn"]}) == \
        "arn:aws:dynamodb:us-east-1:123456789012:table/pre-Markets/stream/local"
    assert res.resolve({"Fn::GetAtt": ["Index", "IndexArn"]}) == \
        "arn:aws:s3vectors:us-east-1:123456789012:bucket/pre-vectors/index/named-index"
    assert res.resolve({"Fn::GetAtt": ["Worker", "Arn"]}) == \
        "arn:aws:lambda:us-east-1:123456789012:function:index-worker"


def test_sub():
    res = resolver()
    assert res.resolve({"Fn::Sub": "${Markets}:${Jobs.Arn}:${!Literal}"}) == \
        "pre-Markets:arn:aws:sqs:us-east-1:123456789012:pre-Jobs:${Literal}"
    assert res.resolve({"Fn::Sub": ["${Name}-${Shards}", {"Name": {"Ref": "Stage"}}]}) == "dev-8"
    assert res.resolve({"Fn::Sub": "${Origins}"}) == '["https://a.example", "https://b.example"]'


def test_other_intrinsics():
    res = resolver()
    assert res.resolve({"Fn::Join": ["-", ["a", {"Ref": "Shards"}, {"Ref": "AWS::NoValue"}]]}) == "a-8"
    assert res.resolve({"Fn::Select": [1, {"Ref": "Origins"}]}) == "https://b.example"
    assert res.resolve({"Fn::Split": [",", "x,y"]}) == ["x", "y"]
    assert res.resolve({"Fn::Base64": "hi"}) == "aGk="


def test_conditions_and_if():
    dev, prod = resolver(), resolver(Stage="prod")
    value = {"Fn::If": ["IsProd", "big", {"Ref": "AWS::NoValue"}]}
    assert (dev.resolve(value), prod.resolve(value)) == (None, "big")
    assert dev.condition({"Condition": "IsDev"}) and not prod.condition({"Condition": "IsDev"})
    assert dev.condition({"Condition": "DevWithShards"})
    assert not resolver(Shards="4").condition({"Condition": "DevWithShards"})
    assert dev.condition({"Condition": "ProdOrDev"}) and prod.condition({"Condition": "ProdOrDev"})
    assert (dev.exists("Token"), prod.exists("Token"), dev.exists("Markets")) == (False, True, True)


def test_referenced_ids():
    value = {"A": {"Ref": "X"}, "B": [{"Fn::GetAtt": "Y.Arn"}, {"Fn::Sub": "${Z.Url}${!Not}${AWS::Region}"}]}
    assert referenced_ids(value) == {"X", "Y", "Z", "AWS::Region"}
