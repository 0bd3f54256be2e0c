import { routes } from '@tickets/sdk';
import { type App, Reply } from '../../http/app.js';
import type { ApiKeys } from './api-keys.js';
import type { Auth } from './auth.js';
import type { Members } from './members.js';
import type { PasswordResets } from './password-reset.js';
import { resetFromForm, resetPage } from './reset-page.js';
import type { FacebookVerifier, GoogleVerifier } from './social.js';

export function accountRoutes(
  app: App,
  deps: {
    auth: Auth;
    members: Members;
    passwordResets: PasswordResets;
    apiKeys: ApiKeys;
    google: GoogleVerifier;
    facebook: FacebookVerifier;
  },
): void {
  const { auth, members, apiKeys } = deps;
  app.handle(routes.auth.register, async ({ body, ip, requestId }) => {
    await auth.registrationAllowed(body.email, ip);
    return new Reply(201, await auth.register(body, { requestId, ip }));
  });
  // Sign-ins have no principal yet: the audit log records the request and address they came with.
  app.handle(routes.auth.login, ({ body, ip, requestId }) => auth.login(body, { requestId, ip }));
  app.handle(routes.auth.refresh, ({ body, ip, requestId }) => auth.refresh(body, { requestId, ip }));
  app.handle(routes.auth.logout, async ({ body }) => {
    await auth.logout(body.refresh_token);
    return undefined;
  });
  app.handle(
    routes.auth.requestPasswordReset,
    async ({ body, ip }) => new Reply(202, await deps.passwordResets.request(body.email, ip)),
  );
  app.handle(routes.auth.resetPassword, async ({ body, ip, requestId }) => {
    await deps.passwordResets.reset(body.token, body.password, { requestId, ip });
    return undefined;
  });
  app.handle(routes.auth.passwordResetPage, async () => resetPage());
  app.handle(routes.auth.passwordResetForm, ({ query, rawBody, ip, requestId }) =>
    resetFromForm(deps.passwordResets, query.token, rawBody, { requestId, ip }),
  );
  app.handle(routes.auth.google, async ({ body, ip, requestId }) =>
    auth.socialLogin(await deps.google.verify(body.id_token), body.organization_id, { requestId, ip }),
  );
  app.handle(routes.auth.facebook, async ({ body, ip, requestId }) =>
    auth.socialLogin(await deps.facebook.verify(body.access_token), body.organization_id, {
      requestId,
      ip,
    }),
  );

  app.handle(routes.me.get, ({ principal }) => auth.me(principal));

  app.handle(routes.orgs.get, ({ principal }) => members.organization(principal.orgId));
  app.handle(routes.orgs.update, ({ principal, body }) => members.updateOrganization(principal, body));
  app.handle(routes.orgs.listMembers, ({ principal, query }) => members.list(principal.orgId, query));
  app.handle(routes.orgs.updateMember, ({ principal, params, body }) =>
    members.updateRole(principal, params.id, body.role),
  );
  app.handle(routes.orgs.removeMember, ({ principal, params }) => members.remove(principal, params.id));
  app.handle(routes.orgs.listInvitations, ({ principal, query }) =>
    members.listInvitations(principal.orgId, query),
  );
  app.handle(routes.orgs.invite, ({ principal, body }) => members.invite(principal, body));
  app.handle(routes.orgs.revokeInvitation, ({ principal, params }) =>
    members.revokeInvitation(principal, params.id),
  );
  app.handle(routes.orgs.acceptInvitation, ({ principal, body }) =>
    members.accept(principal.kind === 'user' ? principal.userId : '', body.token, principal.via),
  );

  app.handle(routes.apiKeys.list, ({ principal, query }) => apiKeys.list(principal.orgId, query));
  app.handle(routes.apiKeys.create, ({ principal, body }) => apiKeys.create(principal, body));
  app.handle(routes.apiKeys.revoke, ({ principal, params }) => apiKeys.revoke(principal, params.id));
}
