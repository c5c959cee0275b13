// What the signed-in token may do, from `GET /api/v1/session` and the table in docs/api.md
// ("What each caller may do"). The console hides every action outside it.

import type { Access, Session } from "../api/types";

export interface Abilities {
  access: Access;
  /** The token's tenant; null for the admin token and global tokens. */
  tenant: string | null;
  isAdmin: boolean;
  /** Cancel and retry jobs, change configs, post events (its tenant's, for a tenant token). */
  write: boolean;
  /** Install, update, roll back, enable, disable, uninstall plugins. */
  managePlugins: boolean;
  /** Upload a package, install from a path on the server, grant permissions. */
  adminPlugins: boolean;
  manageTenants: boolean;
  tokens: boolean;
  viewLimits: boolean;
  editLimits: boolean;
  viewNodes: boolean;
}

export function abilitiesOf(session: Session): Abilities {
  const isAdmin = session.access === "admin";
  const write = session.access !== "read";
  const global = session.tenant === null;
  return {
    access: session.access,
    tenant: session.tenant,
    isAdmin,
    write,
    managePlugins: write && global,
    adminPlugins: isAdmin,
    manageTenants: write && global,
    tokens: isAdmin,
    viewLimits: global,
    editLimits: isAdmin,
    viewNodes: global,
  };
}
