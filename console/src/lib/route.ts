// Hash routes (#/campaigns/abc): the gateway serves one index.html, the hash picks the page.
export interface Route {
  page: string;
  id?: string;
  query: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const [path, qs] = hash.replace(/^#/, "").split("?", 2);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] ?? "", id: parts[1], query: new URLSearchParams(qs ?? "") };
}

export function href(page: string, id?: string, query?: Record<string, string>): string {
  const qs = query ? new URLSearchParams(query).toString() : "";
  return `#/${page}${id ? `/${encodeURIComponent(id)}` : ""}${qs ? `?${qs}` : ""}`;
}
