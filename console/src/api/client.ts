// One way to call the services: through the gateway's /api/<service>/, with the bearer
// token of the session; any non-2xx answer becomes an ApiError carrying the problem.
import type { Problem } from "./types";

export type Service = "intake" | "governance" | "budget" | "metrics";

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem | null;
  constructor(status: number, problem: Problem | null, fallback: string) {
    super(problem?.detail ?? problem?.title ?? fallback);
    this.status = status;
    this.problem = problem;
  }
}

let token: string | null = null;
export function setToken(value: string | null): void {
  token = value;
}
export function getToken(): string | null {
  return token;
}

export interface CallOptions {
  method?: "GET" | "POST" | "PUT" | "PATCH";
  body?: unknown;
  idempotencyKey?: string;
  accept?: string;
}

export type Query = Record<string, string | string[] | undefined>;

export function url(service: Service, path: string, query?: Query): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    for (const one of Array.isArray(v) ? v : [v]) if (one !== undefined && one !== "") q.append(k, one);
  }
  const qs = q.toString();
  return `/api/${service}${path}${qs ? `?${qs}` : ""}`;
}

export function headers(opts: CallOptions = {}): Record<string, string> {
  const h: Record<string, string> = { Accept: opts.accept ?? "application/json" };
  if (token) h.Authorization = `Bearer ${token}`;
  if (opts.body !== undefined) h["Content-Type"] = "application/json";
  if (opts.idempotencyKey) h["Idempotency-Key"] = opts.idempotencyKey;
  return h;
}

export async function call<T>(service: Service, path: string, opts: CallOptions = {},
                              query?: Query): Promise<T> {
  const resp = await fetch(url(service, path, query), {
    method: opts.method ?? "GET",
    headers: headers(opts),
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await resp.text();
  if (!resp.ok) {
    let problem: Problem | null = null;
    try {
      problem = JSON.parse(text) as Problem;
    } catch {
      problem = null;
    }
    throw new ApiError(resp.status, problem, `${service} answered ${resp.status}`);
  }
  if (opts.accept === "text/csv") return text as T;
  return (text ? JSON.parse(text) : null) as T;
}

export const get = <T>(service: Service, path: string, query?: Query) =>
  call<T>(service, path, {}, query);
export const post = <T>(service: Service, path: string, body?: unknown, idempotencyKey?: string) =>
  call<T>(service, path, { method: "POST", body, idempotencyKey });
