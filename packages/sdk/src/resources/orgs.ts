import type { RequestOptions, Tickets } from '../client.js';
import type {
  CorsSettings,
  Invitation,
  InvitationCreateInput,
  Member,
  Membership,
  Organization,
  OrganizationUpdateInput,
  Role,
} from '../contract/accounts.js';
import type { Deleted } from '../contract/common.js';
import { routes } from '../contract/routes.js';
import { AutoPaginator } from '../pagination.js';

export interface ListParams {
  limit?: number;
}

/** The caller's organization: its members and invitations. */
export class OrgsResource {
  constructor(private readonly client: Tickets) {}

  get(): Promise<Organization> {
    return this.client.request(routes.orgs.get);
  }

  /**
   * Renames the organization or sets its contact address, the Reply-To of every e-mail it sends (null:
   * its first owner's). Owners and admins only.
   * @example await tickets.orgs.update({ contact_email: 'hello@bluenote.example' })
   */
  update(input: OrganizationUpdateInput, options?: RequestOptions): Promise<Organization> {
    return this.client.request(routes.orgs.update, { body: input }, options);
  }

  /** The web origins whose pages may use the organization's publishable keys (CORS). */
  cors(): Promise<CorsSettings> {
    return this.client.request(routes.orgs.cors);
  }

  /** @example await tickets.orgs.setAllowedOrigins(['https://shop.example.com']) */
  setAllowedOrigins(origins: string[]): Promise<CorsSettings> {
    return this.client.request(routes.orgs.updateCors, { body: { allowed_origins: origins } });
  }

  /** @example for await (const m of tickets.orgs.listMembers()) console.log(m.user.email, m.role) */
  listMembers(params: ListParams = {}): AutoPaginator<Member> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.orgs.listMembers, { query: { ...params, starting_after: cursor } }),
    );
  }

  updateMember(userId: string, role: Role): Promise<Member> {
    return this.client.request(routes.orgs.updateMember, { params: { id: userId }, body: { role } });
  }

  removeMember(userId: string): Promise<Deleted> {
    return this.client.request(routes.orgs.removeMember, { params: { id: userId } });
  }

  /** Invites by e-mail; the returned invitation's `token` is what the invitee accepts with. */
  invite(input: InvitationCreateInput): Promise<Invitation> {
    return this.client.request(routes.orgs.invite, { body: input });
  }

  listInvitations(params: ListParams = {}): AutoPaginator<Invitation> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.orgs.listInvitations, { query: { ...params, starting_after: cursor } }),
    );
  }

  revokeInvitation(id: string): Promise<Invitation> {
    return this.client.request(routes.orgs.revokeInvitation, { params: { id } });
  }

  /** Joins the organization that invited the signed-in user. */
  acceptInvitation(token: string): Promise<Membership> {
    return this.client.request(routes.orgs.acceptInvitation, { body: { token } });
  }
}
