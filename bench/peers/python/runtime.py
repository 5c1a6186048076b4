"""A minimal Lambda runtime interface loop for the Python peer, written like AWS's own (awslambdaric's
bootstrap): import the handler (its init runs here), then forever poll
/2018-06-01/runtime/invocation/next, call the handler, post its result (or the error) back; an
error at init is posted to /runtime/init/error.
Lambda's managed runtimes are not available locally (no container); this stands in for one."""
import http.client
import json
import os
import sys
from types import SimpleNamespace

runtime = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])


def call(method, path, body=None):
    runtime.request(method, f"/2018-06-01/runtime/{path}", body)
    response = runtime.getresponse()
    return response.headers, response.read()


def error_body(error):
    return json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)})


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from handler import handler
except Exception as error:  # reported to the Runtime API, as Lambda's runtime does
    call("POST", "init/error", error_body(error))
    raise


while True:
    headers, event = call("GET", "invocation/next")
    request_id = headers["Lambda-Runtime-Aws-Request-Id"]
    context = SimpleNamespace(aws_request_id=request_id,
                              invoked_function_arn=headers["Lambda-Runtime-Invoked-Function-Arn"])
    try:
        result = handler(json.loads(event), context)
        call("POST", f"invocation/{request_id}/response", json.dumps(result))
    except Exception as error:  # reported to the Runtime API, as Lambda's runtime does
        call("POST", f"invocation/{request_id}/error", error_body(error))
