import { Password } from '@tickets/sdk';
import { Reply } from '../../http/app.js';
import { ApiError } from '../../http/errors.js';
import type { PasswordResets } from './password-reset.js';

// The page the e-mailed reset link opens, for a person without the CLI at hand. Plain HTML with a form
// (the API's Content-Security-Policy allows no script): opening it changes nothing, so a mail scanner
// following the link cannot use the token; posting the form sets the password, once.

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(status: number, body: string): Reply {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="referrer" content="no-referrer"><title>Reset your password</title></head>
<body style="font-family:sans-serif;max-width:420px;margin:48px auto;padding:0 16px">${body}</body></html>`;
  return new Reply(status, Buffer.from(html), { 'content-type': 'text/html; charset=utf-8' });
}

function form(problem?: string): Reply {
  return page(
    problem ? 422 : 200,
    `<h1>Choose a new password</h1>
${problem ? `<p role="alert" style="color:#b00020">${escapeHtml(problem)}</p>` : ''}
<form method="post">
<p><label>New password<br><input type="password" name="password" autocomplete="new-password" minlength="10" required style="width:100%"></label></p>
<p><label>Once more<br><input type="password" name="confirm" autocomplete="new-password" minlength="10" required style="width:100%"></label></p>
<p><button type="submit">Set the password</button></p>
</form>
<p style="color:#666">At least 10 characters. Every session of the account ends when it is changed.</p>`,
  );
}

export function resetPage(): Reply {
  return form();
}

/** The form posted: the password set (the token used up), or the form again saying what was wrong. */
export async function resetFromForm(
  resets: PasswordResets,
  token: string,
  raw: Buffer | null,
  via?: { requestId: string; ip: string },
): Promise<Reply> {
  const fields = new URLSearchParams(raw?.toString('utf8') ?? '');
  const password = fields.get('password') ?? '';
  if (password !== (fields.get('confirm') ?? ''))
    return form('The two passwords differ; type the same one twice.');
  const checked = Password.safeParse(password);
  if (!checked.success) return form(`The password ${checked.error.issues[0]?.message ?? 'is not valid'}.`);
  try {
    await resets.reset(token, password, via);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    const why = err.errors?.[0];
    if (why?.path === 'token')
      return page(
        400,
        '<h1>This link no longer works</h1><p>It was used already, or is more than an hour old. Ask for a new one (<code>tickets password forgot</code>).</p>',
      );
    return form(why ? `The ${why.path} ${why.message}.` : err.detail);
  }
  return page(
    200,
    '<h1>Your password is set</h1><p>Sign in with it now (<code>tickets login</code>). Every earlier session has ended.</p>',
  );
}
