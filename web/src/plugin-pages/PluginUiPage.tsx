// A plugin's page, in a sandboxed frame: `allow-scripts allow-forms` and never
// `allow-same-origin`, so it runs on an opaque origin and cannot read the console's token or
// DOM. It talks to the console only through postMessage (docs/plugin-pages.md): the console
// makes its requests to the plugin's own routes with the signed-in token and answers them.

import { useCallback, useEffect, useRef, useState } from "react";
import { useNavigate, useParams } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { RefreshCw } from "lucide-react";
import { endpoints } from "../api/endpoints";
import { readToken } from "../api/token";
import { useCan } from "../auth/session";
import { useTitle } from "../components/hooks";
import { ErrorPanel, Loading } from "../components/states";
import { useTheme } from "../theme";
import { checkPluginPath, consoleRoute, PROTOCOL, readPageMessage } from "./messages";
import { pagesOfDetail } from "./pages";

const READY_TIMEOUT_MS = 10_000;

export default function PluginUiPage() {
  const { plugin = "", page: pageId = "" } = useParams();
  const detail = useQuery({ queryKey: ["plugin", plugin], queryFn: () => endpoints.plugin(plugin) });
  const page = pagesOfDetail(detail.data).find((entry) => entry.id === pageId);
  useTitle(page ? `${page.title} · ${plugin}` : plugin);
  if (detail.isPending) return <Loading />;
  if (detail.error) return <ErrorPanel error={detail.error} title={`Plugin ${plugin}`} />;
  if (!page) return <ErrorPanel error={new Error(`Plugin ${plugin} has no page ${pageId}.`)} title="No such page" />;
  const problem = checkPluginPath(page.path);
  if (problem) return <ErrorPanel error={new Error(`The page's path ${page.path} is not usable: ${problem}.`)} />;
  return <Frame plugin={plugin} pageId={page.id} title={page.title} path={page.path} />;
}

function Frame({ plugin, pageId, title, path }: { plugin: string; pageId: string; title: string; path: string }) {
  const can = useCan();
  const theme = useTheme();
  const navigate = useNavigate();
  const frame = useRef<HTMLIFrameElement>(null);
  const [generation, setGeneration] = useState(0);
  const [ready, setReady] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const [height, setHeight] = useState(600);
  const base = `/plugins/${encodeURIComponent(plugin)}`;

  const post = useCallback((message: Record<string, unknown>) => {
    // The frame's origin is opaque, so "*" is the only target; no message carries a credential.
    frame.current?.contentWindow?.postMessage({ plugboard: PROTOCOL, ...message }, "*");
  }, []);
  const sendInit = useCallback(() => {
    post({ type: "init", version: PROTOCOL, plugin, page: pageId, access: can.access, tenant: can.tenant, theme });
  }, [post, plugin, pageId, can.access, can.tenant, theme]);

  // The theme changed: tell the page again.
  useEffect(() => {
    if (ready) sendInit();
    // Only on a theme change, not on every new sendInit.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [theme]);

  // No `ready` within 10 s of (re)loading: show why in the frame's place.
  useEffect(() => {
    if (ready || failure) return;
    const timer = setTimeout(() => setFailure(`The page did not say it was ready within ${READY_TIMEOUT_MS / 1000} s.`), READY_TIMEOUT_MS);
    return () => clearTimeout(timer);
  }, [ready, failure, generation]);

  useEffect(() => {
    const onMessage = async (event: MessageEvent) => {
      const window = frame.current?.contentWindow;
      if (!window || event.source !== window) return;
      const message = readPageMessage(event.data);
      if (!message) return;
      if ("refused" in message) {
        if (message.id !== undefined) post({ type: "response", id: message.id, error: message.refused });
        return;
      }
      switch (message.type) {
        case "ready":
          setReady(true);
          sendInit();
          break;
        case "resize":
          setHeight(Math.min(20_000, Math.max(120, Math.ceil(message.height))));
          break;
        case "navigate": {
          const to = consoleRoute(message.to);
          if (to) navigate(to);
          break;
        }
        case "error":
          setFailure(`The page reported an error: ${message.message}`);
          break;
        case "fetch": {
          try {
            const headers: Record<string, string> = { ...message.headers };
            const token = readToken();
            if (token) headers.authorization = `Bearer ${token}`;
            const response = await fetch(base + message.path, {
              method: message.method,
              headers,
              body: message.body,
              credentials: "omit",
              cache: "no-store",
              redirect: "error",
            });
            const body = await response.text();
            const answerHeaders: Record<string, string> = {};
            for (const name of ["content-type", "etag", "location", "retry-after"]) {
              const value = response.headers.get(name);
              if (value !== null) answerHeaders[name] = value;
            }
            post({ type: "response", id: message.id, status: response.status, headers: answerHeaders, body });
          } catch (error) {
            post({ type: "response", id: message.id, error: `the request failed: ${(error as Error).message}` });
          }
          break;
        }
      }
    };
    window.addEventListener("message", onMessage);
    return () => window.removeEventListener("message", onMessage);
  }, [base, post, sendInit, navigate]);

  const reload = () => {
    setReady(false);
    setFailure(null);
    setGeneration((value) => value + 1);
  };

  return (
    <>
      <div className="row spread">
        <h1>
          {title} <span className="muted">{plugin}</span>
        </h1>
        <button type="button" className="button" onClick={reload} data-testid="plugin-page-reload">
          <RefreshCw aria-hidden size={16} /> Reload
        </button>
      </div>
      {failure ? (
        <ErrorPanel
          error={new Error(failure)}
          title={`${title} could not be shown`}
          action={
            <button type="button" className="button" onClick={reload} data-testid="plugin-page-error-reload">
              Reload the page
            </button>
          }
        />
      ) : (
        <iframe
          key={generation}
          ref={frame}
          className="plugin-frame"
          title={`${title} (plugin ${plugin})`}
          src={`${base}${path}`}
          sandbox="allow-scripts allow-forms"
          referrerPolicy="no-referrer"
          onLoad={() => sendInit()}
          height={height}
          data-testid="plugin-page-frame"
          data-ready={ready ? "true" : "false"}
        />
      )}
    </>
  );
}
