import type { Tickets } from '../client.js';
import type { ApiKey, ApiKeyCreated, ApiKeyCreateInput } from '../contract/accounts.js';
import { routes } from '../contract/routes.js';
import { AutoPaginator } from '../pagination.js';
import type { ListParams } from './orgs.js';

export class ApiKeysResource {
  constructor(private readonly client: Tickets) {}

  /**
   * Creates a key; `secret` is in this response only.
   * @example const { secret } = await tickets.apiKeys.create({ name: 'Door 1', scopes: ['checkin'] })
   */
  create(input: ApiKeyCreateInput): Promise<ApiKeyCreated> {
    return this.client.request(routes.apiKeys.create, { body: input });
  }

  list(params: ListParams = {}): AutoPaginator<ApiKey> {
    return new AutoPaginator((cursor) =>
      this.client.request(routes.apiKeys.list, { query: { ...params, starting_after: cursor } }),
    );
  }

  revoke(id: string): Promise<ApiKey> {
    return this.client.request(routes.apiKeys.revoke, { params: { id } });
  }
}
