// Edit the brief with live completeness errors by field (POST /briefs/check as you type), save, submit.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { ApiError } from "../../api/client";
import { apiGet, apiPatch, apiPost } from "../../api/typed";
import type { IntakeT } from "../../api/types";
import { ErrorNote, Field, Section } from "../../components/ui";
import { briefBody, findingsByField, formFromBrief, type BriefForm, type KpiForm } from "../../lib/brief";
import { CHANNELS } from "../../lib/channels";
import { label } from "../../lib/format";
import { errorsByField } from "../../lib/problems";

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

export function BriefEditor({ campaign, canEdit, canSubmit }: {
  campaign: IntakeT["CampaignDetail"]; canEdit: boolean; canSubmit: boolean;
}) {
  const queries = useQueryClient();
  const initial = useMemo(() => formFromBrief(campaign.title, campaign.channels, campaign.brief),
    [campaign.title, campaign.channels, campaign.brief]);
  const [form, setForm] = useState<BriefForm>(initial);
  useEffect(() => setForm(initial), [initial]);
  const set = <K extends keyof BriefForm>(k: K, v: BriefForm[K]) => setForm((f) => ({ ...f, [k]: v }));
  const setKpi = (i: number, k: keyof KpiForm, v: string) =>
    setForm((f) => ({ ...f, kpis: f.kpis.map((x, j) => (j === i ? { ...x, [k]: v } : x)) }));

  const draft = useDebounced(form, 350);
  const check = useQuery({
    queryKey: ["brief-check", campaign.id, draft],
    queryFn: () => apiPost("intake", "/briefs/check",
      { ...briefBody(draft), team: campaign.team, owner: campaign.owner } as IntakeT["BriefBody"]),
    enabled: canEdit,
    placeholderData: (prev) => prev,
  });
  const saved = useQuery({
    queryKey: ["completeness", campaign.id, campaign.last_changed_at],
    queryFn: () => apiGet("intake", "/campaigns/{campaign_id}/completeness", { path: { campaign_id: campaign.id } }),
  });
  const save = useMutation({
    mutationFn: () => apiPatch("intake", "/campaigns/{campaign_id}/brief", briefBody(form) as IntakeT["BriefBody"],
      { path: { campaign_id: campaign.id } }),
    onSuccess: () => queries.invalidateQueries(),
  });
  const submit = useMutation({
    mutationFn: () => apiPost("intake", "/campaigns/{campaign_id}/submit", undefined,
      { path: { campaign_id: campaign.id }, idempotencyKey: `submit-${campaign.id}-${campaign.last_changed_at}` }),
    onSuccess: () => queries.invalidateQueries(),
  });

  const live = canEdit ? findingsByField(check.data?.errors ?? []) : {};
  const invalid = save.error instanceof ApiError ? errorsByField(save.error.problem?.errors) : {};
  const errs = (k: string) => [...(live[k] ?? []), ...(invalid[k] ?? [])];
  const complete = canEdit ? check.data?.complete : saved.data?.complete;
  const ro = !canEdit;
  const input = (k: keyof BriefForm, text: string, type = "text") => (
    <Field label={text} id={`brief-${k}`} errors={errs(k)}>
      <input id={`brief-${k}`} type={type} value={form[k] as string} readOnly={ro}
        aria-invalid={errs(k).length > 0} aria-describedby={errs(k).length ? `brief-${k}-error` : undefined}
        onChange={(e) => set(k, e.target.value as BriefForm[typeof k])} />
    </Field>
  );

  return (
    <Section title="Brief" actions={
      <span className={complete ? "badge badge-approved" : "badge badge-changes_requested"} data-testid="completeness">
        {complete ? "complete" : `incomplete${canEdit && check.data ? `: ${check.data.errors.length} to fix` : ""}`}
      </span>}>
      <form onSubmit={(e) => { e.preventDefault(); if (canEdit) save.mutate(); }} aria-label="Brief">
        <div className="form-grid">
          {input("title", "Title")}
          {input("target_launch_date", "Target launch date", "date")}
          {input("flight_start", "Flight start", "date")}
          {input("flight_end", "Flight end", "date")}
        </div>
        <Field label="Objective" id="brief-objective" errors={errs("objective")}>
          <textarea id="brief-objective" rows={2} value={form.objective} readOnly={ro}
            onChange={(e) => set("objective", e.target.value)} />
        </Field>
        {input("target_audience", "Target audience")}
        <fieldset>
          <legend>Channels</legend>
          <div className="checks">
            {CHANNELS.map((c) => (
              <label key={c}>
                <input type="checkbox" checked={form.channels.includes(c)} disabled={ro}
                  onChange={(e) => set("channels", e.target.checked ? [...form.channels, c] : form.channels.filter((x) => x !== c))} />
                {label(c)}
              </label>
            ))}
          </div>
          {errs("channels").map((e) => <small key={e} className="field-error">{e}</small>)}
        </fieldset>
        <fieldset>
          <legend>KPIs</legend>
          {form.kpis.map((k, i) => (
            <div className="form-grid" key={i}>
              {(["metric", "target", "unit", "timeframe"] as const).map((part) => (
                <Field key={part} label={`KPI ${i + 1} ${part}`} id={`brief-kpi-${i}-${part}`} errors={errs(`kpis.${i}.${part}`)}>
                  <input id={`brief-kpi-${i}-${part}`} value={k[part]} readOnly={ro}
                    onChange={(e) => setKpi(i, part, e.target.value)} />
                </Field>
              ))}
            </div>
          ))}
          {canEdit && (
            <button type="button" className="secondary"
              onClick={() => set("kpis", [...form.kpis, { metric: "", target: "", unit: "", timeframe: "" }])}>
              Add a KPI
            </button>
          )}
        </fieldset>
        <fieldset>
          <legend>Tracking plan</legend>
          <div className="form-grid">
            {input("campaign_code", "Campaign code")}
            {input("conversion_events", "Conversion events (comma-separated)")}
            {input("reporting_destination", "Reporting destination")}
          </div>
        </fieldset>
        <fieldset>
          <legend>Budget request</legend>
          <div className="form-grid">
            {input("amount", "Amount (e.g. 8000.00)")}
            {input("currency", "Currency (ISO 4217)")}
            {input("budget_line_id", "Budget line")}
          </div>
        </fieldset>
        {input("responsible", "Responsible (comma-separated users)")}
        {canEdit && (
          <div className="actions">
            <button type="submit" disabled={save.isPending}>Save draft</button>
            {canSubmit && (
              <button type="button" disabled={submit.isPending || save.isPending}
                onClick={() => submit.mutate()}>Submit for approval</button>
            )}
          </div>
        )}
        {save.isSuccess && <p className="ok" role="status">Saved.</p>}
        {submit.isSuccess && <p className="ok" role="status">Submitted as version {submit.data.current_version}.</p>}
        <ErrorNote error={save.error} />
        <ErrorNote error={submit.error} />
      </form>
    </Section>
  );
}
