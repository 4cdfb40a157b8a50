import { Api } from './api.js';

export interface CreatedApp {
  id: string;
  appSecret: string;
  [field: string]: unknown;
}

/** Widget apps made through the API with the owner's key, and tokens for their end users. */
export class WidgetAppsApi {
  constructor(readonly owner: Api) {}

  async create(settings: Record<string, unknown>): Promise<CreatedApp> {
    const response = await this.owner.post('/api/v1/widget-apps', settings);
    if (response.status !== 201) throw new Error(`creating a widget app failed: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body.data;
  }

  /** A token for `endUserId`, exchanged as a customer's backend would, and an Api that uses it. */
  async endUser(app: { id: string; appSecret: string }, endUserId: string, extra: Record<string, unknown> = {}): Promise<Api> {
    const response = await new Api(this.owner.baseUrl, null).post('/api/v1/auth/token', { appId: app.id, appSecret: app.appSecret, endUserId, ...extra });
    if (response.status !== 200) throw new Error(`token exchange failed: ${response.status} ${JSON.stringify(response.body)}`);
    return new Api(this.owner.baseUrl, response.body.data.token);
  }
}
