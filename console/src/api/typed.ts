// Calls typed by the OpenAPI documents: the path must be one the service documents for
// that method, and the answer is that operation's JSON body, so `tsc` fails when a page
// uses a route, a field or a shape the service does not offer (tests/test_console_unit.py).
import { call, type Query, type Service } from "./client";
import type { paths as BudgetPaths } from "./generated/budget";
import type { paths as GovernancePaths } from "./generated/governance";
import type { paths as IntakePaths } from "./generated/intake";
import type { paths as MetricsPaths } from "./generated/metrics";

interface Paths {
  intake: IntakePaths;
  governance: GovernancePaths;
  budget: BudgetPaths;
  metrics: MetricsPaths;
}
type Method = "get" | "post" | "put" | "patch";
type Json<R> = R extends { content: { "application/json": infer B } } ? B : never;
type Ok<Op> = Op extends { responses: infer Rs }
  ? 200 extends keyof Rs ? Json<Rs[200]> : 201 extends keyof Rs ? Json<Rs[201]> : 202 extends keyof Rs ? Json<Rs[202]> : never
  : never;
type Op<S extends Service, P extends keyof Paths[S], M extends Method> = Paths[S][P] extends Record<M, infer O> ? O : never;
type With<S extends Service, M extends Method> = {
  [P in keyof Paths[S]]: Paths[S][P] extends Record<M, infer O> ? (O extends undefined ? never : P) : never;
}[keyof Paths[S]] & string;
type Body<O> = O extends { requestBody: { content: { "application/json": infer B } } } ? B
  : O extends { requestBody?: { content: { "application/json": infer B } } } ? B | undefined : undefined;
type PathParams<O> = O extends { parameters: { path: infer PP } } ? PP : undefined;
type QueryParams<O> = O extends { parameters: { query?: infer Q } } ? Q : undefined;

export type Result<S extends Service, P extends With<S, M>, M extends Method = "get"> = Ok<Op<S, P, M>>;

export interface Params<O> {
  path?: PathParams<O>;
  query?: QueryParams<O>;
  idempotencyKey?: string;
}

function fill(path: string, params: unknown): string {
  return path.replace(/\{(\w+)\}/g, (_, k: string) => {
    const v = (params as Record<string, unknown> | undefined)?.[k];
    if (v === undefined || v === null) throw new Error(`missing path parameter ${k}`);
    return encodeURIComponent(String(v));
  });
}

function query(q: object | undefined): Query | undefined {
  if (!q) return undefined;
  const one = (v: unknown) => (v === undefined || v === null ? undefined : String(v));
  return Object.fromEntries(Object.entries(q).map(([k, v]) => [k, Array.isArray(v) ? v.map((x) => String(x)) : one(v)]));
}

export function apiGet<S extends Service, P extends With<S, "get">>(
  service: S, path: P, params: Params<Op<S, P, "get">> = {},
): Promise<Ok<Op<S, P, "get">>> {
  return call(service, fill(path, params.path), {}, query(params.query as object | undefined));
}

function send<M extends "post" | "put" | "patch">(method: M) {
  return <S extends Service, P extends With<S, M>>(
    service: S, path: P, body: Body<Op<S, P, M>>, params: Params<Op<S, P, M>> = {},
  ): Promise<Ok<Op<S, P, M>>> =>
    call(service, fill(path, params.path), {
      method: method.toUpperCase() as "POST" | "PUT" | "PATCH", body, idempotencyKey: params.idempotencyKey,
    }, query(params.query as object | undefined));
}

export const apiPost = send("post");
export const apiPut = send("put");
export const apiPatch = send("patch");
