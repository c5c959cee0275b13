// Which console pages each plugin offers. The API shows them on every plugin object as
// `pages: [{"id", "title", "path"}]`; older servers only in the metadata's `ui` (a list, or
// `{"pages": [...]}`), read from each plugin's detail.

import { useQueries, useQuery } from "@tanstack/react-query";
import { endpoints } from "../api/endpoints";
import type { Plugin, PluginDetail, UiPage } from "../api/types";

export function pagesOf(ui: unknown): UiPage[] {
  const list = Array.isArray(ui) ? ui : ui && typeof ui === "object" ? (ui as { pages?: unknown }).pages : null;
  if (!Array.isArray(list)) return [];
  return list.filter(
    (page): page is UiPage =>
      !!page &&
      typeof page === "object" &&
      typeof (page as UiPage).id === "string" &&
      typeof (page as UiPage).title === "string" &&
      typeof (page as UiPage).path === "string" &&
      (page as UiPage).path.startsWith("/"),
  );
}

/** The pages the plugin object itself lists, or undefined when it has no such field. */
function listedPages(plugin: Plugin): UiPage[] | undefined {
  if (plugin.pages !== undefined) return pagesOf(plugin.pages);
  if (plugin.ui !== undefined) return pagesOf(plugin.ui);
  return undefined;
}

export function pagesOfDetail(detail: PluginDetail | undefined): UiPage[] {
  if (!detail) return [];
  const listed = listedPages(detail);
  if (listed !== undefined) return listed;
  return pagesOf(detail.metadata?.metadata?.ui);
}

export interface PluginPages {
  plugin: string;
  pages: UiPage[];
}

/** Every enabled plugin's pages, for the navigation. */
export function usePluginPages(): PluginPages[] {
  const plugins = useQuery({ queryKey: ["plugins"], queryFn: endpoints.plugins, staleTime: 30_000 });
  const enabled: Plugin[] = (plugins.data?.plugins ?? []).filter((plugin) => plugin.state === "enabled");
  const needDetail = enabled.filter((plugin) => listedPages(plugin) === undefined);
  const details = useQueries({
    queries: needDetail.map((plugin) => ({
      queryKey: ["plugin", plugin.id],
      queryFn: () => endpoints.plugin(plugin.id),
      staleTime: 30_000,
    })),
  });
  const byId = new Map<string, UiPage[]>();
  for (const plugin of enabled) {
    const listed = listedPages(plugin);
    if (listed !== undefined) byId.set(plugin.id, listed);
  }
  needDetail.forEach((plugin, index) => byId.set(plugin.id, pagesOfDetail(details[index]?.data)));
  return enabled
    .map((plugin) => ({ plugin: plugin.id, pages: byId.get(plugin.id) ?? [] }))
    .filter((entry) => entry.pages.length > 0);
}
