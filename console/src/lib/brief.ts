// The brief form: a flat, editable shape <-> the API's brief body; completeness findings by field.
export interface KpiForm {
  metric: string;
  target: string;
  unit: string;
  timeframe: string;
}

export interface BriefForm {
  title: string;
  objective: string;
  target_audience: string;
  target_launch_date: string;
  flight_start: string;
  flight_end: string;
  channels: string[];
  kpis: KpiForm[];
  campaign_code: string;
  conversion_events: string;
  reporting_destination: string;
  amount: string;
  currency: string;
  budget_line_id: string;
  responsible: string;
}

type Json = Record<string, unknown>;
const str = (v: unknown) => (typeof v === "string" ? v : typeof v === "number" ? String(v) : "");
const obj = (v: unknown): Json => (v && typeof v === "object" && !Array.isArray(v) ? (v as Json) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const words = (s: string) => s.split(",").map((w) => w.trim()).filter(Boolean);

export function formFromBrief(title: string | null, channels: readonly string[], brief: Json): BriefForm {
  const plan = obj(brief.tracking_plan);
  const request = obj(brief.budget_request);
  const amount = obj(request.amount);
  const kpis = list(brief.kpis).map((k) => {
    const o = obj(k);
    return { metric: str(o.metric), target: str(o.target), unit: str(o.unit), timeframe: str(o.timeframe) };
  });
  return {
    title: title ?? str(brief.title),
    objective: str(brief.objective),
    target_audience: str(brief.target_audience),
    target_launch_date: str(brief.target_launch_date),
    flight_start: str(brief.flight_start),
    flight_end: str(brief.flight_end),
    channels: [...channels],
    kpis: kpis.length ? kpis : [{ metric: "", target: "", unit: "", timeframe: "" }],
    campaign_code: str(plan.campaign_code),
    conversion_events: list(plan.conversion_events).map(str).join(", "),
    reporting_destination: str(plan.reporting_destination),
    amount: str(amount.amount),
    currency: str(amount.currency) || "EUR",
    budget_line_id: str(request.budget_line_id),
    responsible: list(obj(brief.raci).responsible).map(str).join(", "),
  };
}

/** The PATCH/check body: only what the form holds (empty fields are left out, not cleared). */
export function briefBody(f: BriefForm): Json {
  const body: Json = {};
  const put = (k: string, v: string) => { if (v.trim()) body[k] = v.trim(); };
  put("title", f.title);
  put("objective", f.objective);
  put("target_audience", f.target_audience);
  put("target_launch_date", f.target_launch_date);
  put("flight_start", f.flight_start);
  put("flight_end", f.flight_end);
  if (f.channels.length) body.channels = f.channels;
  const kpis = f.kpis.filter((k) => k.metric.trim() || k.target.trim()).map((k) => {
    const out: Json = { metric: k.metric.trim() };
    if (k.target.trim()) out.target = k.target.trim();
    if (k.unit.trim()) out.unit = k.unit.trim();
    if (k.timeframe.trim()) out.timeframe = k.timeframe.trim();
    return out;
  });
  if (kpis.length) body.kpis = kpis;
  const plan: Json = {};
  if (f.campaign_code.trim()) plan.campaign_code = f.campaign_code.trim();
  if (words(f.conversion_events).length) plan.conversion_events = words(f.conversion_events);
  if (f.reporting_destination.trim()) plan.reporting_destination = f.reporting_destination.trim();
  if (Object.keys(plan).length) body.tracking_plan = plan;
  if (f.amount.trim() || f.budget_line_id.trim()) {
    const request: Json = {};
    if (f.amount.trim()) request.amount = { amount: f.amount.trim(), currency: f.currency.trim() };
    if (f.budget_line_id.trim()) request.budget_line_id = f.budget_line_id.trim();
    body.budget_request = request;
  }
  if (words(f.responsible).length) body.raci = { responsible: words(f.responsible) };
  return body;
}

export interface Finding {
  path: string;
  reason: string;
}

// A finding's path names the brief field (kpis.0.target, budget_request.amount.amount);
// the form shows it under the input that edits it.
const FORM_FIELD: [RegExp, string][] = [
  [/^tracking_plan\.campaign_code/, "campaign_code"],
  [/^tracking_plan\.conversion_events/, "conversion_events"],
  [/^tracking_plan\.reporting_destination/, "reporting_destination"],
  [/^tracking_plan/, "campaign_code"],
  [/^budget_request\.amount\.currency/, "currency"],
  [/^budget_request\.amount/, "amount"],
  [/^budget_request\.budget_line_id/, "budget_line_id"],
  [/^budget_request/, "amount"],
  [/^raci/, "responsible"],
  [/^kpis\.(\d+)\.(\w+)/, "kpis.$1.$2"],
  [/^kpis/, "kpis.0.metric"],
];

export function formField(path: string): string {
  const p = path.replace(/^(body|brief)\./, "");
  for (const [re, to] of FORM_FIELD) if (re.test(p)) return p.replace(re, to).replace(/\..*$/, (m) => (to.startsWith("kpis") ? m : ""));
  return p.split(".")[0];
}

export function findingsByField(findings: readonly Finding[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of findings) (out[formField(f.path)] ??= []).push(f.reason);
  return out;
}
