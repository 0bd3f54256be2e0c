// node scripts/build-info.mjs: writes packages/server/dist/build-info.json ({ sha, built_at }) after the
// build, so the server names its release `tickets@<version>+<sha>` (Sentry; observability/release.ts).
// Outside a git checkout (a tarball) the sha is GIT_SHA's, or none.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let sha = process.env.GIT_SHA ?? null;
if (!sha)
  try {
    sha = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    sha = null;
  }
const out = join(root, 'packages/server/dist/build-info.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify({ sha, built_at: new Date().toISOString() })}\n`);
console.log(`build-info: ${sha ?? 'no git sha'}`);
