import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ApiError } from "../api/client";
import { apiGet, apiPost } from "../api/typed";
import type { BudgetT, Me } from "../api/types";
import { ErrorNote, Field, Loading, Section } from "../components/ui";
import { when } from "../lib/format";
import { errorsByField } from "../lib/problems";
import { formatMoney, toNumber } from "../lib/money";
import { href } from "../lib/route";
import { has } from "../session";

const SEGMENTS = [["committed", "#1f5fbf"], ["reserved", "#f0a500"], ["spent", "#b3261e"]] as const;

function LineBars({ line }: { line: BudgetT["BudgetLineOut"] }) {
  const plan = Math.max(toNumber(line.amount.amount), 1);
  return (
    <div className="bars" aria-label={`${line.id}: plan ${formatMoney(line.amount)}`}>
      {SEGMENTS.map(([k, color]) => (
        <div key={k} className="bar-row">
          <small>{k} {formatMoney(line[k])}</small>
          <div className="bar"><span style={{ width: `${Math.min(100, (toNumber(line[k].amount) / plan) * 100)}%`, background: color }} /></div>
        </div>
      ))}
    </div>
  );
}

export function BudgetPage({ me }: { me: Me }) {
  const queries = useQueryClient();
  const lines = useQuery({ queryKey: ["budget-lines"], queryFn: () => apiGet("budget", "/budget-lines") });
  const ledger = useQuery({ queryKey: ["ledger"], queryFn: () => apiGet("budget", "/spend", { query: { limit: 50 } }) });
  const reallocations = useQuery({ queryKey: ["reallocations"], queryFn: () => apiGet("budget", "/reallocations") });
  const [move, setMove] = useState({ from: "", to: "", amount: "", currency: "EUR", reason: "" });
  const reallocate = useMutation({
    mutationFn: () => apiPost("budget", "/reallocations", { from_line_id: move.from, to_line_id: move.to, amount: { amount: move.amount, currency: move.currency as BudgetT["PositiveMoneyInput"]["currency"] }, reason: move.reason }),
    onSuccess: () => { setMove({ from: "", to: "", amount: "", currency: "EUR", reason: "" }); void queries.invalidateQueries(); },
  });
  const finance = has(me, "finance", "ops_admin");
  const today = new Date().toISOString().slice(0, 10);
  const [spend, setSpend] = useState({ campaign: "", source: "console", reference: "", amount: "", currency: "EUR", incurred: today });
  const record = useMutation({
    mutationFn: () => apiPost("budget", "/spend", { campaign_id: spend.campaign.trim(), source_system: spend.source.trim(),
      source_reference: spend.reference.trim(), incurred_on: spend.incurred,
      amount: { amount: spend.amount.trim(), currency: spend.currency as BudgetT["NonZeroMoneyInput"]["currency"] } }),
    onSuccess: () => { setSpend({ ...spend, reference: "", amount: "" }); void queries.invalidateQueries(); },
  });
  const spendErrors = record.error instanceof ApiError ? errorsByField(record.error.problem?.errors) : {};
  return (
    <>
      <h1>Budget</h1>
      <Section title="Budget lines">
        <ErrorNote error={lines.error} />
        {lines.isLoading && <Loading what="budget lines" />}
        <div className="table-wrap"><table>
          <thead><tr><th>Line</th><th>Team · channel</th><th>Period</th><th className="num">Plan</th><th className="num">Reserved</th>
            <th className="num">Committed</th><th className="num">Spent</th><th className="num">Available</th><th>Use of plan</th></tr></thead>
          <tbody>
            {(lines.data ?? []).map((l) => (
              <tr key={l.id} data-testid={`line-${l.id}`}>
                <td>{l.name ?? l.id}<div className="muted"><small>{l.id}</small></div></td>
                <td>{l.team} · {l.channel}</td><td>{l.fiscal_year} Q{l.quarter}</td>
                <td className="num">{formatMoney(l.amount)}</td><td className="num">{formatMoney(l.reserved)}</td>
                <td className="num">{formatMoney(l.committed)}</td><td className="num">{formatMoney(l.spent)}</td>
                <td className="num">{formatMoney(l.available)}</td><td style={{ minWidth: 160 }}><LineBars line={l} /></td>
              </tr>
            ))}
          </tbody>
        </table></div>
      </Section>
      {finance && (
        <Section title="Record spend">
          <form className="form-grid" onSubmit={(e) => { e.preventDefault(); record.mutate(); }} aria-label="Record spend">
            <Field label="Campaign id" id="sp-campaign" errors={spendErrors.campaign_id}><input id="sp-campaign" value={spend.campaign} onChange={(e) => setSpend({ ...spend, campaign: e.target.value })} required /></Field>
            <Field label="Source system" id="sp-source" errors={spendErrors.source_system}><input id="sp-source" value={spend.source} onChange={(e) => setSpend({ ...spend, source: e.target.value })} required /></Field>
            <Field label="Source reference (invoice, order)" id="sp-ref" errors={spendErrors.source_reference}><input id="sp-ref" value={spend.reference} onChange={(e) => setSpend({ ...spend, reference: e.target.value })} required /></Field>
            <Field label="Amount" id="sp-amount" errors={spendErrors["amount.amount"] ?? spendErrors.amount}><input id="sp-amount" value={spend.amount} onChange={(e) => setSpend({ ...spend, amount: e.target.value })} required /></Field>
            <Field label="Currency" id="sp-currency" errors={spendErrors["amount.currency"]}><input id="sp-currency" value={spend.currency} onChange={(e) => setSpend({ ...spend, currency: e.target.value.toUpperCase() })} required /></Field>
            <Field label="Incurred on" id="sp-incurred" errors={spendErrors.incurred_on}><input id="sp-incurred" type="date" value={spend.incurred} onChange={(e) => setSpend({ ...spend, incurred: e.target.value })} required /></Field>
            <div><button type="submit" disabled={record.isPending}>Record spend</button></div>
          </form>
          {record.isSuccess && <p className="ok" role="status">Recorded {formatMoney(record.data.amount)}{record.data.already_recorded ? " (already recorded)" : ""}.</p>}
          <ErrorNote error={record.error} />
        </Section>
      )}
      {finance && (
        <Section title="Reallocate between lines">
          <form className="form-grid" onSubmit={(e) => { e.preventDefault(); reallocate.mutate(); }} aria-label="Reallocation">
            <Field label="From line" id="re-from"><input id="re-from" value={move.from} onChange={(e) => setMove({ ...move, from: e.target.value })} required /></Field>
            <Field label="To line" id="re-to"><input id="re-to" value={move.to} onChange={(e) => setMove({ ...move, to: e.target.value })} required /></Field>
            <Field label="Amount" id="re-amount"><input id="re-amount" value={move.amount} onChange={(e) => setMove({ ...move, amount: e.target.value })} required /></Field>
            <Field label="Currency" id="re-currency"><input id="re-currency" value={move.currency} onChange={(e) => setMove({ ...move, currency: e.target.value.toUpperCase() })} required /></Field>
            <Field label="Reason" id="re-reason"><input id="re-reason" value={move.reason} onChange={(e) => setMove({ ...move, reason: e.target.value })} required /></Field>
            <div><button type="submit" disabled={reallocate.isPending}>Reallocate</button></div>
          </form>
          {reallocate.isSuccess && <p className="ok" role="status">Reallocated.</p>}
          <ErrorNote error={reallocate.error} />
        </Section>
      )}
      <div className="grid">
        <Section title="Ledger (latest spend)">
          <ErrorNote error={ledger.error} />
          {ledger.data && (
            <>
              <p className="muted">Totals: {ledger.data.totals.map((t) => `${t.total} ${t.currency} (${t.entries})`).join(", ") || "none"}</p>
              <div className="table-wrap"><table>
                <thead><tr><th>Incurred</th><th>Campaign</th><th>Source</th><th className="num">Amount</th><th>Reconciled</th></tr></thead>
                <tbody>{ledger.data.items.map((s) => (
                  <tr key={s.id}><td>{s.incurred_on}</td><td><a href={href("campaigns", s.campaign_id)}>{s.campaign_id.slice(0, 8)}</a></td>
                    <td>{s.source_system}:{s.source_reference}</td><td className="num">{formatMoney(s.amount)}</td><td>{s.reconciliation}</td></tr>
                ))}</tbody>
              </table></div>
            </>
          )}
        </Section>
        <Section title="Reallocations">
          <ErrorNote error={reallocations.error} />
          {reallocations.data?.length === 0 && <p className="muted">None.</p>}
          <ul>{(reallocations.data ?? []).map((r) => (
            <li key={r.id}>{when(r.reallocated_at)}: {formatMoney(r.amount)} from {r.from_line_id} to {r.to_line_id} by {r.reallocated_by} — “{r.reason}”</li>
          ))}</ul>
        </Section>
      </div>
    </>
  );
}
