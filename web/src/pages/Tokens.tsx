// API tokens (admin only): create (the secret is shown once, with a copy button), list, revoke.

import { useState, type FormEvent } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Copy } from "lucide-react";
import { endpoints } from "../api/endpoints";
import { errorText } from "../api/problem";
import { useCan } from "../auth/session";
import { ConfirmButton } from "../components/Confirm";
import { useTitle } from "../components/hooks";
import { Empty, ErrorPanel, Loading, Notice } from "../components/states";
import { Time } from "../components/Time";

const EXPIRIES: [string, number | null][] = [
  ["never", null],
  ["1 hour", 3600],
  ["1 day", 86_400],
  ["30 days", 30 * 86_400],
  ["1 year", 365 * 86_400],
];

export default function Tokens() {
  useTitle("Tokens");
  const can = useCan();
  const queryClient = useQueryClient();
  const tokens = useQuery({ queryKey: ["tokens"], queryFn: endpoints.tokens, enabled: can.tokens });
  if (!can.tokens) return <ErrorPanel error={new Error("Only the admin token manages tokens.")} />;
  return (
    <>
      <h1>Tokens</h1>
      <CreateToken />
      {tokens.isPending && <Loading />}
      {tokens.error && <ErrorPanel error={tokens.error} />}
      {tokens.data && tokens.data.tokens.length === 0 && <Empty>No API token yet.</Empty>}
      {tokens.data && tokens.data.tokens.length > 0 && (
        <div className="table-wrap">
          <table className="table" data-testid="tokens-table">
            <caption className="visually-hidden">API tokens</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Id</th>
                <th scope="col">Access</th>
                <th scope="col">Tenant</th>
                <th scope="col">Created</th>
                <th scope="col">Expires</th>
                <th scope="col">Revoked</th>
                <th scope="col"><span className="visually-hidden">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {tokens.data.tokens.map((token) => (
                <tr key={token.id} data-testid="token-row" data-token-id={token.id}>
                  <td>{token.name}</td>
                  <td>
                    <code>{token.id}</code>
                  </td>
                  <td>{token.access}</td>
                  <td>{token.tenant ?? "all"}</td>
                  <td>
                    <Time value={token.created_at} />
                  </td>
                  <td>
                    <Time value={token.expires_at} empty="never" />
                  </td>
                  <td>
                    <Time value={token.revoked_at} empty="–" />
                  </td>
                  <td className="actions-cell">
                    {!token.revoked_at && (
                      <ConfirmButton
                        label="Revoke"
                        ariaLabel={`Revoke token ${token.name}`}
                        title={`Revoke ${token.name}?`}
                        message={<p>It stops working at once, everywhere it is used.</p>}
                        confirmLabel="Revoke token"
                        danger
                        onConfirm={async () => {
                          await endpoints.revokeToken(token.id);
                          await queryClient.invalidateQueries({ queryKey: ["tokens"] });
                        }}
                        testId="token-revoke"
                      />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function CreateToken() {
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [tenant, setTenant] = useState("");
  const [access, setAccess] = useState<"read" | "write">("read");
  const [expiry, setExpiry] = useState("0");
  const [secret, setSecret] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setSecret(null);
    setCopied(false);
    try {
      const seconds = EXPIRIES[Number(expiry)]?.[1] ?? null;
      const answer = await endpoints.createToken({ name: name.trim(), tenant: tenant.trim() || undefined, access, expires_in_seconds: seconds ?? undefined });
      setSecret(answer.secret);
      setName("");
      await queryClient.invalidateQueries({ queryKey: ["tokens"] });
    } catch (failure) {
      setError(errorText(failure));
    }
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="create-token-title" data-testid="token-create-form">
      <h2 id="create-token-title">Create a token</h2>
      <div className="form-grid">
        <div className="field">
          <label htmlFor="token-name">Name</label>
          <input id="token-name" required value={name} onChange={(event) => setName(event.target.value)} data-testid="token-name" />
        </div>
        <div className="field">
          <label htmlFor="token-tenant">Tenant (empty: all)</label>
          <input id="token-tenant" value={tenant} onChange={(event) => setTenant(event.target.value)} data-testid="token-tenant" />
        </div>
        <div className="field">
          <label htmlFor="token-access">Access</label>
          <select id="token-access" value={access} onChange={(event) => setAccess(event.target.value as "read" | "write")} data-testid="token-access">
            <option value="read">read</option>
            <option value="write">write</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor="token-expiry">Expires</label>
          <select id="token-expiry" value={expiry} onChange={(event) => setExpiry(event.target.value)}>
            {EXPIRIES.map(([label], index) => (
              <option key={label} value={index}>
                {label}
              </option>
            ))}
          </select>
        </div>
      </div>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" className="button primary" data-testid="token-create">
        Create token
      </button>
      {secret && (
        <Notice kind="ok" testId="token-secret-notice">
          <p>Copy the token now: it is not shown again.</p>
          <div className="row">
            <code className="secret-value" data-testid="token-secret">
              {secret}
            </code>
            <button
              type="button"
              className="button"
              onClick={() => {
                void navigator.clipboard?.writeText(secret).then(() => setCopied(true), () => setCopied(false));
              }}
              data-testid="token-copy"
            >
              <Copy aria-hidden size={16} /> {copied ? "Copied" : "Copy"}
            </button>
          </div>
        </Notice>
      )}
    </form>
  );
}
