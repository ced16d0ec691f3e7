/**
 * The API reference: GET /openapi.json (the OpenAPI 3.1 document) and GET /docs (a readable
 * page rendered from it). Both are public and built once, on first request.
 */
import { Hono } from 'hono';
import type { Herald } from '../herald.js';
import { referencePage, type ReferencePage } from './docs-page.js';
import { openApiDocument, type OpenApiDocument } from './openapi.js';
import { packageVersion } from '../version.js';

export function docsRoutes(herald: Herald): Hono {
  const app = new Hono();
  let document: OpenApiDocument | undefined;
  let page: ReferencePage | undefined;
  const built = (): OpenApiDocument => {
    if (!document) {
      document = openApiDocument(packageVersion());
      herald.log.debug({ paths: Object.keys(document.paths).length }, 'openapi:built');
    }
    return document;
  };

  app.get('/openapi.json', (c) => c.json(built()));
  app.get('/docs', (c) => {
    page ??= referencePage(built());
    return c.html(page.html, 200, {
      'content-security-policy': page.csp,
      'x-content-type-options': 'nosniff',
    });
  });
  return app;
}
