// The frame around every signed-in page: header, navigation (collapsible on narrow screens),
// and the page itself, loaded on demand.

import { Suspense, useEffect, useState } from "react";
import { NavLink, Outlet, useLocation } from "react-router";
import {
  Activity, Boxes, Building2, Gauge, HeartPulse, KeyRound, ListChecks, LogOut, Menu, Moon, PanelTop, Server, Sun, X, Zap,
} from "lucide-react";
import { useCan, useSession } from "./auth/session";
import { Loading } from "./components/states";
import { usePluginPages } from "./plugin-pages/pages";
import { toggleTheme, useTheme } from "./theme";

export function Shell() {
  const can = useCan();
  const { session, signOut } = useSession();
  const theme = useTheme();
  const [navOpen, setNavOpen] = useState(false);
  const location = useLocation();
  const pluginPages = usePluginPages();
  useEffect(() => setNavOpen(false), [location.pathname]);

  const who = session?.token?.name ?? (can.isAdmin ? "admin token" : "API token");
  return (
    <div className={navOpen ? "shell nav-open" : "shell"}>
      <a className="skip-link" href="#main" onClick={(event) => {
        event.preventDefault();
        document.getElementById("main")?.focus();
      }}>
        Skip to content
      </a>
      <header className="topbar">
        <button
          type="button"
          className="icon-button nav-toggle"
          aria-label={navOpen ? "Close navigation" : "Open navigation"}
          aria-expanded={navOpen}
          aria-controls="nav"
          onClick={() => setNavOpen(!navOpen)}
          data-testid="nav-toggle"
        >
          {navOpen ? <X aria-hidden size={20} /> : <Menu aria-hidden size={20} />}
        </button>
        <span className="brand">plugboard</span>
        <span className="who" data-testid="session-info" data-access={can.access} data-tenant={can.tenant ?? ""}>
          {who} · {can.access}
          {can.tenant ? ` · tenant ${can.tenant}` : ""}
        </span>
        <button
          type="button"
          className="icon-button"
          onClick={toggleTheme}
          aria-label={theme === "dark" ? "Use the light theme" : "Use the dark theme"}
          data-testid="theme-toggle"
        >
          {theme === "dark" ? <Sun aria-hidden size={18} /> : <Moon aria-hidden size={18} />}
        </button>
        <button type="button" className="button" onClick={() => void signOut()} data-testid="sign-out">
          <LogOut aria-hidden size={16} /> Sign out
        </button>
      </header>
      <nav id="nav" className="nav" aria-label="Main">
        <ul>
          <NavItem to="/" end icon={<Gauge aria-hidden size={18} />} label="Overview" id="overview" />
          <NavItem to="/jobs" icon={<ListChecks aria-hidden size={18} />} label="Jobs" id="jobs" />
          <NavItem to="/plugins" end icon={<Boxes aria-hidden size={18} />} label="Plugins" id="plugins" />
          {pluginPages.map((entry) => (
            <li key={entry.plugin} className="nav-group">
              <span className="nav-group-title">{entry.plugin}</span>
              <ul>
                {entry.pages.map((page) => (
                  <NavItem
                    key={page.id}
                    to={`/plugins/${encodeURIComponent(entry.plugin)}/pages/${encodeURIComponent(page.id)}`}
                    icon={<PanelTop aria-hidden size={16} />}
                    label={page.title}
                    id={`plugin-page-${entry.plugin}-${page.id}`}
                  />
                ))}
              </ul>
            </li>
          ))}
          <NavItem to="/tenants" icon={<Building2 aria-hidden size={18} />} label="Tenants" id="tenants" />
          <NavItem to="/events" icon={<Zap aria-hidden size={18} />} label="Events" id="events" />
          {can.tokens && <NavItem to="/tokens" icon={<KeyRound aria-hidden size={18} />} label="Tokens" id="tokens" />}
          {can.viewLimits && <NavItem to="/limits" icon={<Activity aria-hidden size={18} />} label="Limits" id="limits" />}
          {can.viewNodes && <NavItem to="/nodes" icon={<Server aria-hidden size={18} />} label="Nodes" id="nodes" />}
          <NavItem to="/health" icon={<HeartPulse aria-hidden size={18} />} label="Health" id="health" />
        </ul>
      </nav>
      {navOpen && <div className="nav-scrim" onClick={() => setNavOpen(false)} aria-hidden />}
      <main id="main" className="main" tabIndex={-1}>
        <Suspense fallback={<Loading />}>
          <Outlet />
        </Suspense>
      </main>
    </div>
  );
}

function NavItem({ to, icon, label, id, end }: { to: string; icon: React.ReactNode; label: string; id: string; end?: boolean }) {
  return (
    <li>
      <NavLink to={to} end={end} className="nav-link" data-testid={`nav-${id}`}>
        {icon}
        <span>{label}</span>
      </NavLink>
    </li>
  );
}
