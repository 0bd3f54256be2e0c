import { z } from 'zod';
import { Problem } from './common.js';
import { allRoutes, type RouteDef } from './routes.js';

const PROBLEM_RESPONSES: Record<string, string> = {
  '400': 'Malformed request (bad JSON, bad query)',
  '401': 'Missing, invalid or expired credentials',
  '403': 'The credential lacks the permission this route needs',
  '404': 'No such resource in the caller’s organization',
  '409': 'Conflict with the current state, or an Idempotency-Key reused with another body',
  '413': 'Body larger than the limit',
  '415': 'Body is not application/json',
  '422': 'Validation failed; errors[] names each field',
  '429': 'Too many requests; see Retry-After',
};

function schema(s: z.ZodType, io: 'input' | 'output') {
  return z.toJSONSchema(s, { io, unrepresentable: 'any', target: 'draft-2020-12' });
}

function parameters(route: RouteDef) {
  const out: object[] = [];
  const add = (where: 'path' | 'query', obj: z.ZodType | undefined) => {
    if (!obj) return;
    const json = schema(obj, 'input') as { properties?: Record<string, object>; required?: string[] };
    for (const [name, s] of Object.entries(json.properties ?? {}))
      out.push({
        name,
        in: where,
        required: where === 'path' || (json.required ?? []).includes(name),
        schema: s,
      });
  };
  add('path', route.params);
  add('query', route.query);
  return out;
}

/** The OpenAPI 3.1 document for every route of the contract. */
export function openApiDocument(info: { version: string; serverUrl?: string }) {
  const paths: Record<string, Record<string, object>> = {};
  for (const route of allRoutes) {
    const path = route.path.replace(/:(\w+)/g, '{$1}');
    const status = String(route.response === null ? 204 : (route.status ?? 200));
    const responses: Record<string, object> = {
      [status]:
        route.response === null
          ? { description: 'No content' }
          : route.produces
            ? {
                description: 'OK',
                content: { [route.produces]: { schema: { type: 'string', format: 'binary' } } },
              }
            : {
                description: 'OK',
                content: { 'application/json': { schema: schema(route.response, 'output') } },
              },
    };
    for (const [code, description] of Object.entries(PROBLEM_RESPONSES))
      responses[code] = {
        description,
        content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
      };
    const operation: Record<string, unknown> = {
      operationId: `${route.tag}.${route.method.toLowerCase()}${path.replace(/[^a-zA-Z]+/g, '_')}`,
      summary: route.summary,
      tags: [route.tag],
      parameters: parameters(route),
      responses,
      'x-permission': route.auth,
      ...(route.storefront ? { 'x-storefront': true } : {}),
    };
    if (route.auth !== 'public') operation.security = [{ bearer: [] }];
    if (route.method === 'POST' && route.idempotent !== false)
      (operation.parameters as object[]).push({
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        schema: { type: 'string', maxLength: 255 },
      });
    if (route.body)
      operation.requestBody = {
        required: true,
        content: { 'application/json': { schema: schema(route.body, 'input') } },
      };
    if (route.streamBody)
      operation.requestBody = {
        required: true,
        content: {
          [route.streamBody]: {
            schema: {
              type: 'object',
              required: ['file'],
              properties: { file: { type: 'string', format: 'binary' } },
            },
          },
        },
      };
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'tickets API', version: info.version },
    servers: info.serverUrl ? [{ url: info.serverUrl }] : [],
    paths,
    components: {
      schemas: { Problem: schema(Problem, 'output') },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An access token (JWT) or an API key (tk_…)' },
      },
    },
  };
}
