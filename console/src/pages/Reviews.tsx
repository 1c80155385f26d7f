// The review pack of a week or a month (metrics GET /reviews): what the operational review goes through.
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { call } from "../api/client";
import { apiGet } from "../api/typed";
import { ErrorNote, Field, Loading, Section } from "../components/ui";
import { download } from "../lib/csv";
import { when } from "../lib/format";
import { figure, signed } from "../lib/review";

function Empty({ what }: { what: string }) {
  return <p className="muted">{what}</p>;
}

export function Reviews() {
  const [period, setPeriod] = useState<"week" | "month">("week");
  const [start, setStart] = useState(() => new Date().toISOString().slice(0, 10));
  const query = { period, start };
  const pack = useQuery({ queryKey: ["reviews", period, start], queryFn: () => apiGet("metrics", "/reviews", { query }) });
  const p = pack.data;
  const csv = async () => download(`review-${period}-${start}.csv`,
    await call<string>("metrics", "/reviews", { accept: "text/csv" }, { ...query, format: "csv" }));
  return (
    <>
      <h1>Review pack</h1>
      <form aria-label="Review period" className="form-grid" onSubmit={(e) => e.preventDefault()}>
        <Field label="Period" id="r-period">
          <select id="r-period" value={period} onChange={(e) => setPeriod(e.target.value as "week" | "month")}>
            <option value="week">Week</option><option value="month">Month</option>
          </select>
        </Field>
        <Field label="A day of the period" id="r-start">
          <input id="r-start" type="date" value={start} onChange={(e) => setStart(e.target.value)} />
        </Field>
      </form>
      {pack.isLoading && <Loading what="the review pack" />}
      <ErrorNote error={pack.error} />
      {p && (
        <>
          <p className="muted">{p.start} to {p.end} · compared with {p.previous.start} to {p.previous.end}
            {p.filtered ? " · only the campaigns you may read" : ""}</p>
          <Section title="Headline numbers" actions={<button type="button" onClick={() => void csv()}>Download CSV</button>}>
            <div className="table-wrap"><table data-testid="review-headline">
              <thead><tr><th>Metric</th><th className="num">This period</th><th className="num">Previous</th><th className="num">Change</th></tr></thead>
              <tbody>{p.headline.map((h) => (
                <tr key={h.metric}><td>{h.metric.replace(/_/g, " ")}</td><td className="num">{figure(h.metric, h.current)}</td>
                  <td className="num">{figure(h.metric, h.previous)}</td><td className="num">{signed(h.change)}</td></tr>
              ))}</tbody>
            </table></div>
          </Section>
          <Section title={`Gates overdue now (${p.gates_overdue.length})`}>
            {p.gates_overdue.length === 0 ? <Empty what="No gate is past its SLA." /> : <ul>{p.gates_overdue.map((g) => (
              <li key={`${g.campaign_id}-${g.gate_id}`}><a href={`#/campaigns/${g.campaign_id}`}>{g.title ?? g.campaign_id}</a>: {g.gate_name} (v{g.brief_version}), due {when(g.due_at)}, {Math.round(g.hours_overdue)} h overdue</li>))}</ul>}
          </Section>
          <Section title={`SLA breaches in the period (${p.sla_breaches.length})`}>
            {p.sla_breaches.length === 0 ? <Empty what="No decision was late." /> : <ul>{p.sla_breaches.map((b) => (
              <li key={`${b.campaign_id}-${b.gate_id}-${b.brief_version}-${b.outcome}`}>{b.title ?? b.campaign_id}: {b.gate_name} {b.outcome} {Math.round(b.hours_over)} h late</li>))}</ul>}
          </Section>
          <Section title={`Launches: ${p.launches.count}, ${p.launches.on_time} on time`}>
            {p.launches.late.length === 0 ? <Empty what="No late launch." /> : <ul>{p.launches.late.map((l) => (
              <li key={l.campaign_id}>{l.title ?? l.campaign_id}: {l.days_late} day(s) late (target {l.target_launch_date})</li>))}</ul>}
          </Section>
          <Section title="Spend and pace">
            <p>{p.spend.length === 0 ? "Nothing spent in the period." : p.spend.map((s) => `${s.amount} ${s.currency}`).join(" · ")}</p>
            {p.off_pace.length > 0 && <ul>{p.off_pace.map((o) => (
              <li key={o.campaign_id}>{o.title ?? o.campaign_id}: {o.direction} pace, spent {o.spent} of {o.expected} {o.currency} expected</li>))}</ul>}
          </Section>
          <Section title={`Open blocking risks (${p.blocking_risks.length})`}>
            {p.blocking_risks.length === 0 ? <Empty what="No open risk blocks a launch." /> : <ul>{p.blocking_risks.map((r) => (
              <li key={r.risk_id}>{r.title ?? r.campaign_id}: {r.description} (score {r.score}, {r.owner})</li>))}</ul>}
          </Section>
          <Section title="Completed campaigns to follow up">
            <ul>
              {p.completed_without_results.map((c) => <li key={`r-${c.campaign_id}`}>{c.title ?? c.campaign_id}: no results</li>)}
              {p.completed_without_retrospective.map((c) => <li key={`t-${c.campaign_id}`}>{c.title ?? c.campaign_id}: no retrospective</li>)}
            </ul>
          </Section>
          <Section title="Rework">
            <p>{p.rework.rejections} rejection(s), {p.rework.resubmissions} resubmission(s) in the period.</p>
          </Section>
        </>
      )}
    </>
  );
}
