// Light and dark themes: the system's choice (prefers-color-scheme) unless the user picked one
// with the toggle, which is remembered in localStorage. The choice is the `data-theme`
// attribute of <html>; the CSS variables do the rest.

import { useEffect, useState } from "react";

export type Theme = "light" | "dark";
type Choice = Theme | "system";

const KEY = "plugboard.theme";
const media = () => window.matchMedia("(prefers-color-scheme: dark)");
const listeners = new Set<() => void>();

function readChoice(): Choice {
  try {
    const stored = localStorage.getItem(KEY);
    return stored === "light" || stored === "dark" ? stored : "system";
  } catch {
    return "system";
  }
}

export function effectiveTheme(): Theme {
  const set = document.documentElement.getAttribute("data-theme");
  if (set === "light" || set === "dark") return set;
  const choice = readChoice();
  if (choice !== "system") return choice;
  return media().matches ? "dark" : "light";
}

export function applyTheme(): void {
  const choice = readChoice();
  if (choice === "system") document.documentElement.removeAttribute("data-theme");
  else document.documentElement.setAttribute("data-theme", choice);
  for (const listener of listeners) listener();
}

export function toggleTheme(): void {
  const next: Theme = effectiveTheme() === "dark" ? "light" : "dark";
  try {
    localStorage.setItem(KEY, next);
  } catch {
    // Not remembered; applied for this page all the same.
  }
  document.documentElement.setAttribute("data-theme", next);
  for (const listener of listeners) listener();
}

/** The theme in force, updated on the toggle and on a system change. */
export function useTheme(): Theme {
  const [theme, setTheme] = useState<Theme>(effectiveTheme);
  useEffect(() => {
    const update = () => setTheme(effectiveTheme());
    listeners.add(update);
    const query = media();
    query.addEventListener("change", update);
    return () => {
      listeners.delete(update);
      query.removeEventListener("change", update);
    };
  }, []);
  return theme;
}
