// The signed-in token. It lives in sessionStorage: it goes with the tab, never into a cookie or
// the address bar, and is never handed to a plugin page.

const KEY = "plugboard.token";

type Listener = (reason: string | null) => void;
const listeners = new Set<Listener>();

export function readToken(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function storeToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

/** Forgets the token and tells the app why (null: the user signed out). */
export function clearToken(reason: string | null): void {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    // Storage refused: nothing to forget.
  }
  for (const listener of listeners) listener(reason);
}

export function onTokenCleared(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
