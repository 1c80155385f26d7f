// The signed-in person: their token (kept for this browser tab only) and who the services take them for.
import { setToken } from "./api/client";
import { apiGet } from "./api/typed";
import type { Me } from "./api/types";

const KEY = "marops.token";

export interface Persona {
  subject: string;
  roles: string[];
  team?: string;
  title: string;
}

// Local personas for the dev sign-in (one per role; two requesters of different teams).
export const PERSONAS: Persona[] = [
  { subject: "alice", roles: ["requester"], team: "growth", title: "Requester, growth team" },
  { subject: "ben", roles: ["requester"], team: "brand", title: "Requester, brand team" },
  { subject: "alex", roles: ["approver"], title: "Approver (marketing lead)" },
  { subject: "blair", roles: ["approver"], title: "Approver (brand and legal)" },
  { subject: "finn", roles: ["finance"], title: "Finance" },
  { subject: "olga", roles: ["ops_admin"], title: "Marketing operations admin" },
  { subject: "vic", roles: ["viewer"], title: "Viewer" },
];

export function storedToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export async function signIn(token: string): Promise<Me> {
  setToken(token);
  try {
    const me = await apiGet("intake", "/me");
    sessionStorage.setItem(KEY, token);
    return me;
  } catch (e) {
    setToken(null);
    throw e;
  }
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
  setToken(null);
}

export async function devToken(p: Persona): Promise<string> {
  const resp = await fetch("/api/dev/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ subject: p.subject, roles: p.roles, team: p.team }),
  });
  if (!resp.ok) throw new Error(`the dev token endpoint answered ${resp.status}`);
  return ((await resp.json()) as { token: string }).token;
}

export const has = (me: Me, ...roles: string[]) => me.roles.some((r) => roles.includes(r));
