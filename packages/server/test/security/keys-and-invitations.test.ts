// A key never does more than the member who made it may do now: demote them and the key loses what they
// lost, remove them and their keys are revoked. An invitation's link does not reveal the invitee's
// address to whoever else holds it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, signUp, startTestServer, type TestServer } from '../harness.js';

describe('sqlite: API keys follow their creator; invitations keep their address', () => {
  let server: TestServer;
  let call: ReturnType<typeof http>;
  let owner: Awaited<ReturnType<typeof signUp>>;
  let n = 0;

  beforeAll(async () => {
    server = await startTestServer('sqlite');
    call = http(server.url);
    owner = await signUp(server.url);
  });
  afterAll(() => server?.stop());

  /** A new member of the owner's organization with `role`, acting in it. */
  async function member(role: 'admin' | 'staff') {
    const email = `member${++n}-${Date.now()}@example.com`;
    const invite = await call('POST', '/api/org/invitations', { token: owner.token, body: { email, role } });
    expect(invite.status).toBe(201);
    const own = await call('POST', '/api/auth/register', {
      body: { email, password: 'correct horse battery staple', name: 'Member' },
    });
    const accept = await call('POST', '/api/invitations/accept', {
      token: own.body.access_token,
      body: { token: invite.body.token },
    });
    expect(accept.status).toBe(200);
    const session = await call('POST', '/api/auth/refresh', {
      body: { refresh_token: own.body.refresh_token, organization_id: owner.session.organization.id },
    });
    return { userId: session.body.user.id as string, token: session.body.access_token as string };
  }

  async function keyOf(token: string) {
    const created = await call('POST', '/api/api-keys', { token, body: { name: 'Shop', scopes: ['full'] } });
    expect(created.status).toBe(201);
    return { id: created.body.id as string, secret: created.body.secret as string };
  }

  it("loses what its creator loses: an admin's full key reads no sales once they are staff", async () => {
    const admin = await member('admin');
    const key = await keyOf(admin.token);
    expect((await call('GET', '/api/orders', { token: key.secret })).status).toBe(200);
    const demoted = await call('PUT', `/api/org/members/${admin.userId}`, {
      token: owner.token,
      body: { role: 'staff' },
    });
    expect(demoted.status).toBe(200);
    const after = await call('GET', '/api/orders', { token: key.secret });
    expect(after.status).toBe(403);
    expect(after.body.code).toBe('insufficient_permission');
    // What staff may do, the key still may.
    expect((await call('GET', '/api/events', { token: key.secret })).status).toBe(200);
  });

  it("revokes a member's keys when they are removed", async () => {
    const admin = await member('admin');
    const key = await keyOf(admin.token);
    const removed = await call('DELETE', `/api/org/members/${admin.userId}`, { token: owner.token });
    expect(removed.status).toBe(200);
    const after = await call('GET', '/api/events', { token: key.secret });
    expect(after.status).toBe(401);
    expect(after.body.code).toBe('invalid_api_key');
    const listed = await call('GET', '/api/api-keys', { token: owner.token });
    const row = listed.body.data.find((k: { id: string }) => k.id === key.id);
    expect(row.revoked_at).not.toBeNull();
  });

  it("shows only a masked address to someone else holding the invitation's link", async () => {
    const invite = await call('POST', '/api/org/invitations', {
      token: owner.token,
      body: { email: 'bob.builder@example.com', role: 'staff' },
    });
    const stranger = await signUp(server.url);
    const accept = await call('POST', '/api/invitations/accept', {
      token: stranger.token,
      body: { token: invite.body.token },
    });
    expect(accept.status).toBe(403);
    expect(accept.body.code).toBe('invitation_email_mismatch');
    expect(accept.body.detail).toContain('b•••@example.com');
    expect(JSON.stringify(accept.body)).not.toContain('bob.builder');
  });
});
