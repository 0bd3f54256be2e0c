import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricNames, startProcessMetrics } from '../src/observability/metrics.js';

/**
 * The monitoring files in deploy/ (Prometheus rules, Grafana dashboard, Sentry alert rules) are only
 * worth something if they name metrics the server serves: this reads them, checks their shape, and checks
 * every metric name in every PromQL expression against the server's registry. It also runs
 * deploy/sentry/apply.mjs against a fake Sentry.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string) => readFileSync(ROOT + path, 'utf8');
const RULES_FILE = 'deploy/prometheus/alerts.yml';
const APPLY = ROOT + 'deploy/sentry/apply.mjs';
/** `${name}`: Grafana's variables and apply.mjs's placeholders. */
const placeholder = (name: string) => '$' + `{${name}}`;

type Yaml = string | Yaml[] | { [key: string]: Yaml };

/**
 * Reads the subset of YAML alerts.yml is written in, strictly: block maps, lists of maps indented under
 * their key, one-line scalars (plain, "double" or 'single' quoted) and `|`/`>` block scalars. Anything
 * else (flow collections, anchors, tags, tabs, duplicate keys, a plain scalar YAML could read otherwise) is
 * an error, so what this accepts means the same to Prometheus's YAML parser.
 */
function readYaml(text: string, file: string): Yaml {
  const lines = text.split('\n');
  let i = 0;
  function fail(why: string): never {
    throw new Error(`${file}:${i + 1}: ${why}`);
  }
  const indentOf = (line: string) => line.length - line.trimStart().length;

  /** The next line that is not blank or a comment. */
  function peek(): { indent: number; text: string } | null {
    while (i < lines.length && /^\s*(#.*)?$/.test(lines[i]!)) i++;
    const line = lines[i];
    if (line === undefined) return null;
    if (line.includes('\t')) fail('tab');
    return { indent: indentOf(line), text: line.trim() };
  }

  function node(indent: number): Yaml {
    const next = peek() ?? fail('unexpected end');
    if (next.indent !== indent) fail(`expected indentation ${indent}`);
    return next.text.startsWith('- ') ? list(indent) : map(indent);
  }

  function list(indent: number): Yaml[] {
    const items: Yaml[] = [];
    for (let next = peek(); next && next.indent === indent; next = peek()) {
      if (!next.text.startsWith('- ')) fail('expected a list item');
      // `- key: value` opens a map two columns in.
      lines[i] = ' '.repeat(indent + 2) + next.text.slice(2);
      items.push(map(indent + 2));
    }
    return items;
  }

  function map(indent: number): { [key: string]: Yaml } {
    const out: { [key: string]: Yaml } = {};
    for (let next = peek(); next && next.indent >= indent; next = peek()) {
      if (next.indent > indent) fail('unexpected indentation');
      const [, key = '', rest = ''] =
        /^([A-Za-z_][\w.-]*):(?: +(.*))?$/.exec(next.text) ?? fail('expected key: value');
      if (Object.hasOwn(out, key)) fail(`duplicate key ${key}`);
      i++;
      if (rest === '') {
        const child = peek();
        if (!child || child.indent <= indent) fail(`${key} has no value (lists go indented under their key)`);
        out[key] = node(child.indent);
      } else if (/^[|>]-?$/.test(rest)) out[key] = block(indent, rest);
      else out[key] = scalar(rest);
    }
    return out;
  }

  function block(indent: number, indicator: string): string {
    const body: string[] = [];
    let at = -1;
    for (let line = lines[i]; line !== undefined; line = lines[++i]) {
      if (line.trim() === '') {
        body.push('');
        continue;
      }
      if (indentOf(line) <= indent) break;
      if (at < 0) at = indentOf(line);
      if (indentOf(line) < at) fail('block line less indented than the first');
      if (line.includes('\t')) fail('tab');
      body.push(line.slice(at));
    }
    while (body.at(-1) === '') body.pop();
    if (!body.length) fail('empty block');
    if (indicator.startsWith('>') && body.some((l) => l === '' || l.startsWith(' ')))
      fail('folded block with blank or more indented lines');
    const value = body.join(indicator.startsWith('>') ? ' ' : '\n');
    return indicator.endsWith('-') ? value : `${value}\n`;
  }

  function scalar(raw: string): string {
    if (raw.startsWith('"')) {
      const [, inner] = /^"((?:[^"\\]|\\.)*)"$/.exec(raw) ?? fail('bad double-quoted scalar');
      return JSON.parse(`"${inner}"`) as string;
    }
    if (raw.startsWith("'")) {
      const [, inner = ''] = /^'((?:[^']|'')*)'$/.exec(raw) ?? fail('bad single-quoted scalar');
      return inner.replaceAll("''", "'");
    }
    if (/^[-?:,[\]{}#&*!|>%@`]/.test(raw) || raw.includes(': ') || raw.includes(' #') || raw.endsWith(':'))
      fail(`quote this scalar: ${raw}`);
    return raw;
  }

  const doc = node(0);
  if (peek()) fail('unexpected content');
  return doc;
}

const AGGREGATIONS =
  'sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk limit_ratio';
const FUNCTIONS = new Set(
  `${AGGREGATIONS} abs absent absent_over_time ceil changes clamp clamp_max clamp_min day_of_month day_of_week
  day_of_year days_in_month delta deriv exp floor histogram_avg histogram_count histogram_fraction
  histogram_quantile histogram_stddev histogram_stdvar histogram_sum holt_winters double_exponential_smoothing
  hour idelta increase irate label_join label_replace ln log2 log10 minute month predict_linear rate resets
  round scalar sgn sort sort_desc sort_by_label sort_by_label_desc sqrt time timestamp vector year
  avg_over_time min_over_time max_over_time sum_over_time count_over_time quantile_over_time stddev_over_time
  stdvar_over_time last_over_time present_over_time mad_over_time acos acosh asin asinh atan atanh cos cosh sin
  sinh tan tanh deg rad pi`.split(/\s+/),
);
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'offset',
  'bool',
  'atan2',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);

/**
 * The metric names a PromQL expression reads. Strings, label matchers `{…}`, ranges `[…]`, groupings
 * (`by (…)`, `on (…)`, …) and Grafana's `$variables` are taken out first, so label names are never read as
 * metrics; then an identifier followed by `(` must be a PromQL function, and any other is a metric name.
 */
function metricsIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^{}]*\}/g, ' ')
    .replace(/\[[^[\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)/g, ' ')
    .replace(/\$\w+/g, ' ');
  const names = new Set<string>();
  for (const [, word, call] of bare.matchAll(/\d[\w.]*|([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    if (!word || KEYWORDS.has(word.toLowerCase())) continue;
    if (call) {
      if (!FUNCTIONS.has(word)) throw new Error(`unknown PromQL function ${word} in: ${expr}`);
    } else names.add(word);
  }
  return [...names];
}

/** Whether (), [] and {} pair up, outside strings. */
function balanced(expr: string): boolean {
  const closing: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  const open: string[] = [];
  for (const c of expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')) {
    if ('([{'.includes(c)) open.push(c);
    else if (closing[c] && open.pop() !== closing[c]) return false;
  }
  return open.length === 0;
}

const asMap = (v: Yaml | undefined): { [key: string]: Yaml } =>
  v && typeof v === 'object' && !Array.isArray(v) ? v : {};
const asList = (v: Yaml | undefined): Yaml[] => (Array.isArray(v) ? v : []);

interface Rule {
  group: string;
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels: { [key: string]: Yaml };
  annotations: { [key: string]: Yaml };
}

function rulesOf(doc: Yaml): Rule[] {
  return asList(asMap(doc).groups).flatMap((g) =>
    asList(asMap(g).rules).map((r) => {
      const m = asMap(r);
      const str = (v: Yaml | undefined) => (typeof v === 'string' ? v : undefined);
      return {
        group: str(asMap(g).name) ?? '',
        alert: str(m.alert),
        record: str(m.record),
        expr: str(m.expr) ?? '',
        for: str(m.for),
        labels: asMap(m.labels),
        annotations: asMap(m.annotations),
      };
    }),
  );
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: { expr: string; legendFormat?: string; refId: string; datasource?: { uid: string } }[];
  panels?: Panel[];
}

interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown; definition?: string }[] };
}

let known: Set<string>;
let rules: Rule[];
let dashboard: Dashboard;

beforeAll(async () => {
  startProcessMetrics('test');
  known = new Set(await metricNames());
  rules = rulesOf(readYaml(read(RULES_FILE), RULES_FILE));
  dashboard = JSON.parse(read('deploy/grafana/tickets.json')) as Dashboard;
});

/** Every panel, with the ones inside collapsed rows. */
const allPanels = () => dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);

/** Every PromQL expression in the deploy files, named for the failure message. */
function expressions(): [string, string][] {
  const out: [string, string][] = rules.map((r) => [`${RULES_FILE} ${r.alert ?? r.record}`, r.expr]);
  for (const p of allPanels())
    for (const t of p.targets ?? []) out.push([`tickets.json panel ${p.id} ${t.refId}`, t.expr]);
  for (const v of dashboard.templating.list) {
    const query = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | null)?.query;
    const [, series] = /^label_values\((.+),\s*\w+\)$/.exec(query ?? '') ?? [];
    if (series) out.push([`tickets.json variable ${v.name}`, series]);
  }
  return out;
}

describe('the metric-name checker', () => {
  it('reads metric names, not functions, label names, groupings or durations', () => {
    expect(
      metricsIn(
        'histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{route="/x", status=~"5.."}[5m]))) ' +
          '/ on (instance) group_left b:c:rate5m offset 15m > bool 1e3 and sum(rate(d[$__rate_interval])) by (le)',
      ).sort(),
    ).toEqual(['a_bucket', 'b:c:rate5m', 'd']);
    expect(() => metricsIn('summ(x)')).toThrow(/unknown PromQL function summ/);
    expect(balanced('sum(rate(x{a="}"}[5m]))')).toBe(true);
    expect(balanced('sum(rate(x[5m))')).toBe(false);
  });

  it('refuses YAML it might read differently from Prometheus', () => {
    expect(() => readYaml('a: b: c\n', 't')).toThrow(/quote this scalar/);
    expect(() => readYaml('a: [1, 2]\n', 't')).toThrow(/quote this scalar/);
    expect(() => readYaml('a: x\na: y\n', 't')).toThrow(/duplicate key a/);
    expect(readYaml('a:\n  - b: "x # y"\n    c: |\n      one\n        two\n', 't')).toEqual({
      a: [{ b: 'x # y', c: 'one\n  two\n' }],
    });
  });
});

describe('deploy/prometheus/alerts.yml', () => {
  it('has groups of rules with unique names, and alerts with for, severity and a summary', () => {
    const groups = new Set(rules.map((r) => r.group));
    expect(groups.size).toBeGreaterThanOrEqual(2);
    expect([...groups].every(Boolean)).toBe(true);
    const alerts = rules.filter((r) => r.alert).map((r) => r.alert);
    expect(new Set(alerts).size).toBe(alerts.length);
    for (const name of [
      'TicketsHigh5xxRate',
      'TicketsWebhookFailures',
      'TicketsWebhookBadSignatures',
      'TicketsDeadMessages',
      'TicketsOutboxStuck',
      'TicketsPurchaseSlow',
      'TicketsSecurityEvent',
      'TicketsLoginLockouts',
      'TicketsEventLoopLag',
      'TicketsInstanceDown',
    ])
      expect(alerts).toContain(name);
    for (const r of rules) {
      expect(Boolean(r.alert) !== Boolean(r.record), `${r.alert ?? r.record}: alert or record`).toBe(true);
      expect(r.expr.trim(), `${r.alert ?? r.record}: expr`).not.toBe('');
      if (r.record) {
        expect(r.record, 'recording rules are named level:metric:operations').toMatch(/^\w+:\w+:\w+$/);
        continue;
      }
      expect(r.for, `${r.alert}: for`).toMatch(/^\d+[smh]$/);
      expect(['critical', 'warning', 'info'], `${r.alert}: labels.severity`).toContain(r.labels.severity);
      expect(
        typeof r.annotations.summary === 'string' && r.annotations.summary,
        `${r.alert}: summary`,
      ).toBeTruthy();
      expect(typeof r.annotations.description, `${r.alert}: description`).toBe('string');
      for (const text of Object.values(r.annotations))
        expect(String(text).split('{{').length, `${r.alert}: {{ }} pair up`).toBe(
          String(text).split('}}').length,
        );
    }
  });

  it.skipIf(spawnSync('promtool', ['--version']).error)('passes promtool check rules', () => {
    const run = spawnSync('promtool', ['check', 'rules', ROOT + RULES_FILE], { encoding: 'utf8' });
    expect(run.status, run.stdout + run.stderr).toBe(0);
  });
});

describe('every PromQL expression in deploy/', () => {
  it('balances its brackets and reads only metrics the server serves, `up`, or the recording rules', () => {
    const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));
    const unknown: string[] = [];
    const list = expressions();
    expect(list.length).toBeGreaterThan(40);
    for (const [where, expr] of list) {
      expect(balanced(expr), `${where}: brackets in ${expr}`).toBe(true);
      const names = metricsIn(expr);
      expect(names.length, `${where}: no metric in ${expr}`).toBeGreaterThan(0);
      for (const name of names)
        if (name !== 'up' && !recorded.has(name) && !known.has(name)) unknown.push(`${where}: ${name}`);
    }
    expect(unknown).toEqual([]);
    // The checker sees the registry: the names come from metrics.ts, with the default metrics.
    expect(known).toContain('tickets_http_request_duration_seconds_bucket');
    expect(known).toContain('nodejs_eventloop_lag_p99_seconds');
  });
});

describe('deploy/grafana/tickets.json', () => {
  it('is a dashboard with its data source and instance variables', () => {
    expect(dashboard.uid).toBe('tickets-overview');
    expect(dashboard.title).toBe('tickets — overview');
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const vars = Object.fromEntries(dashboard.templating.list.map((v) => [v.name, v]));
    expect(vars.DS_PROMETHEUS).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(vars.instance).toMatchObject({
      type: 'query',
      definition: 'label_values(tickets_http_requests_total, instance)',
    });
  });

  it('has unique panel ids, panels on the grid that do not overlap, and Prometheus targets', () => {
    const panels = allPanels();
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const p of panels) {
      const { x, y, w, h } = p.gridPos;
      expect([x, y, w, h].every(Number.isInteger) && x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 24).toBe(
        true,
      );
      if (p.type === 'row') continue;
      expect(['timeseries', 'stat'], `panel ${p.id}`).toContain(p.type);
      expect(p.title, `panel ${p.id}: title`).toBeTruthy();
      expect(p.datasource?.uid, `panel ${p.id}: datasource`).toBe(placeholder('DS_PROMETHEUS'));
      expect(p.targets?.length, `panel ${p.id}: targets`).toBeGreaterThan(0);
      const refIds = p.targets?.map((t) => t.refId) ?? [];
      expect(new Set(refIds).size, `panel ${p.id}: refIds`).toBe(refIds.length);
      for (const t of p.targets ?? [])
        expect(typeof t.legendFormat, `panel ${p.id}: legendFormat`).toBe('string');
    }
    const visible = dashboard.panels;
    for (const [n, a] of visible.entries())
      for (const b of visible.slice(n + 1)) {
        const overlap =
          a.gridPos.x < b.gridPos.x + b.gridPos.w &&
          b.gridPos.x < a.gridPos.x + a.gridPos.w &&
          a.gridPos.y < b.gridPos.y + b.gridPos.h &&
          b.gridPos.y < a.gridPos.y + a.gridPos.h;
        expect(overlap, `panels ${a.id} and ${b.id} overlap`).toBe(false);
      }
  });
});

interface SentryRules {
  issue_alerts: Record<string, unknown>[];
  metric_alerts: Record<string, unknown>[];
}

const sentryRules = () => JSON.parse(read('deploy/sentry/alert-rules.json')) as SentryRules;

/** The rules with the `${…}` placeholders apply.mjs fills, filled as the runs below set them. */
function filled(): SentryRules {
  const text = read('deploy/sentry/alert-rules.json').replace(
    /\$\{(\w+)\}/g,
    (_, name: string) => ({ SENTRY_PROJECT: 'tickets', SENTRY_TEAM_ID: '42' })[name] ?? `missing ${name}`,
  );
  return JSON.parse(text) as SentryRules;
}

describe('deploy/sentry/alert-rules.json', () => {
  const CONDITIONS = [
    'sentry.rules.conditions.first_seen_event.FirstSeenEventCondition',
    'sentry.rules.conditions.regression_event.RegressionEventCondition',
    'sentry.rules.conditions.reappeared_event.ReappearedEventCondition',
    'sentry.rules.conditions.event_frequency.EventFrequencyCondition',
    'sentry.rules.conditions.event_frequency.EventUniqueUserFrequencyCondition',
  ];

  it('has issue alerts with conditions and actions Sentry knows', () => {
    const { issue_alerts } = sentryRules();
    expect(issue_alerts.length).toBeGreaterThanOrEqual(3);
    expect(new Set(issue_alerts.map((r) => r.name)).size).toBe(issue_alerts.length);
    for (const rule of issue_alerts) {
      const where = String(rule.name);
      expect(rule, where).toMatchObject({
        name: expect.any(String),
        actionMatch: expect.stringMatching(/^(all|any|none)$/),
        filterMatch: expect.stringMatching(/^(all|any|none)$/),
        frequency: expect.any(Number),
        filters: expect.any(Array),
      });
      expect(rule.frequency as number).toBeGreaterThanOrEqual(5);
      const conditions = rule.conditions as Record<string, unknown>[];
      expect(conditions.length, where).toBeGreaterThan(0);
      for (const c of conditions) {
        expect(CONDITIONS, where).toContain(c.id);
        if (String(c.id).includes('event_frequency'))
          expect(c, where).toMatchObject({
            interval: expect.stringMatching(/^(1m|5m|15m|1h|1d|1w|30d)$/),
            value: expect.any(Number),
            comparisonType: 'count',
          });
      }
      const actions = rule.actions as Record<string, unknown>[];
      expect(actions.length, where).toBeGreaterThan(0);
      for (const a of actions)
        expect(a, where).toEqual({
          id: 'sentry.mail.actions.NotifyEmailAction',
          targetType: 'IssueOwners',
          fallthroughType: 'ActiveMembers',
        });
    }
    const ids = issue_alerts.flatMap((r) =>
      (r.conditions as { id: string }[]).map((c) => c.id.split('.').pop()),
    );
    expect(ids).toEqual(
      expect.arrayContaining([
        'FirstSeenEventCondition',
        'EventFrequencyCondition',
        'RegressionEventCondition',
      ]),
    );
  });

  it('has metric alerts with a dataset, an aggregate, a window and a critical trigger', () => {
    const { metric_alerts } = sentryRules();
    expect(metric_alerts.length).toBeGreaterThanOrEqual(4);
    expect(new Set(metric_alerts.map((r) => r.name)).size).toBe(metric_alerts.length);
    for (const rule of metric_alerts) {
      const where = String(rule.name);
      expect(rule, where).toMatchObject({
        name: expect.any(String),
        dataset: expect.stringMatching(/^(events|transactions)$/),
        query: expect.any(String),
        aggregate: expect.stringMatching(/^\w+\([\w.]*\)$/),
        thresholdType: expect.any(Number),
        projects: [placeholder('SENTRY_PROJECT')],
      });
      expect([1, 5, 10, 15, 30, 60, 120, 240, 1440], where).toContain(rule.timeWindow);
      expect([0, 1], where).toContain(rule.thresholdType);
      const triggers = rule.triggers as Record<string, unknown>[];
      expect(
        triggers.map((t) => t.label),
        where,
      ).toContain('critical');
      for (const t of triggers) {
        expect(typeof t.alertThreshold, where).toBe('number');
        for (const a of t.actions as Record<string, unknown>[])
          expect(a, where).toMatchObject({
            type: expect.any(String),
            targetType: expect.any(String),
            targetIdentifier: expect.any(String),
          });
      }
    }
    const purchase = metric_alerts.find((r) => r.aggregate === 'p95(transaction.duration)');
    expect(purchase).toMatchObject({
      dataset: 'transactions',
      query: 'transaction:"POST /api/tickets/purchase"',
    });
  });
});

describe('deploy/sentry/apply.mjs', () => {
  interface Seen {
    method: string;
    path: string;
    auth: string | undefined;
    body: unknown;
  }
  let server: Server;
  let url: string;
  let seen: Seen[] = [];
  /** The pages each list endpoint answers (a Link header points to the next). */
  let lists: Record<string, unknown[][]> = {};
  let refuseWrites = false;

  beforeAll(async () => {
    server = createServer(async (req, res) => {
      let raw = '';
      for await (const chunk of req) raw += chunk;
      const at = new URL(req.url ?? '/', 'http://fake');
      seen.push({
        method: req.method ?? '',
        path: at.pathname,
        auth: req.headers.authorization,
        body: raw ? JSON.parse(raw) : undefined,
      });
      const json = { 'content-type': 'application/json' };
      if (req.method === 'GET') {
        const pages = lists[at.pathname] ?? [[]];
        const page = Number(at.searchParams.get('cursor') ?? 0);
        const next = page + 1 < pages.length ? page + 1 : null;
        const link = next
          ? { link: `<${url}${at.pathname}?cursor=${next}>; rel="next"; results="true"; cursor="${next}"` }
          : {};
        res.writeHead(200, { ...json, ...link }).end(JSON.stringify(pages[page] ?? []));
      } else if (refuseWrites) {
        res.writeHead(400, json).end(JSON.stringify({ aggregate: ['Invalid\nfield'] }));
      } else {
        res
          .writeHead(req.method === 'POST' ? 201 : 200, json)
          .end(JSON.stringify({ id: '1', ...JSON.parse(raw) }));
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const ISSUES = '/api/0/projects/acme/tickets/rules/';
  const METRICS = '/api/0/organizations/acme/alert-rules/';

  async function apply(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    seen = [];
    const env = {
      ...process.env,
      SENTRY_AUTH_TOKEN: 'sntrys_test',
      SENTRY_ORG: 'acme',
      SENTRY_PROJECT: 'tickets',
      SENTRY_TEAM_ID: '42',
    };
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [APPLY, '--url', url, ...args], {
        env,
      });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('creates every rule Sentry does not have, one POST each, with the file’s bodies', async () => {
    lists = {};
    refuseWrites = false;
    const run = await apply();
    expect(run.code, run.stderr).toBe(0);
    const rules = filled();
    expect(seen.filter((s) => s.method === 'GET').map((s) => s.path)).toEqual([ISSUES, METRICS]);
    expect(seen.every((s) => s.auth === 'Bearer sntrys_test')).toBe(true);
    const posts = seen.filter((s) => s.method !== 'GET');
    expect(posts.map((s) => [s.method, s.path])).toEqual([
      ...rules.issue_alerts.map(() => ['POST', ISSUES]),
      ...rules.metric_alerts.map(() => ['POST', METRICS]),
    ]);
    expect(posts.map((s) => s.body)).toEqual([...rules.issue_alerts, ...rules.metric_alerts]);
    expect(JSON.stringify(posts.map((s) => s.body))).not.toContain('${');
    expect(run.stdout.trim().split('\n')).toHaveLength(posts.length);
    expect(run.stdout).toContain('created issue alert "tickets: new issue"');
  });

  it('updates the rules it finds by name (across pages, this project’s only) and creates the rest', async () => {
    const rules = filled();
    const [issue, metric] = [rules.issue_alerts[2]!, rules.metric_alerts[1]!];
    lists = {
      [ISSUES]: [[{ id: '7', name: 'made by hand' }], [{ id: '17', name: issue.name }]],
      [METRICS]: [
        [
          { id: '5', name: metric.name, projects: ['other'] },
          { id: '9', name: metric.name, projects: ['tickets'] },
        ],
      ],
    };
    refuseWrites = false;
    const run = await apply();
    expect(run.code, run.stderr).toBe(0);
    const writes = seen.filter((s) => s.method !== 'GET');
    expect(writes.filter((s) => s.method === 'PUT').map((s) => [s.path, s.body])).toEqual([
      [`${ISSUES}17/`, issue],
      [`${METRICS}9/`, metric],
    ]);
    expect(writes.filter((s) => s.method === 'POST')).toHaveLength(
      rules.issue_alerts.length + rules.metric_alerts.length - 2,
    );
    expect(run.stdout).toContain(`updated metric alert "${metric.name}"`);
  });

  it('--dry-run reads and prints, and writes nothing', async () => {
    lists = { [ISSUES]: [[{ id: '17', name: filled().issue_alerts[0]!.name }]] };
    const run = await apply('--dry-run');
    expect(run.code, run.stderr).toBe(0);
    expect(seen.every((s) => s.method === 'GET')).toBe(true);
    expect(run.stdout).toContain(`would PUT ${url}${ISSUES}17/ `);
    expect(run.stdout).toContain(`would POST ${url}${METRICS} `);
  });

  it('exits 1 with one line when Sentry refuses', async () => {
    lists = {};
    refuseWrites = true;
    const run = await apply();
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/POST projects\/acme\/tickets\/rules\/: HTTP 400/);
  });
});
