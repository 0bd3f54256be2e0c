// pnpm sourcemaps: gathers the server's built JavaScript and its source maps (the build emits them next
// to each file) into build/sourcemaps/<release>/, and prints the sentry-cli commands that upload them
// under the release the server reports, so Sentry shows stack frames in the TypeScript sources.
// Run `pnpm build` first (it writes the git sha the release is named by).
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'packages/server/dist');
if (!existsSync(join(dist, 'main.js'))) {
  console.error('packages/server/dist is not built: run pnpm build first');
  process.exit(1);
}
const { version } = JSON.parse(readFileSync(join(root, 'packages/server/package.json'), 'utf8'));
let sha = 'dev';
try {
  sha = JSON.parse(readFileSync(join(dist, 'build-info.json'), 'utf8')).sha ?? 'dev';
} catch {}
const release = process.env.SENTRY_RELEASE ?? `tickets@${version}+${sha}`;
const out = join(root, 'build/sourcemaps', release);
rmSync(out, { recursive: true, force: true });
let files = 0;
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (/\.js(\.map)?$/.test(name)) {
      const to = join(out, relative(dist, path));
      mkdirSync(dirname(to), { recursive: true });
      cpSync(path, to);
      files++;
    }
  }
};
walk(dist);
console.log(`${files} files for ${release} in ${relative(root, out)}`);
console.log(
  'Upload them with sentry-cli (npm install -g @sentry/cli; SENTRY_AUTH_TOKEN, SENTRY_ORG, SENTRY_PROJECT set):',
);
console.log(`  sentry-cli sourcemaps inject ${relative(root, out)}`);
console.log(`  sentry-cli sourcemaps upload --release '${release}' ${relative(root, out)}`);
