// The review pack's headline numbers: how a value and its change against the previous period read.

export type Figure = number | string | null | undefined;

/** A change with its sign ("+2", "-0.5", "0"); money strings keep their places; none is a dash. */
export function signed(change: Figure): string {
  if (change === null || change === undefined) return "—";
  const text = typeof change === "number" ? String(Math.round(change * 1000) / 1000) : change;
  return text.startsWith("-") || /^0+(\.0+)?$/.test(text) ? text : `+${text}`;
}

/** Rates (names ending in _rate) as percentages, hours rounded, the rest as they come. */
export function figure(metric: string, value: Figure): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number" && metric.endsWith("_rate")) return `${Math.round(value * 1000) / 10}%`;
  if (typeof value === "number" && metric.endsWith("_hours")) return `${Math.round(value * 10) / 10} h`;
  return String(value);
}
