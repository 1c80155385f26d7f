// A team's demand against its capacity per week (intake /teams/{team}/capacity), and the
// form that sets the capacity (ops admins, or an approver of the team: its lead).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ApiError } from "../api/client";
import { apiGet, apiPut } from "../api/typed";
import type { IntakeT, Me } from "../api/types";
import { ErrorNote, Field, Loading, Section } from "../components/ui";
import { errorsByField } from "../lib/problems";
import { href } from "../lib/route";
import { has } from "../session";

type Unit = IntakeT["CapacityIn"]["unit"];

function SetCapacity({ team }: { team: string }) {
  const queries = useQueryClient();
  const [unit, setUnit] = useState<Unit>("hours");
  const [weekly, setWeekly] = useState("");
  const save = useMutation({
    mutationFn: () => apiPut("intake", "/teams/{team}/capacity", { unit, weekly: weekly.trim(), weeks: [] }, { path: { team } }),
    onSuccess: () => { setWeekly(""); void queries.invalidateQueries({ queryKey: ["capacity", team] }); },
  });
  const errors = save.error instanceof ApiError ? errorsByField(save.error.problem?.errors) : {};
  return (
    <Section title="Set capacity">
      <form className="form-grid" aria-label="Set capacity" onSubmit={(e) => { e.preventDefault(); save.mutate(); }}>
        <Field label="Unit" id="cap-unit" errors={errors.unit}>
          <select id="cap-unit" value={unit} onChange={(e) => setUnit(e.target.value as Unit)}>
            <option value="hours">hours</option><option value="points">points</option>
          </select>
        </Field>
        <Field label="Capacity per week" id="cap-weekly" errors={errors.weekly}>
          <input id="cap-weekly" inputMode="decimal" value={weekly} onChange={(e) => setWeekly(e.target.value)} required />
        </Field>
        <div><button type="submit" disabled={save.isPending}>Save capacity</button></div>
      </form>
      {save.isSuccess && <p className="ok" role="status">Saved: {save.data.weekly_capacity} {save.data.unit} a week.</p>}
      <ErrorNote error={save.error} />
    </Section>
  );
}

export function CapacityPage({ me, team: initial }: { me: Me; team?: string }) {
  const [team, setTeam] = useState(initial ?? me.team ?? "");
  const [shown, setShown] = useState(team);
  const [weeks, setWeeks] = useState("8");
  const count = Math.min(104, Math.max(1, Number(weeks) || 8));
  const report = useQuery({ queryKey: ["capacity", shown, count], enabled: shown !== "",
    queryFn: () => apiGet("intake", "/teams/{team}/capacity", { path: { team: shown }, query: { weeks: count } }) });
  const r = report.data;
  // The service decides (a lead is an approver of the team); this only hides a form that would be refused.
  const mayEdit = has(me, "ops_admin") || (has(me, "approver") && me.team === shown);
  return (
    <>
      <h1>Capacity</h1>
      <form className="form-grid" aria-label="Team" onSubmit={(e) => { e.preventDefault(); setShown(team.trim()); }}>
        <Field label="Team" id="cap-team"><input id="cap-team" value={team} onChange={(e) => setTeam(e.target.value)} required /></Field>
        <Field label="Weeks" id="cap-weeks"><input id="cap-weeks" inputMode="numeric" value={weeks} onChange={(e) => setWeeks(e.target.value)} /></Field>
        <div><button type="submit">Show</button></div>
      </form>
      {report.isLoading && <Loading what="capacity" />}
      <ErrorNote error={report.error} />
      {r && (
        <Section title={`Demand and capacity of ${r.team}`}>
          <p data-testid="capacity-summary">
            {r.weekly_capacity === null ? "No capacity set" : `Capacity ${r.weekly_capacity} ${r.unit} a week`}
            {" · "}{r.overloaded_weeks.length === 0 ? "no week overloaded" : `overloaded: ${r.overloaded_weeks.join(", ")}`}
            {r.filtered ? " · demand counts only the campaigns you may read" : ""}
          </p>
          <div className="table-wrap"><table>
            <thead><tr><th>Week of</th><th className="num">Capacity</th><th className="num">Demand</th><th>Campaigns</th></tr></thead>
            <tbody>{r.weeks.map((w) => (
              <tr key={w.week_start} data-testid={`week-${w.week_start}`} className={w.overloaded ? "overloaded" : undefined}>
                <td>{w.week_start}{w.overloaded && <strong className="error"> overloaded</strong>}</td>
                <td className="num">{w.capacity ?? "—"}</td><td className="num">{w.demand}</td>
                <td>{w.campaigns.map((cmp, i) => (
                  <span key={cmp.campaign_id}>{i > 0 && ", "}<a href={href("campaigns", cmp.campaign_id)}>{cmp.title ?? cmp.campaign_id}</a> ({cmp.demand})</span>
                ))}</td>
              </tr>
            ))}</tbody>
          </table></div>
        </Section>
      )}
      {mayEdit && shown && <SetCapacity team={shown} />}
    </>
  );
}
