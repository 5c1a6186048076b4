"""GET /api/markets/{id} as a Python user would write it for Lambda (a peer of our get-market, for
dev/bench-cold; never deployed): the token secret read from Secrets Manager at init, a bearer token
checked when one is sent (HS256, exp/sub/role required: a bad one is a 401), one consistent
GetItem, the API's JSON envelope (200, 404, 401)."""
import json
import os

import boto3
import jwt

SECRET = boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["JWT_SECRET_ARN"])["SecretString"]
MARKETS = boto3.resource("dynamodb").Table(os.environ["MARKETS_TABLE"])


def reply(status, body, headers=None):
    return {"statusCode": status, "headers": {"content-type": "application/json", **(headers or {})},
            "body": json.dumps(body)}


def failure(status, code, error, request_id, headers=None):
    return reply(status, {"success": False, "error": error, "code": code, "requestId": request_id}, headers)


def handler(event, context):
    request_id = event.get("requestContext", {}).get("requestId", context.aws_request_id)
    authorization = (event.get("headers") or {}).get("authorization")
    if authorization is not None:
        try:
            jwt.decode(authorization.removeprefix("Bearer "), SECRET, algorithms=["HS256"],
                       options={"require": ["exp", "sub", "role"]})
        except jwt.InvalidTokenError:
            return failure(401, "UNAUTHORIZED", "the bearer token is invalid or expired", request_id,
                           {"www-authenticate": 'Bearer error="invalid_token"'})
    market_id = event["pathParameters"]["id"]
    item = MARKETS.get_item(Key={"id": market_id}, ConsistentRead=True).get("Item")
    if item is None:
        return failure(404, "NOT_FOUND", f"market {market_id} not found", request_id)
    market = {
        "id": item["id"], "name": item["name"], "description": item["description"], "status": item["status"],
        "volume": float(item["volume"]), "creatorId": item["creatorId"],
        "creator": {"id": item["creatorId"], "name": item["creatorName"]} if "creatorName" in item else None,
        "endDate": item.get("endDate"), "createdAt": item["createdAt"], "updatedAt": item["updatedAt"],
        "version": int(item["version"]),
    }
    return reply(200, {"success": True, "data": market}, {"etag": f'"v{market["version"]}"'})
