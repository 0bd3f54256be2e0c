/**
 * A local SMTP server standing in for a relay (e.g. SendGrid's `smtp.sendgrid.net`, INTEGRATIONS.md "SendGrid"),
 * built on the `smtp-server` package; every accepted message is parsed back with `mailparser`.
 *
 * What it imitates, and where it differs from a real relay:
 * - Plain SMTP on 127.0.0.1 with AUTH PLAIN/LOGIN over the unencrypted connection (`allowInsecureAuth`) and no
 *   STARTTLS, so a client using `smtp://user:pass@…` logs in without TLS. AUTH is optional here; a wrong
 *   user or password gets `535`, as from a real relay.
 * - `failNext` refuses the next messages with a chosen reply code, at RCPT TO (as a relay refusing a
 *   recipient) or after DATA (as one refusing the content): e.g. `451` (try later) or `550` (never).
 * - Nothing is relayed anywhere; no size limit, no SPF/DKIM checks, no queue.
 */
import type { AddressInfo } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerEnvelope } from 'smtp-server';

export interface FakeSmtpMessage {
  envelope: SMTPServerEnvelope;
  parsed: ParsedMail;
  /** The message as received, for tests that look at raw headers. */
  raw: Buffer;
  /** The user the client logged in as, if it did. */
  user?: string;
}

export interface FakeSmtp {
  /** `smtp://user:pass@127.0.0.1:PORT`, with this server's credentials. */
  url: string;
  port: number;
  user: string;
  pass: string;
  messages: FakeSmtpMessage[];
  /** Refuses the next `n` messages with `code` and `message`, at RCPT TO or (default) after DATA. */
  failNext(n: number, code: number, message?: string, stage?: 'rcpt' | 'data'): void;
  close(): Promise<void>;
}

export async function startFakeSmtp(opts: { user?: string; pass?: string } = {}): Promise<FakeSmtp> {
  const user = opts.user ?? 'user';
  const pass = opts.pass ?? 'pass';
  const messages: FakeSmtpMessage[] = [];
  let failures: { remaining: number; code: number; message: string; stage: 'rcpt' | 'data' } | null = null;

  /** The planned refusal for this stage, if one is left. */
  function takeFailure(stage: 'rcpt' | 'data'): Error | null {
    if (!failures || failures.stage !== stage || failures.remaining <= 0) return null;
    failures.remaining--;
    return Object.assign(new Error(failures.message), { responseCode: failures.code });
  }

  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authOptional: true,
    logger: false,
    // Connections a pooled client keeps open are dropped at close() after this, not 30 s.
    closeTimeout: 100,
    onAuth(auth, _session, callback) {
      if (auth.username === user && auth.password === pass) return callback(null, { user: auth.username });
      callback(Object.assign(new Error('Authentication credentials invalid'), { responseCode: 535 }));
    },
    onRcptTo(_address, _session, callback) {
      callback(takeFailure('rcpt'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', (err) => callback(err));
      stream.on('end', () => {
        const failure = takeFailure('data');
        if (failure) return callback(failure);
        const raw = Buffer.concat(chunks);
        // keepCidLinks: leave `cid:` references in the HTML as sent (mailparser inlines them as data: URLs).
        simpleParser(raw, { keepCidLinks: true }).then(
          (parsed) => {
            messages.push({
              envelope: structuredClone(session.envelope),
              parsed,
              raw,
              ...(session.user ? { user: String(session.user) } : {}),
            });
            callback(null, 'Ok: queued');
          },
          (err: Error) => callback(err),
        );
      });
    },
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;

  return {
    url: `smtp://${encodeURIComponent(user)}:${encodeURIComponent(pass)}@127.0.0.1:${port}`,
    port,
    user,
    pass,
    messages,
    failNext(
      n,
      code,
      message = code < 500 ? 'Try again later' : 'Requested action not taken',
      stage = 'data',
    ) {
      failures = { remaining: n, code, message, stage };
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
