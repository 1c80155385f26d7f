// The campaign page's read sections: gates, budget, risks, RACI, versions, timeline.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ApiError } from "../../api/client";
import { apiGet, apiPost } from "../../api/typed";
import type { GovernanceT, IntakeT, Me } from "../../api/types";
import { DecisionForm } from "../../components/DecisionForm";
import { Badge, ErrorNote, Field, Loading, Section } from "../../components/ui";
import { hours, label, when } from "../../lib/format";
import { formatMoney, toNumber } from "../../lib/money";
import { slaClock } from "../../lib/queue";
import { has } from "../../session";

const notYet = (e: unknown) => e instanceof ApiError && e.status === 404;

function deciders(g: GovernanceT["GateOut"]): string {
  return g.deciders.map((d) => d.user ?? `${d.role}${d.amount_limit ? ` up to ${formatMoney(d.amount_limit)}` : ""}`).join(", ");
}

export function GatesSection({ id, me, intake }: { id: string; me: Me; intake: IntakeT["CampaignDetail"] }) {
  const gov = useQuery({ queryKey: ["gov-campaign", id], queryFn: () => apiGet("governance", "/campaigns/{campaign_id}", { path: { campaign_id: id } }) });
  const decider = has(me, "approver", "finance", "ops_admin");
  return (
    <Section title="Gates">
      {gov.isLoading && <Loading what="gates" />}
      {gov.error && (notYet(gov.error) ? <p className="muted">No gates yet: the brief has not reached governance.</p> : <ErrorNote error={gov.error} />)}
      {gov.data && (
        <>
          <p>Policy version {gov.data.policy_version} · brief version {gov.data.brief_version} · status <Badge value={gov.data.status} /></p>
          <div className="table-wrap">
            <table>
              <thead><tr><th>#</th><th>Gate</th><th>State</th><th>Deciders</th><th>SLA</th><th>Decided</th></tr></thead>
              <tbody>
                {gov.data.gates.map((g) => (
                  <tr key={g.gate_id} data-testid={`gate-${g.gate_id}`}>
                    <td>{g.position}</td>
                    <td>{g.name}</td>
                    <td><Badge value={g.status} />{g.overdue && <> <Badge value="overdue" /></>}</td>
                    <td>{deciders(g)}</td>
                    <td>{g.sla_hours} h{g.status === "open" && <> · {slaClock(g.due_at)}</>}</td>
                    <td>
                      {g.approvals.map((a) => <div key={a.by + a.at}>approved by {a.by}, {when(a.at)}</div>)}
                      {g.rejection && <div>{label(g.rejection.kind ?? "rejected")} by {g.rejection.by}: “{g.rejection.reason}”</div>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {decider && gov.data.current_gate && (() => {
            const gate = gov.data.gates.find((g) => g.gate_id === gov.data.current_gate);
            return gate ? <DecisionForm campaignId={id} gateId={gate.gate_id} gateName={gate.name} briefVersion={gov.data.brief_version} /> : null;
          })()}
        </>
      )}
      <h3>Decision history</h3>
      {intake.decisions.length === 0 ? <p className="muted">No decision yet.</p> : (
        <ul>
          {intake.decisions.map((d, i) => (
            <li key={i}>
              {when(d.at)} · v{d.brief_version} · {d.gate_name ?? "gate"}: <strong>{label(d.kind ?? d.type)}</strong>
              {d.by && <> by {d.by}</>}{d.reason && <> — “{d.reason}”</>}
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}

export function ReadinessSection({ id, me, owner, status }: { id: string; me: Me; owner: string | null; status: string }) {
  const queries = useQueryClient();
  const ready = useQuery({ queryKey: ["readiness", id], queryFn: () => apiGet("governance", "/campaigns/{campaign_id}/readiness", { path: { campaign_id: id } }) });
  const launch = useMutation({
    mutationFn: () => apiPost("governance", "/campaigns/{campaign_id}/launch", {}, { path: { campaign_id: id }, idempotencyKey: `launch-${id}` }),
    onSuccess: () => queries.invalidateQueries(),
  });
  if (ready.error && notYet(ready.error)) return null;
  const over = status === "launched" || status === "completed" || status === "cancelled";
  const mayLaunch = me.subject === owner && !over;
  return (
    <Section title="Launch readiness">
      <ErrorNote error={ready.error} />
      {/* After the launch, readiness lists "already launched" as unmet: say what happened instead. */}
      {over && status !== "cancelled" && <p data-testid="readiness">This campaign has launched.</p>}
      {ready.data && !over && (
        <>
          <p data-testid="readiness">{ready.data.ready ? "Ready to launch." : "Not ready:"}</p>
          {!ready.data.ready && <ul>{ready.data.unmet.map((u) => <li key={u.code}>{u.detail}</li>)}</ul>}
        </>
      )}
      {mayLaunch && (
        <button type="button" onClick={() => launch.mutate()} disabled={launch.isPending}>Launch campaign</button>
      )}
      {launch.isSuccess && <p className="ok" role="status">Launched (version {launch.data.brief_version}).</p>}
      <ErrorNote error={launch.error} />
    </Section>
  );
}

export function BudgetSection({ id }: { id: string }) {
  const b = useQuery({ queryKey: ["campaign-budget", id], queryFn: () => apiGet("budget", "/campaigns/{campaign_id}/budget", { path: { campaign_id: id } }) });
  return (
    <Section title="Budget">
      {b.error && (notYet(b.error) ? <p className="muted">No budget activity yet.</p> : <ErrorNote error={b.error} />)}
      {b.data && (
        <>
          <dl className="kpis">
            {([["Status", b.data.status], ["Line", b.data.budget_line_id ?? "—"], ["Reserved", formatMoney(b.data.reserved)],
               ["Committed", formatMoney(b.data.committed)], ["Spent", formatMoney(b.data.spent)],
               ["Remaining", formatMoney(b.data.remaining)], ["Variance", formatMoney(b.data.variance)]] as const).map(([k, v]) => (
              <div className="kpi" key={k}><dt className="name">{k}</dt><dd className="value" data-testid={`budget-${k.toLowerCase()}`}>{v}</dd></div>
            ))}
          </dl>
          {b.data.pacing && (
            <p>Pacing: {b.data.pacing.status} — spent {formatMoney(b.data.pacing.spent_to_date)} of an expected{" "}
              {formatMoney(b.data.pacing.expected_spend_to_date)} by {b.data.pacing.as_of}
              {b.data.pacing.pacing_index && <> (index {b.data.pacing.pacing_index})</>}</p>
          )}
          {b.data.thresholds_alerted.length > 0 && <p>Thresholds crossed: {b.data.thresholds_alerted.map((t) => `${t} %`).join(", ")}</p>}
          {b.data.committed && b.data.spent && (
            <div className="bars" aria-hidden="true">
              <div className="bar"><span style={{ width: `${Math.min(100, (toNumber(b.data.spent.amount) / Math.max(1, toNumber(b.data.committed.amount))) * 100)}%`, background: "#1f5fbf" }} /></div>
            </div>
          )}
        </>
      )}
    </Section>
  );
}

export function RisksSection({ id, me, team }: { id: string; me: Me; team: string }) {
  const queries = useQueryClient();
  const risks = useQuery({ queryKey: ["risks", id], queryFn: () => apiGet("governance", "/campaigns/{campaign_id}/risks", { path: { campaign_id: id } }) });
  const [description, setDescription] = useState("");
  const [probability, setProbability] = useState("2");
  const [impact, setImpact] = useState("2");
  const add = useMutation({
    mutationFn: () => apiPost("governance", "/campaigns/{campaign_id}/risks", {
      description, probability: Number(probability), impact: Number(impact), owner: me.subject }, { path: { campaign_id: id } }),
    onSuccess: () => { setDescription(""); void queries.invalidateQueries({ queryKey: ["risks", id] }); },
  });
  const mayAdd = has(me, "ops_admin") || (has(me, "requester") && me.team === team);
  return (
    <Section title="Risks">
      {risks.error && (notYet(risks.error) ? <p className="muted">No risk register until the brief is submitted.</p> : <ErrorNote error={risks.error} />)}
      {risks.data && (risks.data.items.length === 0 ? <p className="muted">No risks recorded.</p> : (
        <div className="table-wrap"><table>
          <thead><tr><th>Risk</th><th>Score</th><th>Status</th><th>Owner</th></tr></thead>
          <tbody>{risks.data.items.map((r) => (
            <tr key={r.risk_id}><td>{r.description}{r.blocks_launch && <> <Badge value="blocks launch" /></>}</td>
              <td className="num">{r.score}</td><td><Badge value={r.status} /></td><td>{r.owner}</td></tr>
          ))}</tbody>
        </table></div>
      ))}
      {risks.data && mayAdd && (
        <form className="form-grid" onSubmit={(e) => { e.preventDefault(); add.mutate(); }} aria-label="Add a risk">
          <Field label="New risk" id="risk-description"><input id="risk-description" value={description} onChange={(e) => setDescription(e.target.value)} required /></Field>
          <Field label="Probability (1-5)" id="risk-p"><input id="risk-p" type="number" min={1} max={5} value={probability} onChange={(e) => setProbability(e.target.value)} /></Field>
          <Field label="Impact (1-5)" id="risk-i"><input id="risk-i" type="number" min={1} max={5} value={impact} onChange={(e) => setImpact(e.target.value)} /></Field>
          <div><button type="submit" disabled={add.isPending || !description.trim()}>Add risk</button></div>
          <ErrorNote error={add.error} />
        </form>
      )}
    </Section>
  );
}

export function RaciSection({ id }: { id: string }) {
  const raci = useQuery({ queryKey: ["raci", id], queryFn: () => apiGet("governance", "/campaigns/{campaign_id}/raci", { path: { campaign_id: id } }) });
  if (raci.error && notYet(raci.error)) return null;
  const r = raci.data?.raci;
  return (
    <Section title="RACI">
      <ErrorNote error={raci.error} />
      {r && (
        <dl className="raci">
          <dt>Responsible</dt><dd>{r.responsible?.join(", ") || "—"}</dd>
          <dt>Accountable</dt><dd>{r.accountable ?? "—"}</dd>
          <dt>Consulted</dt><dd>{r.consulted?.join(", ") || "—"}</dd>
          <dt>Informed</dt><dd>{r.informed?.join(", ") || "—"}</dd>
        </dl>
      )}
    </Section>
  );
}

function change(c: IntakeT["ChangeOut"]): string {
  const show = (v: unknown) => (v === undefined || v === null ? "∅" : typeof v === "string" ? v : JSON.stringify(v));
  return `${c.change} ${c.path}: ${show(c.before)} → ${show(c.after)}`;
}

export function VersionsSection({ campaign }: { campaign: IntakeT["CampaignDetail"] }) {
  return (
    <Section title="Versions">
      {campaign.versions.length === 0 && <p className="muted">Not submitted yet.</p>}
      {campaign.versions.map((v) => (
        <details key={v.version} open={v.version === campaign.current_version}>
          <summary>Version {v.version}, submitted {when(v.submitted_at)} by {v.submitted_by} ({v.changes.length} changes)</summary>
          <pre className="diff">{v.changes.map(change).join("\n") || "no change"}</pre>
        </details>
      ))}
      {campaign.unsubmitted_changes.length > 0 && (
        <details open>
          <summary>Unsubmitted changes ({campaign.unsubmitted_changes.length})</summary>
          <pre className="diff">{campaign.unsubmitted_changes.map(change).join("\n")}</pre>
        </details>
      )}
    </Section>
  );
}

export function TimelineSection({ id }: { id: string }) {
  const t = useQuery({ queryKey: ["timeline", id], queryFn: () => apiGet("metrics", "/campaigns/{campaign_id}/timeline", { path: { campaign_id: id } }) });
  return (
    <Section title="Timeline">
      {t.error && (notYet(t.error) ? <p className="muted">No events yet.</p> : <ErrorNote error={t.error} />)}
      {t.data && (
        <>
          {t.data.cycle_time_hours !== null && <p>Cycle time: {hours(t.data.cycle_time_hours)}</p>}
          <ol className="timeline">
            {t.data.events.map((e) => (
              <li key={e.event_id}>
                <strong>{e.type}</strong> · {when(e.time)}
                {e.since_previous_hours !== null && <span className="muted"> (+{hours(e.since_previous_hours)})</span>}
                <div>{e.summary}</div>
              </li>
            ))}
          </ol>
        </>
      )}
    </Section>
  );
}
