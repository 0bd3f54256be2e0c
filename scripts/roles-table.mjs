// pnpm docs:roles: writes the role matrix (who may call each route) into the README, between
// <!-- roles:start --> and <!-- roles:end -->, from the contract's routes and the server's grants
// (packages/server/src/modules/accounts/permissions.ts). test/security/roles.test.ts fails when the
// README's copy differs from what this would write.
import { readFileSync, writeFileSync } from 'node:fs';
import { routes } from '@tickets/sdk';
import { roleMatrixMarkdown } from '../packages/server/dist/modules/accounts/permissions.js';

const file = new URL('../README.md', import.meta.url);
const readme = readFileSync(file, 'utf8');
const marked = /(<!-- roles:start -->\n)[\s\S]*?(\n<!-- roles:end -->)/;
if (!marked.test(readme)) {
  console.error('README.md has no <!-- roles:start --> … <!-- roles:end --> section');
  process.exit(1);
}
writeFileSync(
  file,
  readme.replace(marked, (_, start, end) => `${start}${roleMatrixMarkdown(routes)}${end}`),
);
console.log('README.md: role matrix updated');
