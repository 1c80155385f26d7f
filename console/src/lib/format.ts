/** 50.5 -> "2 d 2.5 h"; durations in the metrics are hours. */
export function hours(h: number | null | undefined): string {
  if (h === null || h === undefined) return "—";
  if (h < 24) return `${round(h)} h`;
  const days = Math.floor(h / 24);
  const rest = h - days * 24;
  return rest >= 0.05 ? `${days} d ${round(rest)} h` : `${days} d`;
}

export function round(n: number, places = 1): string {
  const f = 10 ** places;
  return String(Math.round(n * f) / f);
}

/** 0.25 -> "25 %"; null (no denominator) -> "—". */
export function percent(rate: number | null | undefined): string {
  if (rate === null || rate === undefined) return "—";
  return `${round(rate * 100)} %`;
}

/** An ISO timestamp as "2026-12-20 14:05 UTC" (every time in marops is UTC). */
export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

export function label(id: string): string {
  const s = id.replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}
