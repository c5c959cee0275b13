// Tenants: list, create, delete.

import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { endpoints } from "../api/endpoints";
import { errorText } from "../api/problem";
import { useCan } from "../auth/session";
import { ConfirmButton } from "../components/Confirm";
import { useTitle } from "../components/hooks";
import { Empty, ErrorPanel, Loading } from "../components/states";
import { Time } from "../components/Time";

export default function Tenants() {
  useTitle("Tenants");
  const can = useCan();
  const queryClient = useQueryClient();
  const tenants = useQuery({ queryKey: ["tenants"], queryFn: endpoints.tenants });
  return (
    <>
      <h1>Tenants</h1>
      {can.manageTenants && <CreateTenant />}
      {tenants.isPending && <Loading />}
      {tenants.error && <ErrorPanel error={tenants.error} />}
      {tenants.data && tenants.data.tenants.length === 0 && <Empty>No tenant yet.</Empty>}
      {tenants.data && tenants.data.tenants.length > 0 && (
        <div className="table-wrap">
          <table className="table" data-testid="tenants-table">
            <caption className="visually-hidden">Tenants</caption>
            <thead>
              <tr>
                <th scope="col">Id</th>
                <th scope="col">Name</th>
                <th scope="col">Created</th>
                {can.manageTenants && <th scope="col"><span className="visually-hidden">Actions</span></th>}
              </tr>
            </thead>
            <tbody>
              {tenants.data.tenants.map((tenant) => (
                <tr key={tenant.id} data-testid="tenant-row" data-tenant={tenant.id}>
                  <td>
                    <Link to={`/tenants/${encodeURIComponent(tenant.id)}`} data-testid="tenant-link">
                      {tenant.id}
                    </Link>
                  </td>
                  <td>{tenant.name}</td>
                  <td>
                    <Time value={tenant.created_at} />
                  </td>
                  {can.manageTenants && (
                    <td className="actions-cell">
                      <ConfirmButton
                        label="Delete"
                        ariaLabel={`Delete tenant ${tenant.id}`}
                        title={`Delete tenant ${tenant.id}?`}
                        message={<p>Its configs are deleted with it; its jobs and events stay as history.</p>}
                        confirmLabel="Delete tenant"
                        danger
                        onConfirm={async () => {
                          await endpoints.deleteTenant(tenant.id);
                          await queryClient.invalidateQueries({ queryKey: ["tenants"] });
                        }}
                        testId="tenant-delete"
                      />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

function CreateTenant() {
  const queryClient = useQueryClient();
  const [id, setId] = useState("");
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    try {
      await endpoints.createTenant(id.trim(), name.trim() || null);
      setId("");
      setName("");
      await queryClient.invalidateQueries({ queryKey: ["tenants"] });
    } catch (failure) {
      setError(errorText(failure));
    }
  };
  return (
    <form className="card inline-form" onSubmit={submit} aria-label="Create a tenant" data-testid="tenant-create-form">
      <div className="field">
        <label htmlFor="tenant-id">Id</label>
        <input id="tenant-id" required pattern="[A-Za-z0-9_.\-]{1,64}" value={id} onChange={(event) => setId(event.target.value)} data-testid="tenant-id" />
      </div>
      <div className="field">
        <label htmlFor="tenant-name">Name</label>
        <input id="tenant-name" value={name} onChange={(event) => setName(event.target.value)} data-testid="tenant-name" />
      </div>
      <button type="submit" className="button primary" data-testid="tenant-create">
        Create tenant
      </button>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
