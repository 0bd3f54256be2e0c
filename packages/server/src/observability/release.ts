import { readFileSync } from 'node:fs';

/** The server's version (its package's). */
export const VERSION = '0.1.0';

/**
 * This build's release, as Sentry names it: `tickets@<version>+<git sha>`. The sha is written at build
 * time into dist/build-info.json (`pnpm build` runs scripts/build-info.mjs); a build without it (plain
 * `tsc -b` in a checkout) is `+dev`. SENTRY_RELEASE overrides it.
 */
export function release(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SENTRY_RELEASE) return env.SENTRY_RELEASE;
  let sha = 'dev';
  try {
    const info = JSON.parse(readFileSync(new URL('../build-info.json', import.meta.url), 'utf8')) as {
      sha?: string;
    };
    if (info.sha) sha = info.sha;
  } catch {
    // Not written: a development build.
  }
  return `tickets@${VERSION}+${sha}`;
}
