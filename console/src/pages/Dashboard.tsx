// SPEC section 4's metrics: tiles from /summary, one chart and table per view, CSV of each view
// (the metrics service's own CSV, so a download is exactly what the API says).
import { useQuery } from "@tanstack/react-query";
import { useMemo, useState, type ReactNode } from "react";
import { apiGet } from "../api/typed";
import type { MetricsT } from "../api/types";
import { bars, Chart, histogram } from "../components/Chart";
import { CsvButton } from "../components/CsvButton";
import { ErrorNote, Field, Loading, Section } from "../components/ui";
import { CHANNELS } from "../lib/channels";
import { hours, label, percent, round } from "../lib/format";
import { toNumber } from "../lib/money";

// a type, not an interface: it passes where any string-keyed query is taken (CsvButton)
type Filters = {
  team?: string;
  channel?: MetricsT["Channel"];
  quarter?: string;
};

function View({ title, path, filters, name, children }: { title: string; path: string; filters: Filters; name: string; children: ReactNode }) {
  return <Section title={title} actions={<CsvButton path={path} filters={filters} name={name} />}>{children}</Section>;
}

function Tile({ name, value, testId }: { name: string; value: string; testId: string }) {
  return <div className="kpi"><div className="value" data-testid={testId}>{value}</div><div className="name">{name}</div></div>;
}

export function Dashboard() {
  const [team, setTeam] = useState("");
  const [channel, setChannel] = useState("");
  const [quarter, setQuarter] = useState("");
  const f: Filters = useMemo(() => ({ team: team || undefined, channel: (channel || undefined) as Filters["channel"],
    quarter: /^\d{4}-Q[1-4]$/.test(quarter) ? quarter : undefined }), [team, channel, quarter]);
  const q = { query: f };
  const summary = useQuery({ queryKey: ["summary", f], queryFn: () => apiGet("metrics", "/summary", q) });
  const cycle = useQuery({ queryKey: ["cycle", f], queryFn: () => apiGet("metrics", "/aggregates/cycle-time", { query: { ...f, group_by: "quarter" } }) });
  const table = useQuery({ queryKey: ["mtable", f], queryFn: () => apiGet("metrics", "/campaigns", { query: { ...f, limit: 1000 } }) });
  const gates = useQuery({ queryKey: ["gates", f], queryFn: () => apiGet("metrics", "/aggregates/gate-times", q) });
  const sla = useQuery({ queryKey: ["sla", f], queryFn: () => apiGet("metrics", "/aggregates/sla-breaches", q) });
  const rework = useQuery({ queryKey: ["rework", f], queryFn: () => apiGet("metrics", "/aggregates/rework", { query: { ...f, group_by: "quarter" } }) });
  const onTime = useQuery({ queryKey: ["ontime", f], queryFn: () => apiGet("metrics", "/aggregates/on-time", { query: { ...f, group_by: "quarter" } }) });
  const complete = useQuery({ queryKey: ["complete", f], queryFn: () => apiGet("metrics", "/aggregates/data-completeness", { query: { ...f, group_by: "quarter" } }) });
  const lines = useQuery({ queryKey: ["vlines", f], queryFn: () => apiGet("metrics", "/aggregates/variance/budget-lines", q) });
  const vcamp = useQuery({ queryKey: ["vcamp", f], queryFn: () => apiGet("metrics", "/aggregates/variance/campaigns", q) });
  const months = useQuery({ queryKey: ["vmonths", f], queryFn: () => apiGet("metrics", "/aggregates/variance/months", q) });

  const s = summary.data;
  const cycleHist = histogram((table.data?.campaigns ?? []).map((c) => c.cycle_time_hours).filter((h): h is number => h !== null).map((h) => h / 24), 7);
  const groups = cycle.data?.groups ?? [];
  const gateRows = gates.data?.overall.gates ?? [];
  const bottleneck = gates.data?.overall.bottleneck?.gate_id;
  const campaignRows = (vcamp.data?.rows ?? []) as MetricsT["CampaignVariance"][];

  return (
    <>
      <h1>Dashboard</h1>
      <form className="filters" aria-label="Dashboard filters" onSubmit={(e) => e.preventDefault()}>
        <Field label="Team" id="d-team"><input id="d-team" value={team} onChange={(e) => setTeam(e.target.value)} /></Field>
        <Field label="Channel" id="d-channel">
          <select id="d-channel" value={channel} onChange={(e) => setChannel(e.target.value)}>
            <option value="">any</option>{CHANNELS.map((c) => <option key={c} value={c}>{label(c)}</option>)}
          </select>
        </Field>
        <Field label="Quarter (e.g. 2026-Q4)" id="d-quarter"><input id="d-quarter" value={quarter} onChange={(e) => setQuarter(e.target.value)} placeholder="YYYY-Qn" /></Field>
      </form>
      <ErrorNote error={summary.error} />
      {summary.isLoading && <Loading what="the metrics" />}
      {s && (
        <>
          {s.filtered && <p className="muted">Computed over the campaigns you may read.</p>}
          <div className="kpis" aria-label="Headline metrics">
            <Tile name="Submitted" value={String(s.campaigns.submitted)} testId="m-submitted" />
            <Tile name="Launched" value={String(s.campaigns.launched)} testId="m-launched" />
            <Tile name="Cycle time p50" value={hours(s.cycle_time.p50_hours)} testId="m-cycle-p50" />
            <Tile name="Cycle time p90" value={hours(s.cycle_time.p90_hours)} testId="m-cycle-p90" />
            <Tile name="Rework rate" value={percent(s.rework.rework_rate)} testId="m-rework" />
            <Tile name="On-time launches" value={percent(s.on_time.on_time_rate)} testId="m-ontime" />
            <Tile name="Data completeness" value={percent(s.data_completeness.data_completeness)} testId="m-completeness" />
            <Tile name="SLA breaches" value={`${s.sla.breaches} of ${s.sla.decisions}`} testId="m-sla" />
            <Tile name="Bottleneck" value={s.time_in_gate.bottleneck?.gate_name ?? "—"} testId="m-bottleneck" />
          </div>
        </>
      )}
      <div className="grid">
        <View title="Cycle time by quarter of launch" path="/aggregates/cycle-time" filters={{ ...f }} name="cycle-time">
          <ErrorNote error={cycle.error} />
          <Chart label="Cycle time p50 and p90 per quarter, in days" option={bars(groups.map((g) => g.group),
            { p50: groups.map((g) => g.p50_hours && +round(g.p50_hours / 24)), p90: groups.map((g) => g.p90_hours && +round(g.p90_hours / 24)) }, "days")} />
          <table><thead><tr><th>Quarter</th><th className="num">Launched</th><th className="num">p50</th><th className="num">p90</th><th className="num">Mean</th></tr></thead>
            <tbody>{groups.map((g) => <tr key={g.group}><td>{g.group}</td><td className="num">{g.count}</td><td className="num">{hours(g.p50_hours)}</td><td className="num">{hours(g.p90_hours)}</td><td className="num">{hours(g.mean_hours)}</td></tr>)}</tbody></table>
        </View>
        <View title="Cycle time distribution" path="/campaigns" filters={f} name="campaigns">
          <Chart label="Launched campaigns per week of cycle time" option={bars(cycleHist.labels, { campaigns: cycleHist.counts }, "days")} />
        </View>
        <View title="Time in gate (bottleneck marked)" path="/aggregates/gate-times" filters={f} name="gate-times">
          <ErrorNote error={gates.error} />
          <Chart label="Time in gate p50 and p90 per gate, hours" option={{
            ...bars(gateRows.map((g) => g.gate_name + (g.gate_id === bottleneck ? " ⚠" : "")),
              { p50: gateRows.map((g) => g.p50_hours), p90: gateRows.map((g) => g.p90_hours) }, "hours") }} />
          <table><thead><tr><th>Gate</th><th className="num">Approvals</th><th className="num">p50</th><th className="num">p90</th></tr></thead>
            <tbody>{gateRows.map((g) => <tr key={g.gate_id} data-testid={`gate-time-${g.gate_id}`}><td>{g.gate_name}{g.bottleneck && <strong> — bottleneck</strong>}</td><td className="num">{g.count}</td><td className="num">{hours(g.p50_hours)}</td><td className="num">{hours(g.p90_hours)}</td></tr>)}</tbody></table>
        </View>
        <View title="SLA breaches per gate" path="/aggregates/sla-breaches" filters={f} name="sla-breaches">
          <ErrorNote error={sla.error} />
          <Chart label="Decisions and SLA breaches per gate" option={bars((sla.data?.overall.gates ?? []).map((g) => g.gate_name),
            { decisions: (sla.data?.overall.gates ?? []).map((g) => g.decisions), breaches: (sla.data?.overall.gates ?? []).map((g) => g.breaches) })} />
        </View>
        <View title="Rework by quarter of first submission" path="/aggregates/rework" filters={f} name="rework">
          <ErrorNote error={rework.error} />
          <table><thead><tr><th>Quarter</th><th className="num">Submitted</th><th className="num">Reworked</th><th className="num">Rate</th><th className="num">Revisions per brief</th></tr></thead>
            <tbody>{(rework.data?.groups ?? []).map((g) => <tr key={g.group}><td>{g.group}</td><td className="num">{g.submitted}</td><td className="num">{g.reworked}</td><td className="num">{percent(g.rework_rate)}</td><td className="num">{g.revisions_per_brief === null ? "—" : round(g.revisions_per_brief, 2)}</td></tr>)}</tbody></table>
        </View>
        <View title="On-time launches" path="/aggregates/on-time" filters={f} name="on-time">
          <ErrorNote error={onTime.error} />
          <Chart label="On time and late launches per quarter" option={{ ...bars((onTime.data?.groups ?? []).map((g) => g.group),
            { "on time": (onTime.data?.groups ?? []).map((g) => g.on_time), late: (onTime.data?.groups ?? []).map((g) => g.late) }), }} />
        </View>
        <View title="Data completeness at launch" path="/aggregates/data-completeness" filters={f} name="data-completeness">
          <ErrorNote error={complete.error} />
          <table><thead><tr><th>Quarter</th><th className="num">Launched</th><th className="num">Complete</th><th className="num">Share</th></tr></thead>
            <tbody>{(complete.data?.groups ?? []).map((g) => <tr key={g.group}><td>{g.group}</td><td className="num">{g.launched}</td><td className="num">{g.complete}</td><td className="num">{percent(g.data_completeness)}</td></tr>)}</tbody></table>
        </View>
        <View title="Budget variance by line" path="/aggregates/variance/budget-lines" filters={f} name="variance-budget-lines">
          <ErrorNote error={lines.error} />
          <Chart label="Committed and actual spend per budget line" option={bars((lines.data?.rows ?? []).map((r) => `${r.budget_line_id} ${r.currency}`),
            { committed: (lines.data?.rows ?? []).map((r) => toNumber(r.committed)), actual: (lines.data?.rows ?? []).map((r) => toNumber(r.actual)) })} />
          <table><thead><tr><th>Line</th><th className="num">Committed</th><th className="num">Actual</th><th className="num">Variance</th><th className="num">%</th></tr></thead>
            <tbody>{(lines.data?.rows ?? []).map((r) => <tr key={r.budget_line_id + r.currency}><td>{r.budget_line_id}</td><td className="num">{r.committed} {r.currency}</td><td className="num">{r.actual}</td><td className="num">{r.variance}</td><td className="num">{r.variance_pct ?? "—"}</td></tr>)}</tbody></table>
        </View>
        <View title="Budget variance by campaign" path="/aggregates/variance/campaigns" filters={f} name="variance-campaigns">
          <ErrorNote error={vcamp.error} />
          <div className="table-wrap"><table><thead><tr><th>Campaign</th><th className="num">Committed</th><th className="num">Actual</th><th className="num">Variance</th></tr></thead>
            <tbody>{campaignRows.map((r) => <tr key={r.campaign_id + r.currency} data-testid={`variance-${r.campaign_id}`}><td>{r.title ?? r.campaign_id}</td><td className="num">{r.committed} {r.currency}</td><td className="num">{r.actual}</td><td className="num">{r.variance}</td></tr>)}</tbody></table></div>
        </View>
        <View title="Actual spend by month" path="/aggregates/variance/months" filters={f} name="variance-months">
          <ErrorNote error={months.error} />
          <Chart label="Actual spend per month of incurred date" option={bars((months.data?.rows ?? []).map((r) => `${r.month} ${r.currency}`),
            { actual: (months.data?.rows ?? []).map((r) => toNumber(r.actual)) })} />
        </View>
      </div>
    </>
  );
}
