// GET /api/markets/{id} as a Node.js user would write it for Lambda (a peer of our get-market, for
// dev/bench-cold; never deployed): the token secret read from Secrets Manager at init, a bearer
// token checked when one is sent (HS256, exp/sub/role required: a bad one is a 401), one
// consistent GetItem, the API's JSON envelope (200, 404, 401).
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import jwt from "jsonwebtoken";

const secrets = new SecretsManagerClient({});
const { SecretString: secret } = await secrets.send(new GetSecretValueCommand({ SecretId: process.env.JWT_SECRET_ARN }));
const documents = DynamoDBDocumentClient.from(new DynamoDBClient({}));

function reply(statusCode, body, headers = {}) {
  return { statusCode, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) };
}

function failure(statusCode, code, error, requestId, headers) {
  return reply(statusCode, { success: false, error, code, requestId }, headers);
}

export async function handler(event, context) {
  const requestId = event.requestContext?.requestId ?? context.awsRequestId;
  const authorization = event.headers?.authorization;
  if (authorization !== undefined) {
    try {
      const claims = jwt.verify(authorization.replace(/^Bearer /, ""), secret, { algorithms: ["HS256"] });
      if (!claims.sub || !claims.role || !claims.exp) throw new Error("missing claim");
    } catch {
      return failure(401, "UNAUTHORIZED", "the bearer token is invalid or expired", requestId,
        { "www-authenticate": 'Bearer error="invalid_token"' });
    }
  }
  const { Item: item } = await documents.send(new GetCommand({
    TableName: process.env.MARKETS_TABLE, Key: { id: event.pathParameters.id }, ConsistentRead: true,
  }));
  if (!item) return failure(404, "NOT_FOUND", `market ${event.pathParameters.id} not found`, requestId);
  const market = {
    id: item.id, name: item.name, description: item.description, status: item.status, volume: Number(item.volume),
    creatorId: item.creatorId, creator: item.creatorName ? { id: item.creatorId, name: item.creatorName } : null,
    endDate: item.endDate ?? null, createdAt: item.createdAt, updatedAt: item.updatedAt, version: Number(item.version),
  };
  return reply(200, { success: true, data: market }, { etag: `"v${market.version}"` });
}
