import { createContext, useContext } from 'react';
import type { ApiClient } from './api/client';

export interface AuthControls {
  /** Who is signed in, for the header (absent when the host app manages sign-in). */
  userName?: string;
  signOut?: () => void;
  /** Called when the API refuses the token (expired, or signed by another secret). */
  onUnauthorized?: () => void;
}

export interface HubContextValue {
  api: ApiClient;
  auth: AuthControls;
}

export const HubContext = createContext<HubContextValue | null>(null);

export function useHub(): HubContextValue {
  const value = useContext(HubContext);
  if (!value) throw new Error('useHub must be used inside <ImportHub>');
  return value;
}
