// The console's routes. They live in the URL's fragment (`/#/jobs/42`): the server's paths
// belong to the API and the plugins. Every page but sign-in and the overview is loaded on demand.

import { lazy, type ReactNode } from "react";
import { createHashRouter, Navigate, useLocation } from "react-router";
import { useSession } from "./auth/session";
import { Loading } from "./components/states";
import { Shell } from "./Shell";
import { SignIn } from "./pages/SignIn";

const Overview = lazy(() => import("./pages/Overview"));
const Jobs = lazy(() => import("./pages/Jobs"));
const JobPage = lazy(() => import("./pages/JobPage"));
const Plugins = lazy(() => import("./pages/Plugins"));
const PluginPage = lazy(() => import("./pages/PluginPage"));
const PluginUiPage = lazy(() => import("./plugin-pages/PluginUiPage"));
const Tenants = lazy(() => import("./pages/Tenants"));
const TenantPage = lazy(() => import("./pages/TenantPage"));
const ConfigPage = lazy(() => import("./pages/ConfigPage"));
const Events = lazy(() => import("./pages/Events"));
const Tokens = lazy(() => import("./pages/Tokens"));
const Limits = lazy(() => import("./pages/Limits"));
const Nodes = lazy(() => import("./pages/Nodes"));
const Health = lazy(() => import("./pages/Health"));
const NotFound = lazy(() => import("./pages/NotFound"));

function RequireSession({ children }: { children: ReactNode }) {
  const { session, loading } = useSession();
  const location = useLocation();
  if (loading) return <Loading label="Checking your token…" />;
  if (!session) return <Navigate to="/sign-in" replace state={{ from: location.pathname + location.search }} />;
  return children;
}

export const router = createHashRouter([
  { path: "/sign-in", element: <SignIn /> },
  {
    path: "/",
    element: (
      <RequireSession>
        <Shell />
      </RequireSession>
    ),
    children: [
      { index: true, element: <Overview /> },
      { path: "jobs", element: <Jobs /> },
      { path: "jobs/:id", element: <JobPage /> },
      { path: "plugins", element: <Plugins /> },
      { path: "plugins/:plugin", element: <PluginPage /> },
      { path: "plugins/:plugin/pages/:page", element: <PluginUiPage /> },
      { path: "tenants", element: <Tenants /> },
      { path: "tenants/:tenant", element: <TenantPage /> },
      { path: "tenants/:tenant/configs/new", element: <ConfigPage /> },
      { path: "configs/:id", element: <ConfigPage /> },
      { path: "events", element: <Events /> },
      { path: "tokens", element: <Tokens /> },
      { path: "limits", element: <Limits /> },
      { path: "nodes", element: <Nodes /> },
      { path: "health", element: <Health /> },
      { path: "*", element: <NotFound /> },
    ],
  },
  { path: "*", element: <Navigate to="/" replace /> },
]);
