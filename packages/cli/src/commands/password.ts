import type { Command } from 'commander';
import { Context } from '../context.js';
import { EXIT, UsageError } from '../errors.js';
import { askFor, type Factory, factoryOf } from '../factory.js';
import { examples } from '../help.js';
import { io } from '../io.js';
import { readStdin } from '../prompt.js';
import { apiUrlFor } from './auth.js';

export interface PasswordForgotOptions {
  email?: string;
  apiUrl?: string;
}

export interface PasswordResetOptions {
  token?: string;
  password?: string;
  passwordStdin: boolean;
  apiUrl?: string;
}

/** `tickets password forgot`: asks the server to e-mail a reset token. */
export async function passwordForgotRun(f: Factory, o: PasswordForgotOptions): Promise<number> {
  const url = await apiUrlFor(f.ctx, o.apiUrl);
  const email = await askFor(f, o.email, { flag: '--email', message: 'E-mail of the account' });
  const client = await f.ctx.newClient(url, {});
  const answer = await f.out.spin('Asking…', client.auth.requestPasswordReset(email));
  await f.out.result(answer, (a) => {
    f.out.success(
      `If an account has ${a.email}, a reset token is on its way to it (valid ${Math.round(a.expires_in_seconds / 60)} minutes).`,
    );
    f.out.info(`Then: tickets password reset --token pwr_…${o.apiUrl ? ` --api-url ${url}` : ''}`);
  });
  return EXIT.ok;
}

/** `tickets password reset`: sets a new password with the e-mailed token. */
export async function passwordResetRun(f: Factory, o: PasswordResetOptions): Promise<number> {
  if (o.password && o.passwordStdin) throw new UsageError('use either --password or --password-stdin');
  const url = await apiUrlFor(f.ctx, o.apiUrl);
  const token = await askFor(f, o.token, { flag: '--token', message: 'Reset token (pwr_… from the e-mail)' });
  const typed = o.passwordStdin ? await readStdin(f.io.stdin) : o.password;
  const password = await askFor(f, typed, { flag: '--password', message: 'New password', secret: true });
  const client = await f.ctx.newClient(url, {});
  await f.out.spin('Changing your password…', client.auth.resetPassword({ token, password }));
  await f.out.result({ object: 'password_reset', reset: true }, () => {
    f.out.success('Password changed. Every session of the account has ended.');
    f.out.info(`Log in again: tickets login --email <your e-mail>${o.apiUrl ? ` --api-url ${url}` : ''}`);
  });
  return EXIT.ok;
}

export function registerPassword(program: Command): void {
  const password = program
    .command('password')
    .description('Forgot your password? Get a reset token by e-mail, then set a new one');
  examples(
    password,
    'tickets password forgot --email ann@example.com',
    'tickets password reset --token pwr_…',
  );

  examples(
    password
      .command('forgot')
      .description('E-mail a single-use reset token (valid one hour) to the account with this address')
      .option('--email <email>', "the account's e-mail address")
      .option('--api-url <url>', 'the tickets server (default: the profile’s)')
      .action(async (flags: PasswordForgotOptions, cmd: Command) => {
        io().exitCode = await passwordForgotRun(factoryOf(Context.of(cmd)), flags);
      }),
    'tickets password forgot --email ann@example.com',
  );

  examples(
    password
      .command('reset')
      .description('Set a new password with the e-mailed token; every session of the account ends')
      .option('--token <token>', 'the token from the e-mail (pwr_…)')
      .option('--password <password>', 'the new password, at least 10 characters (prefer the prompt)')
      .option('--password-stdin', 'read the new password from stdin')
      .option('--api-url <url>', 'the tickets server (default: the profile’s)')
      .action(
        async (
          flags: Omit<PasswordResetOptions, 'passwordStdin'> & { passwordStdin?: boolean },
          cmd: Command,
        ) => {
          io().exitCode = await passwordResetRun(factoryOf(Context.of(cmd)), {
            ...flags,
            passwordStdin: Boolean(flags.passwordStdin),
          });
        },
      ),
    'tickets password reset --token pwr_…',
    'tickets password reset --token pwr_… --password-stdin < new-password.txt',
  );
}
