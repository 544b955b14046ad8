import type { GetToken } from './api/client';
import type { OidcSettings } from './auth/oidc';

/** What an embedding app passes to `mountImportHub`. */
export interface HubOptions {
  /** The callsync API's base URL (`''` = same origin). */
  apiBaseUrl: string;
  /** Returns the bearer token of the signed-in user. */
  getToken: GetToken;
  /** Path the hub lives under in the host app (default `/`). */
  basename?: string;
}

/** config.json beside index.html, for the standalone build. */
export interface StandaloneConfig {
  apiBaseUrl?: string;
  oidc?: OidcSettings;
}

export async function loadStandaloneConfig(url = 'config.json'): Promise<StandaloneConfig> {
  try {
    const response = await fetch(new URL(url, document.baseURI), { headers: { Accept: 'application/json' } });
    if (!response.ok) return {};
    return (await response.json()) as StandaloneConfig;
  } catch {
    return {};
  }
}
