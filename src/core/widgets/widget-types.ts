/** The end user a widget token acts for: the app that issued it and the customer's id of the person. */
export interface EndUserScope {
  appId: string;
  endUserId: string;
}

/** A widget token's caller: its end user, and the token's id (its env and secrets are kept under it). */
export interface EndUserCaller extends EndUserScope {
  tokenId: string;
}

/** Environment variables and secrets, by name. */
export interface Variables {
  env: Record<string, string>;
  secrets: Record<string, string>;
}

/** A widget app as stored: its env and secrets sealed, its secret as a hash only. */
export interface WidgetAppRecord {
  id: string;
  userId: string;
  name: string;
  /** Browser origins (`https://shop.example`) whose pages may use the app's tokens. */
  allowedOrigins: string[];
  /** The agent the app's tasks run as; null for the owner's default agent. */
  agentId: string | null;
  /** Whether tools run without asking; null for the agent's setting. */
  autoExecute: boolean | null;
  /** `{env, secrets}` as JSON, sealed; null when both are empty. */
  sealedVariables: string | null;
  /** SHA-256 of the app secret (hex). */
  secretHash: string;
  /** Counts secret rotations; a token names the generation it was issued under. */
  generation: number;
  createdAt: string;
  updatedAt: string;
}

/** A widget app as its owner sees it: names of its env and secrets, never their values. */
export interface WidgetApp {
  id: string;
  userId: string;
  name: string;
  allowedOrigins: string[];
  agentId: string | null;
  autoExecute: boolean | null;
  envNames: string[];
  secretNames: string[];
  createdAt: string;
  updatedAt: string;
}
