// A minimal Lambda runtime interface loop for the Node.js peer, written like AWS's own (the managed
// nodejs runtime's RAPID client): import the handler (its init runs here), then forever poll
// /2018-06-01/runtime/invocation/next, call the handler, post its result (or the error) back; an
// error at init is posted to /runtime/init/error.
// Lambda's managed runtimes are not available locally (no container); this stands in for one.
import http from "node:http";

const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const request = http.request({ host, port, method, path: `/2018-06-01/runtime/${path}`, agent }, (response) => {
      const chunks = [];
      response.on("data", (chunk) => chunks.push(chunk));
      response.on("end", () => resolve({ headers: response.headers, body: Buffer.concat(chunks).toString() }));
    });
    request.on("error", reject);
    request.end(body);
  });
}

const errorBody = (error) => JSON.stringify({ errorType: error.name, errorMessage: error.message });

let handler;
try {
  ({ handler } = await import(new URL("./handler.mjs", import.meta.url)));
} catch (error) {
  await call("POST", "init/error", errorBody(error));
  throw error;
}

for (;;) {
  const next = await call("GET", "invocation/next");
  const requestId = next.headers["lambda-runtime-aws-request-id"];
  const context = { awsRequestId: requestId, invokedFunctionArn: next.headers["lambda-runtime-invoked-function-arn"] };
  try {
    const result = await handler(JSON.parse(next.body), context);
    await call("POST", `invocation/${requestId}/response`, JSON.stringify(result));
  } catch (error) {
    await call("POST", `invocation/${requestId}/error`, errorBody(error));
  }
}
