// Annual plans rolled up (budget /plans): plan -> quarter -> line -> campaign, each line's
// run-out forecast, and finance's forms for a new plan and a new budget line.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ApiError } from "../api/client";
import { apiGet, apiPost } from "../api/typed";
import type { BudgetT, Me } from "../api/types";
import { ErrorNote, Field, Loading, Section } from "../components/ui";
import { CHANNELS } from "../lib/channels";
import { errorsByField } from "../lib/problems";
import { formatMoney } from "../lib/money";
import { href } from "../lib/route";
import { has } from "../session";

type Totals = BudgetT["Totals"];
type Channel = BudgetT["NewPlan"]["channel"];
type Currency = BudgetT["NonNegativeMoneyInput"]["currency"];

function TotalsCells({ t }: { t: Totals }) {
  return (
    <>
      <td className="num">{formatMoney(t.plan)}</td><td className="num">{formatMoney(t.allocated)}</td>
      <td className="num">{formatMoney(t.committed)}</td><td className="num">{formatMoney(t.spent)}</td>
    </>
  );
}

const TOTALS_HEAD = (
  <><th className="num">Plan</th><th className="num">Allocated</th><th className="num">Committed</th><th className="num">Spent</th></>
);

function Forecast({ lineId }: { lineId: string }) {
  const forecast = useQuery({ queryKey: ["forecast", lineId],
    queryFn: () => apiGet("budget", "/budget-lines/{line_id}/forecast", { path: { line_id: lineId } }) });
  if (forecast.isLoading) return <Loading what="the forecast" />;
  if (forecast.error) return <ErrorNote error={forecast.error} />;
  const f = forecast.data;
  if (!f) return null;
  return (
    <p data-testid={`forecast-${lineId}`} className={f.within_horizon ? "error" : "muted"}>
      {f.run_out_on ? `Runs out on ${f.run_out_on}` : "Not forecast to run out"}
      {f.within_horizon ? ` (within ${f.horizon_days} days)` : ""} · forecast spend {formatMoney(f.forecast_spend)} of {formatMoney(f.amount)}
    </p>
  );
}

function Rollup({ planId }: { planId: string }) {
  const [forecastOf, setForecastOf] = useState<string | null>(null);
  const report = useQuery({ queryKey: ["plan", planId],
    queryFn: () => apiGet("budget", "/plans/{plan_id}", { path: { plan_id: planId } }) });
  const r = report.data;
  return (
    <Section title={`Plan ${planId}`}>
      {report.isLoading && <Loading what="the plan" />}
      <ErrorNote error={report.error} />
      {r && (
        <>
          <p data-testid="plan-unallocated">Unallocated: {formatMoney(r.unallocated)}
            {r.filtered ? ` · ${r.hidden_campaign_rows} campaign rows you may not read are counted in the totals` : ""}</p>
          {r.quarters.length === 0 && <p className="muted">No budget lines in this plan yet.</p>}
          <div className="table-wrap"><table>
            <thead><tr><th>Quarter · line · campaign</th>{TOTALS_HEAD}<th className="num">Available</th><th /></tr></thead>
            <tbody>
              {r.quarters.flatMap((q) => [
                <tr key={`q${q.quarter}`} className="group"><th scope="row">Q{q.quarter}</th><TotalsCells t={q.totals} /><td /><td /></tr>,
                ...q.lines.flatMap((l) => [
                  <tr key={l.id} data-testid={`plan-line-${l.id}`}>
                    <td>&nbsp;&nbsp;{l.name ?? l.id} <small className="muted">{l.channel}</small></td><TotalsCells t={l.totals} />
                    <td className="num">{formatMoney(l.available)}</td>
                    <td><button type="button" onClick={() => setForecastOf(forecastOf === l.id ? null : l.id)}
                      aria-expanded={forecastOf === l.id}>Forecast of {l.id}</button></td>
                  </tr>,
                  ...(forecastOf === l.id ? [<tr key={`${l.id}-forecast`}><td colSpan={7}><Forecast lineId={l.id} /></td></tr>] : []),
                  ...l.campaigns.map((cmp) => (
                    <tr key={`${l.id}-${cmp.campaign_id}`}>
                      <td>&nbsp;&nbsp;&nbsp;&nbsp;<a href={href("campaigns", cmp.campaign_id)}>{cmp.title ?? cmp.campaign_id}</a>{" "}
                        <small className="muted">{cmp.hold_status}</small></td>
                      <TotalsCells t={cmp.totals} /><td /><td />
                    </tr>
                  )),
                ]),
              ])}
            </tbody>
          </table></div>
        </>
      )}
    </Section>
  );
}

const NO_PLAN = { id: "", name: "", year: String(new Date().getUTCFullYear()), team: "", channel: "", amount: "", currency: "EUR" };
const NO_LINE = { id: "", name: "", year: String(new Date().getUTCFullYear()), quarter: "1", team: "", channel: "email", amount: "", currency: "EUR" };

function PlanForm() {
  const queries = useQueryClient();
  const [p, setP] = useState(NO_PLAN);
  const create = useMutation({
    mutationFn: () => apiPost("budget", "/plans", { id: p.id.trim() || null, name: p.name.trim() || null,
      fiscal_year: Number(p.year), team: p.team.trim(), channel: (p.channel || null) as Channel,
      amount: { amount: p.amount.trim(), currency: p.currency as Currency } }),
    onSuccess: () => { setP(NO_PLAN); void queries.invalidateQueries(); },
  });
  const errors = create.error instanceof ApiError ? errorsByField(create.error.problem?.errors) : {};
  return (
    <Section title="New plan">
      <form className="form-grid" aria-label="New plan" onSubmit={(e) => { e.preventDefault(); create.mutate(); }}>
        <Field label="Plan id (optional)" id="pl-id" errors={errors.id}><input id="pl-id" value={p.id} onChange={(e) => setP({ ...p, id: e.target.value })} /></Field>
        <Field label="Plan name" id="pl-name" errors={errors.name}><input id="pl-name" value={p.name} onChange={(e) => setP({ ...p, name: e.target.value })} /></Field>
        <Field label="Plan fiscal year" id="pl-year" errors={errors.fiscal_year}><input id="pl-year" inputMode="numeric" value={p.year} onChange={(e) => setP({ ...p, year: e.target.value })} required /></Field>
        <Field label="Plan team" id="pl-team" errors={errors.team}><input id="pl-team" value={p.team} onChange={(e) => setP({ ...p, team: e.target.value })} required /></Field>
        <Field label="Plan channel" id="pl-channel" errors={errors.channel} hint="None: the whole team's plan">
          <select id="pl-channel" value={p.channel} onChange={(e) => setP({ ...p, channel: e.target.value })}>
            <option value="">(every channel)</option>
            {CHANNELS.map((ch) => <option key={ch} value={ch}>{ch}</option>)}
          </select>
        </Field>
        <Field label="Plan amount" id="pl-amount" errors={errors["amount.amount"] ?? errors.amount}><input id="pl-amount" value={p.amount} onChange={(e) => setP({ ...p, amount: e.target.value })} required /></Field>
        <Field label="Plan currency" id="pl-currency" errors={errors["amount.currency"]}><input id="pl-currency" value={p.currency} onChange={(e) => setP({ ...p, currency: e.target.value.toUpperCase() })} required /></Field>
        <div><button type="submit" disabled={create.isPending}>Create plan</button></div>
      </form>
      {create.isSuccess && <p className="ok" role="status">Created plan {create.data.id}.</p>}
      <ErrorNote error={create.error} />
    </Section>
  );
}

function LineForm() {
  const queries = useQueryClient();
  const [l, setL] = useState(NO_LINE);
  const create = useMutation({
    mutationFn: () => apiPost("budget", "/budget-lines", { id: l.id.trim() || null, name: l.name.trim() || null,
      fiscal_year: Number(l.year), quarter: Number(l.quarter), team: l.team.trim(),
      channel: l.channel as NonNullable<Channel>, amount: { amount: l.amount.trim(), currency: l.currency as Currency } }),
    onSuccess: () => { setL(NO_LINE); void queries.invalidateQueries(); },
  });
  const errors = create.error instanceof ApiError ? errorsByField(create.error.problem?.errors) : {};
  return (
    <Section title="New budget line">
      <form className="form-grid" aria-label="New budget line" onSubmit={(e) => { e.preventDefault(); create.mutate(); }}>
        <Field label="Line id (optional)" id="ln-id" errors={errors.id}><input id="ln-id" value={l.id} onChange={(e) => setL({ ...l, id: e.target.value })} /></Field>
        <Field label="Line name" id="ln-name" errors={errors.name}><input id="ln-name" value={l.name} onChange={(e) => setL({ ...l, name: e.target.value })} /></Field>
        <Field label="Line fiscal year" id="ln-year" errors={errors.fiscal_year}><input id="ln-year" inputMode="numeric" value={l.year} onChange={(e) => setL({ ...l, year: e.target.value })} required /></Field>
        <Field label="Line quarter" id="ln-quarter" errors={errors.quarter}>
          <select id="ln-quarter" value={l.quarter} onChange={(e) => setL({ ...l, quarter: e.target.value })}>
            {["1", "2", "3", "4"].map((q) => <option key={q} value={q}>Q{q}</option>)}
          </select>
        </Field>
        <Field label="Line team" id="ln-team" errors={errors.team}><input id="ln-team" value={l.team} onChange={(e) => setL({ ...l, team: e.target.value })} required /></Field>
        <Field label="Line channel" id="ln-channel" errors={errors.channel}>
          <select id="ln-channel" value={l.channel} onChange={(e) => setL({ ...l, channel: e.target.value })}>
            {CHANNELS.map((ch) => <option key={ch} value={ch}>{ch}</option>)}
          </select>
        </Field>
        <Field label="Line amount" id="ln-amount" errors={errors["amount.amount"] ?? errors.amount}><input id="ln-amount" value={l.amount} onChange={(e) => setL({ ...l, amount: e.target.value })} required /></Field>
        <Field label="Line currency" id="ln-currency" errors={errors["amount.currency"]}><input id="ln-currency" value={l.currency} onChange={(e) => setL({ ...l, currency: e.target.value.toUpperCase() })} required /></Field>
        <div><button type="submit" disabled={create.isPending}>Create line</button></div>
      </form>
      {create.isSuccess && <p className="ok" role="status">Created line {create.data.id}.</p>}
      <ErrorNote error={create.error} />
    </Section>
  );
}

export function PlansPage({ me, selected }: { me: Me; selected?: string }) {
  const [year, setYear] = useState("");
  const plans = useQuery({ queryKey: ["plans", year],
    queryFn: () => apiGet("budget", "/plans", { query: { fiscal_year: /^\d{4}$/.test(year) ? Number(year) : undefined } }) });
  const finance = has(me, "finance", "ops_admin");
  return (
    <>
      <h1>Plans</h1>
      <Section title="Annual plans">
        <form className="form-grid" aria-label="Plan filter" onSubmit={(e) => e.preventDefault()}>
          <Field label="Fiscal year" id="plans-year" hint="Empty: every year">
            <input id="plans-year" inputMode="numeric" value={year} onChange={(e) => setYear(e.target.value)} />
          </Field>
        </form>
        {plans.isLoading && <Loading what="plans" />}
        <ErrorNote error={plans.error} />
        {plans.data?.length === 0 && <p className="muted">No plans.</p>}
        <div className="table-wrap"><table>
          <thead><tr><th>Plan</th><th>Year · team · channel</th>{TOTALS_HEAD}<th className="num">Unallocated</th></tr></thead>
          <tbody>{(plans.data ?? []).map((p) => (
            <tr key={p.id} data-testid={`plan-${p.id}`} aria-current={selected === p.id ? "true" : undefined}>
              <td><a href={href("plans", p.id)}>{p.name ?? p.id}</a><div className="muted"><small>{p.id}</small></div></td>
              <td>{p.fiscal_year} · {p.team} · {p.channel ?? "every channel"}</td><TotalsCells t={p.totals} />
              <td className="num">{formatMoney(p.unallocated)}</td>
            </tr>
          ))}</tbody>
        </table></div>
      </Section>
      {selected && <Rollup planId={selected} />}
      {finance && <div className="grid"><PlanForm /><LineForm /></div>}
    </>
  );
}
