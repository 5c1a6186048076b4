"""What every part of the local stack shares: the local account, the template's resource types,
the one naming rule for local resources, logging and the error a user must fix."""
from __future__ import annotations

import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
REGION = "us-east-1"
ACCOUNT = "123456789012"
DEV_JWT_SECRET = "local-dev-secret-change-me-0123456789abcdef"
TOKEN_SECRET = "JwtSecret"   # the template's HS256 token secret: locally, the dev secret unless --secret says
TABLE, QUEUE, SECRET = "AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SecretsManager::Secret"
VECTOR_BUCKET, VECTOR_INDEX = "AWS::S3Vectors::VectorBucket", "AWS::S3Vectors::Index"
FUNCTION, HTTP_API = "AWS::Serverless::Function", "AWS::Serverless::HttpApi"
MANAGED_POLICY, LAMBDA_FUNCTION = "AWS::IAM::ManagedPolicy", "AWS::Lambda::Function"  # in SAM's translation
print_lock = threading.Lock()


def log(message: str) -> None:
    with print_lock:
        print(f"local: {message}", file=sys.stderr, flush=True)


class StartupError(Exception):
    """A problem the user must fix (missing binary, bad parameter...): printed without a trace."""


def resource_name(prefix: str, logical_id: str, kind: str | None = None) -> str:
    """The local name of a template resource: `<prefix>-<LogicalId>`, lower-cased for S3 Vectors
    (whose names allow no capitals)."""
    name = f"{prefix}-{logical_id}"
    return name.lower() if kind in (VECTOR_BUCKET, VECTOR_INDEX) else name
