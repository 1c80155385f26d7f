import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { setToken } from "./api/client";
import type { Me } from "./api/types";
import { href, parseRoute, type Route } from "./lib/route";
import { Approvals } from "./pages/Approvals";
import { BudgetPage } from "./pages/Budget";
import { CalendarPage } from "./pages/Calendar";
import { CampaignPage } from "./pages/Campaign";
import { CampaignsPage } from "./pages/Campaigns";
import { CapacityPage } from "./pages/Capacity";
import { Dashboard } from "./pages/Dashboard";
import { NewCampaign } from "./pages/NewCampaign";
import { Operations } from "./pages/Operations";
import { OutcomesPage } from "./pages/Outcomes";
import { PlansPage } from "./pages/Plans";
import { PolicyPage } from "./pages/Policy";
import { Reviews } from "./pages/Reviews";
import { SignIn } from "./pages/SignIn";
import { has, signIn, signOut, storedToken } from "./session";

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

interface NavItem {
  page: string;
  label: string;
  show: (me: Me) => boolean;
}

const NAV: NavItem[] = [
  { page: "campaigns", label: "Campaigns", show: () => true },
  { page: "approvals", label: "My approvals", show: (me) => has(me, "approver", "finance", "ops_admin") },
  { page: "budget", label: "Budget", show: () => true },
  { page: "plans", label: "Plans", show: () => true },
  { page: "capacity", label: "Capacity", show: () => true },
  { page: "dashboard", label: "Dashboard", show: () => true },
  { page: "calendar", label: "Calendar", show: () => true },
  { page: "outcomes", label: "Outcomes", show: () => true },
  { page: "reviews", label: "Reviews", show: () => true },
  { page: "policy", label: "Policy", show: () => true },
  { page: "operations", label: "Operations", show: (me) => has(me, "ops_admin", "viewer", "finance", "approver") },
];

export function App() {
  const route = useRoute();
  const queries = useQueryClient();
  const [me, setMe] = useState<Me | null>(null);
  const [restoring, setRestoring] = useState(() => storedToken() !== null);

  useEffect(() => {
    const token = storedToken();
    if (!token) return;
    signIn(token).then(setMe, () => signOut()).finally(() => setRestoring(false));
  }, []);

  const onSignedIn = (who: Me) => {
    queries.clear();
    setMe(who);
    if (!route.page || route.page === "signin") window.location.hash = href("campaigns");
  };
  const onSignOut = () => {
    signOut();
    setToken(null);
    queries.clear();
    setMe(null);
    window.location.hash = href("signin");
  };

  if (restoring) return <p className="muted">Signing in…</p>;
  if (!me) return <SignIn onSignedIn={onSignedIn} />;

  const page = route.page || "campaigns";
  return (
    <div className="shell">
      <a className="skip" href="#main">Skip to content</a>
      <header className="top">
        <a className="brand" href={href("campaigns")}>marops</a>
        <nav aria-label="Main">
          <ul>
            {NAV.filter((n) => n.show(me)).map((n) => (
              <li key={n.page}>
                <a href={href(n.page)} aria-current={page === n.page ? "page" : undefined}>{n.label}</a>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who">
          <span data-testid="signed-in-as">
            {me.subject} · {me.roles.join(", ")}{me.team ? ` · ${me.team}` : ""}
          </span>
          <button type="button" onClick={onSignOut}>Sign out</button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Page page={page} route={route} me={me} />
      </main>
    </div>
  );
}

function Page({ page, route, me }: { page: string; route: Route; me: Me }) {
  switch (page) {
    case "campaigns":
      return route.id ? <CampaignPage id={route.id} me={me} /> : <CampaignsPage me={me} query={route.query} />;
    case "new":
      return <NewCampaign me={me} />;
    case "approvals":
      return <Approvals me={me} />;
    case "budget":
      return <BudgetPage me={me} />;
    case "plans":
      return <PlansPage me={me} selected={route.id} />;
    case "capacity":
      return <CapacityPage me={me} team={route.id} />;
    case "dashboard":
      return <Dashboard />;
    case "calendar":
      return <CalendarPage />;
    case "outcomes":
      return <OutcomesPage />;
    case "reviews":
      return <Reviews />;
    case "policy":
      return <PolicyPage me={me} />;
    case "operations":
      return <Operations me={me} />;
    default:
      return <p>No such page. <a href={href("campaigns")}>Campaigns</a></p>;
  }
}
