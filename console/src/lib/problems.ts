// Refusals in words: a problem+json answer turned into what a person reads.
import type { Problem } from "../api/types";

interface FieldError {
  path: string;
  message: string;
}

/** body.kpis.0.target -> kpis.0.target (the form's own field names). */
export function fieldPath(path: string): string {
  return path.replace(/^(body|query|path)\./, "");
}

export function errorsByField(errors: readonly FieldError[] | null | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of errors ?? []) (out[fieldPath(e.path)] ??= []).push(e.message);
  return out;
}

/** Words for a refusal: the service's detail, with what the status means in front. */
export function refusal(status: number, problem: Problem | null): string {
  const detail = problem?.detail ?? problem?.title ?? "";
  const lead: Record<number, string> = {
    401: "You are not signed in (or your session expired)",
    403: "Not allowed",
    404: "Not found, or not visible to you",
    409: "Conflicts with the current state",
    413: "Too large",
    422: "Some fields are invalid",
    502: "A service is not answering",
    503: "A service is starting or a dependency is down; try again shortly",
  };
  const head = lead[status] ?? `Refused (${status})`;
  return detail ? `${head}: ${detail}` : head;
}
