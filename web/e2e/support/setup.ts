// Setting a server up through the REST API, as an admin would, before the browser looks.

import path from "node:path";
import type { Api } from "./api";
import { EXAMPLES, FIXTURES, pythonPackage } from "./packages";
import type { Server } from "./server";

/** The tests' own plugin (fixtures/e2e-python), installed from a folder on the server. */
export const E2E_PLUGIN = "e2e-python";

export async function installPython(api: Api, server: Server, source: string, id: string): Promise<void> {
  const folder = await pythonPackage(source, path.join(server.workDir, "packages"));
  await api.installFromPath(folder);
  await api.waitPluginReady(id);
}

export function installFixturePlugin(api: Api, server: Server): Promise<void> {
  return installPython(api, server, path.join(FIXTURES, "e2e-python"), E2E_PLUGIN);
}

export function installExample(api: Api, server: Server, example: string, id: string): Promise<void> {
  return installPython(api, server, path.join(EXAMPLES, example), id);
}
