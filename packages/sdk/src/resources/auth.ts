import type { Tickets } from '../client.js';
import type {
  FacebookLoginInput,
  GoogleLoginInput,
  LoginInput,
  PasswordResetInput,
  PasswordResetRequested,
  RegisterInput,
  Session,
} from '../contract/accounts.js';
import { routes } from '../contract/routes.js';

/** Sign-up and sign-in. Each successful call also makes the client use the new session. */
export class AuthResource {
  constructor(private readonly client: Tickets) {}

  private async session(p: Promise<Session>): Promise<Session> {
    const session = await p;
    await this.client.setSession(session);
    return session;
  }

  /**
   * Creates a user and an organization it owns.
   * @example await tickets.auth.register({ email: 'ann@example.com', password: '…', name: 'Ann' })
   */
  register(input: RegisterInput): Promise<Session> {
    return this.session(this.client.request(routes.auth.register, { body: input }));
  }

  /** Signs in with e-mail and password. */
  login(input: LoginInput): Promise<Session> {
    return this.session(this.client.request(routes.auth.login, { body: input }));
  }

  /** Exchanges a refresh token for new tokens, optionally switching organization. */
  refresh(refreshToken: string, organizationId?: string): Promise<Session> {
    return this.session(
      this.client.request(routes.auth.refresh, {
        body: { refresh_token: refreshToken, organization_id: organizationId },
      }),
    );
  }

  /** Revokes the refresh token and every token rotated from it. */
  async logout(refreshToken: string): Promise<void> {
    await this.client.request(routes.auth.logout, { body: { refresh_token: refreshToken } });
  }

  /**
   * E-mails a single-use password reset token (valid for an hour) if an account has this address; the
   * answer is the same either way.
   * @example await tickets.auth.requestPasswordReset('ann@example.com')
   */
  requestPasswordReset(email: string): Promise<PasswordResetRequested> {
    return this.client.request(routes.auth.requestPasswordReset, { body: { email } });
  }

  /**
   * Sets a new password with the e-mailed token; every session of the account ends (sign in again).
   * @example await tickets.auth.resetPassword({ token: 'pwr_…', password: '…' })
   */
  async resetPassword(input: PasswordResetInput): Promise<void> {
    await this.client.request(routes.auth.resetPassword, { body: input });
  }

  /** Signs in (or up) with a Google ID token. */
  google(input: GoogleLoginInput): Promise<Session> {
    return this.session(this.client.request(routes.auth.google, { body: input }));
  }

  /** Signs in (or up) with a Facebook user access token. */
  facebook(input: FacebookLoginInput): Promise<Session> {
    return this.session(this.client.request(routes.auth.facebook, { body: input }));
  }
}
