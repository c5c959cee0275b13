// The signed-in session: the token, what it may do, and signing in and out.

import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { endpoints } from "../api/endpoints";
import { ApiProblem, errorText } from "../api/problem";
import { clearToken, onTokenCleared, readToken, storeToken } from "../api/token";
import type { Session } from "../api/types";
import { abilitiesOf, type Abilities } from "./abilities";

interface SessionState {
  token: string | null;
  session: Session | null;
  can: Abilities | null;
  /** Why the user is at the sign-in page (an expired token, a 401). */
  message: string | null;
  loading: boolean;
  signIn: (token: string) => Promise<void>;
  signOut: () => Promise<void>;
}

const SessionContext = createContext<SessionState | null>(null);

/** Until the server has `GET /api/v1/session`: the admin token is not `pb_…`. */
function guessSession(token: string): Session {
  return token.startsWith("pb_")
    ? { access: "read", tenant: null, token: null }
    : { access: "admin", tenant: null, token: null };
}

async function loadSession(token: string): Promise<Session> {
  try {
    return await endpoints.session();
  } catch (error) {
    if (error instanceof ApiProblem && (error.status === 404 || error.status === 405)) return guessSession(token);
    throw error;
  }
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [token, setToken] = useState<string | null>(() => readToken());
  const [session, setSession] = useState<Session | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const [loading, setLoading] = useState<boolean>(() => readToken() !== null);

  useEffect(
    () =>
      onTokenCleared((reason) => {
        setToken(null);
        setSession(null);
        setLoading(false);
        setMessage(reason);
        queryClient.clear();
      }),
    [queryClient],
  );

  // A token from an earlier visit of this tab: ask what it may do.
  useEffect(() => {
    const stored = readToken();
    if (!stored) return;
    let live = true;
    loadSession(stored)
      .then((loaded) => live && setSession(loaded))
      .catch((error) => {
        if (!live) return;
        if (!(error instanceof ApiProblem && error.status === 401)) clearToken(errorText(error));
      })
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, []);

  const signIn = useCallback(async (newToken: string) => {
    storeToken(newToken);
    try {
      const loaded = await loadSession(newToken);
      setToken(newToken);
      setSession(loaded);
      setMessage(null);
    } catch (error) {
      clearToken(null);
      throw error;
    }
  }, []);

  const signOut = useCallback(async () => {
    // Revokes a session token; harmless for other tokens.
    await endpoints.signOut().catch(() => undefined);
    clearToken(null);
  }, []);

  const value = useMemo<SessionState>(
    () => ({ token, session, can: session ? abilitiesOf(session) : null, message, loading, signIn, signOut }),
    [token, session, message, loading, signIn, signOut],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionState {
  const state = useContext(SessionContext);
  if (!state) throw new Error("useSession outside SessionProvider");
  return state;
}

/** What the token may do; only inside the signed-in part of the app. */
export function useCan(): Abilities {
  const { can } = useSession();
  if (!can) throw new Error("useCan before sign-in");
  return can;
}
