// The current policy (gates, decision rights, SLAs), its history, and a new version (ops admin).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { ApiError } from "../api/client";
import { apiGet, apiPost } from "../api/typed";
import type { GovernanceT, Me } from "../api/types";
import { ErrorNote, Field, Loading, Section } from "../components/ui";
import { when } from "../lib/format";
import { errorsByField } from "../lib/problems";
import { has } from "../session";

type Gate = GovernanceT["GateDefinition"];

function rights(g: Gate): string {
  return g.deciders.map((d) => d.user ?? `${d.role}${d.amount_limit ? ` ≤ ${d.amount_limit.amount} ${d.amount_limit.currency}` : ""}`).join(", ");
}

function condition(g: Gate): string {
  const c = g.condition;
  if (!c || c.type === "always") return "always";
  if (c.type === "amount_at_least") return `amount ≥ ${c.threshold.amount} ${c.threshold.currency}`;
  return `channel in ${c.channels.join(", ")}`;
}

export function PolicyPage({ me }: { me: Me }) {
  const queries = useQueryClient();
  const current = useQuery({ queryKey: ["policy"], queryFn: () => apiGet("governance", "/policy") });
  const versions = useQuery({ queryKey: ["policy-versions"], queryFn: () => apiGet("governance", "/policy/versions") });
  const [gates, setGates] = useState<Gate[]>([]);
  const [blocking, setBlocking] = useState("15");
  const [outcomeKpi, setOutcomeKpi] = useState(false);
  // Not edited here, but carried over: a new version without them would silently fall back
  // to the default change rules.
  const [changeRules, setChangeRules] = useState<GovernanceT["PolicyOut"]["change_rules"]>(null);
  const [reason, setReason] = useState("");
  const [json, setJson] = useState("");
  useEffect(() => {
    if (current.data) {
      setGates(current.data.gates);
      setBlocking(String(current.data.blocking_risk_score));
      setOutcomeKpi(current.data.require_outcome_kpi);
      setChangeRules(current.data.change_rules ?? null);
      setJson(JSON.stringify(current.data.gates, null, 2));
    }
  }, [current.data]);
  const save = useMutation({
    mutationFn: (g: Gate[]) => apiPost("governance", "/policy/versions", { gates: g, blocking_risk_score: Number(blocking), require_outcome_kpi: outcomeKpi, change_rules: changeRules, reason }),
    onSuccess: () => { setReason(""); void queries.invalidateQueries({ queryKey: ["policy"] }); void queries.invalidateQueries({ queryKey: ["policy-versions"] }); },
  });
  const [jsonError, setJsonError] = useState<string | null>(null);
  const errors = save.error instanceof ApiError ? errorsByField(save.error.problem?.errors) : {};
  const admin = has(me, "ops_admin");
  const setGate = (i: number, patch: Partial<Gate>) => setGates(gates.map((g, j) => (j === i ? { ...g, ...patch } : g)));

  return (
    <>
      <h1>Policy</h1>
      {current.isLoading && <Loading what="the policy" />}
      <ErrorNote error={current.error} />
      {current.data && (
        <Section title={`Current policy: version ${current.data.version}`}>
          <p className="muted">Effective from {when(current.data.effective_from)} · by {current.data.created_by} · blocking risk score {current.data.blocking_risk_score}</p>
          <div className="table-wrap"><table>
            <thead><tr><th>Gate</th><th>Kind</th><th>Applies</th><th>Decision rights</th><th className="num">Approvals</th><th className="num">SLA (h)</th><th>Escalates to</th></tr></thead>
            <tbody>{(admin ? gates : current.data.gates).map((g, i) => (
              <tr key={g.id}>
                <td>{g.name}<div className="muted"><small>{g.id}</small></div></td><td>{g.kind}</td><td>{condition(g)}</td><td>{rights(g)}</td>
                <td className="num">{admin ? <input aria-label={`Approvals required for ${g.name}`} type="number" min={1} value={g.approvals_required}
                  onChange={(e) => setGate(i, { approvals_required: Number(e.target.value) })} style={{ width: 70 }} /> : g.approvals_required}</td>
                <td className="num">{admin ? <input aria-label={`SLA hours for ${g.name}`} type="number" min={0} value={g.sla_hours}
                  onChange={(e) => setGate(i, { sla_hours: Number(e.target.value) })} style={{ width: 80 }} /> : g.sla_hours}
                  {errors[`gates.${i}.sla_hours`]?.map((m) => <small key={m} className="field-error">{m}</small>)}</td>
                <td>{g.escalation_role}</td>
              </tr>
            ))}</tbody>
          </table></div>
          {admin && (
            <form aria-label="New policy version" onSubmit={(e) => { e.preventDefault(); save.mutate(gates); }}>
              <div className="form-grid">
                <Field label="Blocking risk score" id="p-blocking" errors={errors.blocking_risk_score}>
                  <input id="p-blocking" type="number" value={blocking} onChange={(e) => setBlocking(e.target.value)} />
                </Field>
                <Field label="Launch needs an outcome KPI" id="p-outcome" errors={errors.require_outcome_kpi}>
                  <input id="p-outcome" type="checkbox" checked={outcomeKpi} onChange={(e) => setOutcomeKpi(e.target.checked)} />
                </Field>
                <Field label="Reason for the change (required)" id="p-reason" errors={errors.reason}>
                  <input id="p-reason" value={reason} onChange={(e) => setReason(e.target.value)} required />
                </Field>
              </div>
              <button type="submit" disabled={save.isPending || !reason.trim()}>Publish new version</button>
              <details>
                <summary>Edit every field as JSON (gates, decision rights, conditions)</summary>
                <Field label="Gates (JSON)" id="p-json" errors={jsonError ? [jsonError] : undefined}>
                  <textarea id="p-json" rows={14} value={json} onChange={(e) => setJson(e.target.value)} />
                </Field>
                <button type="button" className="secondary" disabled={!reason.trim()} onClick={() => {
                  try { setJsonError(null); save.mutate(JSON.parse(json) as Gate[]); } catch (err) { setJsonError(`not JSON: ${String(err)}`); }
                }}>Publish the JSON as a new version</button>
              </details>
              {save.isSuccess && <p className="ok" role="status">Version {save.data.version} published.</p>}
              <ErrorNote error={save.error} />
              {save.error instanceof ApiError && save.error.problem?.errors && (
                <ul className="error">{save.error.problem.errors.map((e) => <li key={e.path + e.message}>{e.path}: {e.message}</li>)}</ul>
              )}
            </form>
          )}
        </Section>
      )}
      <Section title="Version history">
        <ErrorNote error={versions.error} />
        <ol reversed>{(versions.data?.items ?? []).slice().reverse().map((v) => (
          <li key={v.version}>Version {v.version} · {when(v.created_at)} by {v.created_by}{v.reason && <> — “{v.reason}”</>} · {v.gates.length} gates</li>
        ))}</ol>
      </Section>
    </>
  );
}
