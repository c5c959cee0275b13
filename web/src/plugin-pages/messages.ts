// The message API between the console and a plugin's page (docs/plugin-pages.md). Every
// message is an object with `plugboard: 1` and a `type`. This file checks what a page sends;
// nothing a page says is trusted beyond these checks.

export const PROTOCOL = 1;

export type PageMessage =
  | { type: "ready" }
  | { type: "fetch"; id: string | number; method: string; path: string; headers: Record<string, string>; body?: string }
  | { type: "resize"; height: number }
  | { type: "navigate"; to: string }
  | { type: "error"; message: string };

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]);
// Headers a page may set on its requests; the console sets Authorization itself.
const HEADERS = new Set(["accept", "accept-language", "content-type", "if-match", "if-none-match", "cache-control"]);
const MAX_BODY = 10 * 1024 * 1024;
const CONTROL = /[\u0000-\u001f\u007f]/;

/** The page's message, or a reason it is refused (with the id to answer, when it has one). */
export function readPageMessage(data: unknown): PageMessage | { refused: string; id?: string | number } | null {
  if (!data || typeof data !== "object") return null;
  const message = data as Record<string, unknown>;
  if (message.plugboard !== PROTOCOL || typeof message.type !== "string") return null;
  switch (message.type) {
    case "ready":
      return { type: "ready" };
    case "resize": {
      const height = Number(message.height);
      return Number.isFinite(height) ? { type: "resize", height } : null;
    }
    case "navigate":
      return typeof message.to === "string" ? { type: "navigate", to: message.to } : null;
    case "error":
      return { type: "error", message: String(message.message ?? "the page reported an error").slice(0, 2000) };
    case "fetch": {
      const id = message.id;
      if (typeof id !== "string" && typeof id !== "number") return null;
      const method = typeof message.method === "string" ? message.method.toUpperCase() : "GET";
      if (!METHODS.has(method)) return { refused: `method ${String(message.method)} is not allowed`, id };
      const pathProblem = checkPluginPath(message.path);
      if (pathProblem) return { refused: pathProblem, id };
      const headers: Record<string, string> = {};
      if (message.headers !== undefined) {
        if (!message.headers || typeof message.headers !== "object") return { refused: "headers must be an object", id };
        for (const [name, value] of Object.entries(message.headers as Record<string, unknown>)) {
          const lower = name.toLowerCase();
          if (!HEADERS.has(lower) && !(lower.startsWith("x-") && !lower.startsWith("x-forwarded"))) {
            return { refused: `the header ${name} may not be set by a page`, id };
          }
          if (typeof value !== "string" || CONTROL.test(value)) return { refused: `the header ${name} must be plain text`, id };
          headers[lower] = value;
        }
      }
      let body: string | undefined;
      if (message.body !== undefined && message.body !== null) {
        if (typeof message.body !== "string") return { refused: "body must be a string (JSON.stringify it)", id };
        if (message.body.length > MAX_BODY) return { refused: "body is over 10 MiB", id };
        if (method === "GET" || method === "HEAD") return { refused: `a ${method} request has no body`, id };
        body = message.body;
      }
      return { type: "fetch", id, method, path: message.path as string, headers, body };
    }
    default:
      return null;
  }
}

/**
 * Why `path` is not a plain path of the plugin, or null when it is: it must start with one `/`
 * and hold no scheme, backslash, control character, `.` or `..` segment (plain or
 * percent-encoded), or encoded slash.
 */
export function checkPluginPath(path: unknown): string | null {
  if (typeof path !== "string") return "path must be a string";
  if (path.length === 0 || path.length > 4096) return "path must be 1 to 4096 characters";
  if (!path.startsWith("/")) return "path must start with / (it is relative to the plugin)";
  if (path.startsWith("//")) return "path must not start with //";
  if (path.includes("\\")) return "path must not contain a backslash";
  if (CONTROL.test(path)) return "path must not contain control characters";
  if (path.includes("#")) return "path must not contain a fragment";
  const pathPart = path.split("?")[0] ?? "";
  for (const segment of pathPart.split("/").slice(1)) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      return "path has a malformed percent-encoding";
    }
    if (decoded === "." || decoded === "..") return "path must not contain . or .. segments";
    if (decoded.includes("/") || decoded.includes("\\")) return "path must not contain an encoded slash or backslash";
    if (CONTROL.test(decoded)) return "path must not contain encoded control characters";
  }
  return null;
}

const CONSOLE_ROUTES = /^\/(jobs|plugins|tenants|configs|events|tokens|limits|nodes|health)?(\/[^]*)?$/;

/** A console route a page may send the user to, or null. */
export function consoleRoute(to: string): string | null {
  if (!to.startsWith("/") || to.startsWith("//") || to.includes("\\") || CONTROL.test(to) || to.includes("..")) return null;
  const pathPart = to.split("?")[0] ?? "";
  return CONSOLE_ROUTES.test(pathPart) ? to : null;
}
