#!/usr/bin/env node
/**
 * Applies deploy/sentry/alert-rules.json to a Sentry project: creates the rules it does not have yet and
 * updates (PUT) the ones it has, matched by name. Rules made by hand under other names are left alone.
 *
 *   SENTRY_AUTH_TOKEN=… SENTRY_ORG=… SENTRY_PROJECT=… SENTRY_TEAM_ID=… \
 *     node deploy/sentry/apply.mjs [--dry-run] [--url https://sentry.io]
 *
 * `${NAME}` in a rule's values is replaced by that environment variable (the file uses SENTRY_PROJECT and
 * SENTRY_TEAM_ID, the team the metric alerts e-mail). --dry-run reads the existing rules and prints the
 * requests it would send, changing nothing. No dependencies: Node 20's fetch.
 */
import { readFile } from 'node:fs/promises';

const args = process.argv.slice(2);
const dryRun = args.includes('--dry-run');
const urlAt = args.indexOf('--url');
const base = (urlAt >= 0 ? args[urlAt + 1] : 'https://sentry.io')?.replace(/\/+$/, '');
const { SENTRY_AUTH_TOKEN: token, SENTRY_ORG: org, SENTRY_PROJECT: project } = process.env;

function fail(message) {
  console.error(`apply.mjs: ${message}`);
  process.exit(1);
}

/** Replaces `${NAME}` in every string of a rule by the environment variable NAME. */
function fill(value) {
  if (typeof value === 'string')
    return value.replace(
      /\$\{(\w+)\}/g,
      (_, name) => process.env[name] ?? fail(`set ${name} (used by a rule)`),
    );
  if (Array.isArray(value)) return value.map(fill);
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v)]));
  return value;
}

async function call(method, path, body) {
  const res = await fetch(`${base}/api/0/${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) {
    const detail = (await res.text()).replace(/\s+/g, ' ').slice(0, 300);
    fail(`${method} ${path}: HTTP ${res.status} ${detail}`);
  }
  return res;
}

/** Every rule at a list endpoint, following Sentry's cursor pagination (Link: …; rel="next"; results="true"). */
async function list(path) {
  const rules = [];
  let cursor = null;
  do {
    const res = await call('GET', cursor ? `${path}?cursor=${encodeURIComponent(cursor)}` : path);
    rules.push(...(await res.json()));
    cursor = /rel="next"; results="true"; cursor="([^"]+)"/.exec(res.headers.get('link') ?? '')?.[1];
  } while (cursor);
  return rules;
}

async function main() {
  if (!token || !org || !project) fail('set SENTRY_AUTH_TOKEN, SENTRY_ORG and SENTRY_PROJECT');
  if (!base) fail('--url needs a value, e.g. --url https://sentry.io');
  const file = JSON.parse(await readFile(new URL('./alert-rules.json', import.meta.url), 'utf8'));
  const [o, p] = [encodeURIComponent(org), encodeURIComponent(project)];
  const kinds = [
    ['issue alert', `projects/${o}/${p}/rules/`, file.issue_alerts],
    ['metric alert', `organizations/${o}/alert-rules/`, file.metric_alerts],
  ];
  for (const [kind, path, rules] of kinds) {
    // Metric alerts are listed for the whole organization: only this project's count as existing.
    const mine = (rule) => !Array.isArray(rule.projects) || rule.projects.includes(project);
    const existing = new Map((await list(path)).filter(mine).map((rule) => [rule.name, rule.id]));
    for (const rule of fill(rules)) {
      const id = existing.get(rule.name);
      const [method, target] = id ? ['PUT', `${path}${id}/`] : ['POST', path];
      if (dryRun) {
        console.log(`would ${method} ${base}/api/0/${target} ${JSON.stringify(rule)}`);
        continue;
      }
      await call(method, target, rule);
      console.log(`${id ? 'updated' : 'created'} ${kind} "${rule.name}"`);
    }
  }
}

main().catch((err) => fail(err.cause?.message ?? err.message));
