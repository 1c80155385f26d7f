// Small pieces of the campaign page's results and retrospective forms.

/** The KPI metrics of a brief (the draft's JSON), in order; KPIs without a metric yet are left out. */
export function kpiMetrics(brief: Record<string, unknown>): string[] {
  const kpis = Array.isArray(brief.kpis) ? (brief.kpis as { metric?: unknown }[]) : [];
  return kpis.map((k) => (typeof k?.metric === "string" ? k.metric.trim() : "")).filter((m) => m !== "");
}

/** Lines of a textarea, trimmed, blanks dropped: one entry per line. */
export function entries(text: string): string[] {
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "");
}
