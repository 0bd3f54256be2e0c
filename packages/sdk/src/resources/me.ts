import type { Tickets } from '../client.js';
import type { Me } from '../contract/accounts.js';
import { routes } from '../contract/routes.js';

export class MeResource {
  constructor(private readonly client: Tickets) {}

  /** Who the credential belongs to and which organization it acts in. */
  get(): Promise<Me> {
    return this.client.request(routes.me.get);
  }
}
