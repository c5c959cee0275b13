// Sign in by pasting a token, or with the one-time link `plugboard serve` prints
// (`/#/sign-in?code=CODE`), which is exchanged for a session token and then removed from the
// address bar.

import { useEffect, useRef, useState, type FormEvent } from "react";
import { useLocation, useNavigate, useSearchParams } from "react-router";
import { endpoints } from "../api/endpoints";
import { errorText } from "../api/problem";
import { useSession } from "../auth/session";
import { useTitle } from "../components/hooks";
import { Loading } from "../components/states";

export function SignIn() {
  useTitle("Sign in");
  const { signIn, message, session } = useSession();
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const location = useLocation();
  const from = (location.state as { from?: string } | null)?.from;
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const code = params.get("code");
  const exchanged = useRef(false);

  useEffect(() => {
    if (!code || exchanged.current) return;
    exchanged.current = true;
    // The code works once: take it out of the address bar and the history at once.
    window.history.replaceState(null, "", `${window.location.pathname}${window.location.search}#/sign-in`);
    setBusy(true);
    endpoints
      .signInWithCode(code)
      .then((answer) => signIn(answer.token))
      .then(() => navigate("/", { replace: true }))
      .catch((failure) => {
        setError(`The sign-in link did not work: ${errorText(failure)}`);
        navigate("/sign-in", { replace: true });
      })
      .finally(() => setBusy(false));
  }, [code, signIn, navigate]);

  useEffect(() => {
    if (session && !code && !busy) navigate(from ?? "/", { replace: true });
  }, [session, code, busy, from, navigate]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setBusy(true);
    try {
      await signIn(token.trim());
      navigate(from ?? "/", { replace: true });
    } catch (failure) {
      setError(errorText(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="sign-in" id="main">
      <form className="card sign-in-card" onSubmit={submit} aria-labelledby="sign-in-title" data-testid="sign-in-form">
        <h1 id="sign-in-title">Sign in to plugboard</h1>
        {message && (
          <p className="notice notice-info" role="status" data-testid="sign-in-message">
            {message}
          </p>
        )}
        {code && busy ? (
          <Loading label="Signing in with the link…" />
        ) : (
          <>
            <label htmlFor="token">Token</label>
            <input
              id="token"
              type="password"
              autoComplete="off"
              spellCheck={false}
              value={token}
              onChange={(event) => setToken(event.target.value)}
              placeholder="the admin token, or an API token pb_…"
              required
              data-testid="sign-in-token"
            />
            <p className="hint">
              Kept in this tab only (sessionStorage) until you sign out or close it. <code>plugboard serve</code> also
              prints a one-time sign-in link.
            </p>
            <button type="submit" className="button primary" disabled={busy || token.trim() === ""} data-testid="sign-in-submit">
              {busy ? "Signing in…" : "Sign in"}
            </button>
          </>
        )}
        {error && (
          <p className="form-error" role="alert" data-testid="sign-in-error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
