// Which console pages each plugin offers: every plugin in the list carries them as
// `pages: [{"id", "title", "path"}]`; a plugin's detail has them in its metadata's `ui` (a list,
// or `{"pages": [...]}`).

import { useQuery } from "@tanstack/react-query";
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

export function pagesOfDetail(detail: PluginDetail | undefined): UiPage[] {
  return pagesOf(detail?.metadata?.metadata?.ui);
}

export interface PluginPages {
  plugin: string;
  pages: UiPage[];
}

/** Every enabled plugin's pages, for the navigation. */
export function usePluginPages(): PluginPages[] {
  const plugins = useQuery({ queryKey: ["plugins"], queryFn: endpoints.plugins, staleTime: 30_000 });
  return (plugins.data?.plugins ?? [])
    .filter((plugin: Plugin) => plugin.state === "enabled")
    .map((plugin) => ({ plugin: plugin.id, pages: pagesOf(plugin.pages) }))
    .filter((entry) => entry.pages.length > 0);
}
