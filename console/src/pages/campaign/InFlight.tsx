// The campaign page's sections after approval: pauses and change requests while in flight,
// then results, completion and the retrospective. The service decides who may do what; the
// forms are shown to the owner and ops admins, the only ones it lets through.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ApiError } from "../../api/client";
import { apiGet, apiPost } from "../../api/typed";
import type { IntakeT } from "../../api/types";
import { Badge, ErrorNote, Field, Loading, Section } from "../../components/ui";
import { when } from "../../lib/format";
import { entries, kpiMetrics } from "../../lib/outcomes";
import { errorsByField, fieldPath } from "../../lib/problems";

type Campaign = IntakeT["CampaignDetail"];
type Currency = NonNullable<IntakeT["ChangeBody"]["budget_amount"]>["currency"];

const IN_FLIGHT = new Set(["approved", "launched"]);


function useInvalidate() {
  const queries = useQueryClient();
  return () => void queries.invalidateQueries();
}

export function InFlightSection({ campaign, mayAct }: { campaign: Campaign; mayAct: boolean }) {
  const id = campaign.id;
  const invalidate = useInvalidate();
  const [reason, setReason] = useState("");
  const pauseOrResume = useMutation({
    mutationFn: () => apiPost("intake", campaign.paused ? "/campaigns/{campaign_id}/resume" : "/campaigns/{campaign_id}/pause",
      { reason: reason.trim() }, { path: { campaign_id: id } }),
    onSuccess: () => { setReason(""); invalidate(); },
  });
  const [change, setChange] = useState({ reason: "", amount: "", currency: "EUR", launch: "" });
  const requestChange = useMutation({
    mutationFn: () => apiPost("intake", "/campaigns/{campaign_id}/changes", {
      reason: change.reason.trim(),
      budget_amount: change.amount.trim() ? { amount: change.amount.trim(), currency: change.currency as Currency } : null,
      target_launch_date: change.launch || null,
    }, { path: { campaign_id: id } }),
    onSuccess: () => { setChange({ reason: "", amount: "", currency: "EUR", launch: "" }); invalidate(); },
  });
  const changeErrors = requestChange.error instanceof ApiError ? errorsByField(requestChange.error.problem?.errors) : {};
  const pauses = campaign.pauses ?? [];
  const changes = campaign.change_requests ?? [];
  const pending = changes.some((r) => r.status === "pending");
  if (!IN_FLIGHT.has(campaign.status) && pauses.length === 0 && changes.length === 0) return null;
  return (
    <Section title="In flight">
      <p data-testid="pause-state">{campaign.paused ? "Paused" : "Not paused"}{pauses.length > 0 && ` · ${pauses.length} pause(s) so far`}</p>
      {pauses.length > 0 && (
        <ul>{pauses.map((p) => (
          <li key={p.pause}>{when(p.paused_at)} by {p.paused_by}: “{p.reason}”
            {p.resumed_at ? <> · resumed {when(p.resumed_at)} by {p.resumed_by}: “{p.resume_reason}”</> : " · still paused"}</li>
        ))}</ul>
      )}
      {mayAct && IN_FLIGHT.has(campaign.status) && (
        <form className="form-grid" aria-label={campaign.paused ? "Resume" : "Pause"} onSubmit={(e) => { e.preventDefault(); pauseOrResume.mutate(); }}>
          <Field label={campaign.paused ? "Reason to resume" : "Reason to pause"} id="pause-reason">
            <input id="pause-reason" value={reason} onChange={(e) => setReason(e.target.value)} required />
          </Field>
          <div><button type="submit" disabled={pauseOrResume.isPending}>{campaign.paused ? "Resume campaign" : "Pause campaign"}</button></div>
        </form>
      )}
      <ErrorNote error={pauseOrResume.error} />
      <h3>Change requests</h3>
      {changes.length === 0 && <p className="muted">None.</p>}
      <ul>{changes.map((r) => (
        <li key={r.change_id} data-testid={`change-${r.change_id}`}>
          <Badge value={r.status} /> {r.changes.join(", ")} · version {r.base_version} → {r.version} · “{r.reason}” by {r.requested_by}, {when(r.requested_at)}
          {r.decided_at && <> · decided {when(r.decided_at)}{r.decided_by ? ` by ${r.decided_by}` : ""}</>}
        </li>
      ))}</ul>
      {mayAct && IN_FLIGHT.has(campaign.status) && !pending && (
        <form className="form-grid" aria-label="Request a change" onSubmit={(e) => { e.preventDefault(); requestChange.mutate(); }}>
          <Field label="New budget amount" id="chg-amount" errors={changeErrors["budget_amount.amount"] ?? changeErrors.budget_amount}
            hint="Empty: unchanged">
            <input id="chg-amount" value={change.amount} onChange={(e) => setChange({ ...change, amount: e.target.value })} />
          </Field>
          <Field label="Budget currency" id="chg-currency" errors={changeErrors["budget_amount.currency"]}>
            <input id="chg-currency" value={change.currency} onChange={(e) => setChange({ ...change, currency: e.target.value.toUpperCase() })} />
          </Field>
          <Field label="New target launch" id="chg-launch" errors={changeErrors.target_launch_date} hint="Empty: unchanged">
            <input id="chg-launch" type="date" value={change.launch} onChange={(e) => setChange({ ...change, launch: e.target.value })} />
          </Field>
          <Field label="Reason for the change" id="chg-reason" errors={changeErrors.reason}>
            <input id="chg-reason" value={change.reason} onChange={(e) => setChange({ ...change, reason: e.target.value })} required />
          </Field>
          <div><button type="submit" disabled={requestChange.isPending}>Request change</button></div>
        </form>
      )}
      <ErrorNote error={requestChange.error} />
      {requestChange.error instanceof ApiError && (
        <ul className="error">{(requestChange.error.problem?.errors ?? []).map((e) => (
          <li key={`${e.path}-${e.message}`}>{fieldPath(e.path)}: {e.message}</li>
        ))}</ul>
      )}
    </Section>
  );
}

function ReportResults({ campaign }: { campaign: Campaign }) {
  const invalidate = useInvalidate();
  const metrics = kpiMetrics(campaign.brief);
  const [actuals, setActuals] = useState<Record<string, string>>({});
  const [asOf, setAsOf] = useState(() => new Date().toISOString().slice(0, 10));
  const [reference, setReference] = useState("");
  const filled = metrics.filter((m) => (actuals[m] ?? "").trim() !== "").map((m) => ({ metric: m, actual: actuals[m].trim() }));
  const report = useMutation({
    mutationFn: () => apiPost("intake", "/campaigns/{campaign_id}/results", {
      source_system: "console", source_reference: reference.trim() || `console-${asOf}`, as_of: asOf, results: filled,
    }, { path: { campaign_id: campaign.id } }),
    onSuccess: () => { setActuals({}); setReference(""); invalidate(); },
  });
  const complete = useMutation({
    mutationFn: () => apiPost("intake", "/campaigns/{campaign_id}/complete", { results: filled }, { path: { campaign_id: campaign.id } }),
    onSuccess: () => { setActuals({}); invalidate(); },
  });
  return (
    <form className="form-grid" aria-label="Report results" onSubmit={(e) => { e.preventDefault(); report.mutate(); }}>
      {metrics.map((m, i) => (
        <Field key={m} label={`Actual ${m}`} id={`res-${i}`}>
          <input id={`res-${i}`} inputMode="decimal" value={actuals[m] ?? ""} onChange={(e) => setActuals({ ...actuals, [m]: e.target.value })} />
        </Field>
      ))}
      <Field label="Results as of" id="res-as-of"><input id="res-as-of" type="date" value={asOf} onChange={(e) => setAsOf(e.target.value)} required /></Field>
      <Field label="Report reference" id="res-ref" hint={`Empty: console-${asOf}; a re-send counts once`}>
        <input id="res-ref" value={reference} onChange={(e) => setReference(e.target.value)} />
      </Field>
      <div>
        <button type="submit" disabled={report.isPending || filled.length === 0}>Report results</button>{" "}
        {campaign.status === "launched" && (
          <button type="button" disabled={complete.isPending} onClick={() => complete.mutate()}>Complete with these results</button>
        )}
      </div>
      {report.isSuccess && <p className="ok" role="status">{report.data.already_recorded ? "Already recorded." : "Results recorded."}</p>}
      {complete.isSuccess && <p className="ok" role="status">Completed.</p>}
      <ErrorNote error={report.error ?? complete.error} />
    </form>
  );
}

function Retrospective({ campaign, mayAct }: { campaign: Campaign; mayAct: boolean }) {
  const invalidate = useInvalidate();
  const retro = campaign.retrospective;
  const [text, setText] = useState({ worked: "", notWorked: "", lessons: "" });
  const record = useMutation({
    mutationFn: () => apiPost("intake", "/campaigns/{campaign_id}/retrospective", {
      what_worked: entries(text.worked), what_did_not_work: entries(text.notWorked), lessons: entries(text.lessons), actions: [],
    }, { path: { campaign_id: campaign.id } }),
    onSuccess: () => { setText({ worked: "", notWorked: "", lessons: "" }); invalidate(); },
  });
  const errors = record.error instanceof ApiError ? errorsByField(record.error.problem?.errors) : {};
  return (
    <>
      <h3>Retrospective</h3>
      {retro ? (
        <div data-testid="retrospective">
          <p className="muted">Revision {retro.revision}, by {retro.recorded_by}, {when(retro.recorded_at)}</p>
          {([["What worked", retro.what_worked], ["What did not", retro.what_did_not_work], ["Lessons", retro.lessons]] as const).map(([title, items]) => (
            items.length > 0 && <div key={title}><strong>{title}</strong><ul>{items.map((x) => <li key={x}>{x}</li>)}</ul></div>
          ))}
          {retro.actions.length > 0 && <ul>{retro.actions.map((a) => <li key={a.action}>{a.action}: {a.owner}, due {a.due_on}</li>)}</ul>}
        </div>
      ) : <p className="muted">Not recorded yet.</p>}
      {mayAct && (
        <form aria-label="Record the retrospective" onSubmit={(e) => { e.preventDefault(); record.mutate(); }}>
          <Field label="What worked (one per line)" id="retro-worked" errors={errors.what_worked}>
            <textarea id="retro-worked" rows={2} value={text.worked} onChange={(e) => setText({ ...text, worked: e.target.value })} />
          </Field>
          <Field label="What did not work (one per line)" id="retro-not" errors={errors.what_did_not_work}>
            <textarea id="retro-not" rows={2} value={text.notWorked} onChange={(e) => setText({ ...text, notWorked: e.target.value })} />
          </Field>
          <Field label="Lessons (one per line, at least one)" id="retro-lessons" errors={errors.lessons}>
            <textarea id="retro-lessons" rows={2} value={text.lessons} onChange={(e) => setText({ ...text, lessons: e.target.value })} required />
          </Field>
          <button type="submit" disabled={record.isPending}>{retro ? "Record again" : "Record retrospective"}</button>
          <ErrorNote error={record.error} />
        </form>
      )}
    </>
  );
}

export function OutcomesSection({ campaign, mayAct }: { campaign: Campaign; mayAct: boolean }) {
  const shown = campaign.status === "launched" || campaign.status === "completed";
  const reports = useQuery({ queryKey: ["results", campaign.id], enabled: shown,
    queryFn: () => apiGet("intake", "/campaigns/{campaign_id}/results", { path: { campaign_id: campaign.id } }) });
  if (!shown) return null;
  return (
    <Section title="Results">
      {campaign.completion && (
        <p data-testid="completion">Completed {when(campaign.completion.at)} by {campaign.completion.by}:{" "}
          {campaign.completion.results.map((r) => `${r.metric} ${r.actual}${r.target !== null && r.target !== undefined ? ` of ${r.target}` : ""} ${r.unit}`).join("; ")}</p>
      )}
      {reports.isLoading && <Loading what="results" />}
      <ErrorNote error={reports.error} />
      {reports.data?.length === 0 && <p className="muted">No results reported yet.</p>}
      {(reports.data ?? []).length > 0 && (
        <div className="table-wrap"><table>
          <thead><tr><th>As of</th><th>Results</th><th>Source</th></tr></thead>
          <tbody>{(reports.data ?? []).map((r) => (
            <tr key={r.event_id} data-testid={`results-${r.source_reference}`}>
              <td>{r.as_of}</td><td>{r.results.map((x) => `${x.metric} ${x.actual}${x.unit ? ` ${x.unit}` : ""}`).join("; ")}</td>
              <td>{r.source_system}:{r.source_reference}</td>
            </tr>
          ))}</tbody>
        </table></div>
      )}
      {mayAct && <ReportResults campaign={campaign} />}
      {campaign.status === "completed" && <Retrospective campaign={campaign} mayAct={mayAct} />}
    </Section>
  );
}
