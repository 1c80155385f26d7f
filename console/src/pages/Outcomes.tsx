// What the campaigns achieved (metrics /aggregates/outcomes and /outcomes/campaigns, SPEC
// section 4's outcome metrics), and the lessons of their retrospectives (intake /lessons).
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import { apiGet } from "../api/typed";
import type { MetricsT } from "../api/types";
import { CsvButton } from "../components/CsvButton";
import { ErrorNote, Field, Loading, Section } from "../components/ui";
import { CHANNELS } from "../lib/channels";
import { label, percent, round, when } from "../lib/format";
import { href } from "../lib/route";

type Channel = MetricsT["Channel"];
type Numbers = MetricsT["OutcomeNumbers"];

function rate(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : percent(value);
}

function NumbersRow({ name, n }: { name: string; n: Numbers }) {
  return (
    <tr data-testid={`outcomes-${name}`}>
      <th scope="row">{name}</th><td className="num">{n.campaigns}</td><td className="num">{n.completed}</td>
      <td className="num">{rate(n.results_reported_rate)}</td><td className="num">{rate(n.target_met_rate)}</td>
      <td className="num">{n.attainment.p50 === null ? "—" : round(n.attainment.p50, 2)}</td>
      <td>{n.cost_per_result.filter((c) => c.p50 !== null).map((c) => `${round(c.p50 ?? 0, 2)} ${c.currency}`).join(", ") || "—"}</td>
    </tr>
  );
}

function Lessons() {
  const [text, setText] = useState("");
  const [team, setTeam] = useState("");
  const [channel, setChannel] = useState("");
  const [asked, setAsked] = useState({ q: "", team: "", channel: "" });
  const pages = useInfiniteQuery({
    queryKey: ["lessons", asked],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) => apiGet("intake", "/lessons", { query: {
      q: asked.q || undefined, team: asked.team || undefined, channel: (asked.channel || undefined) as Channel | undefined,
      cursor: pageParam, limit: 20 } }),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const items = pages.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <Section title="Lessons">
      <form className="form-grid" aria-label="Search lessons"
        onSubmit={(e) => { e.preventDefault(); setAsked({ q: text.trim(), team: team.trim(), channel }); }}>
        <Field label="Words" id="ls-q" hint={'"exact phrase", or, -not'}><input id="ls-q" value={text} onChange={(e) => setText(e.target.value)} /></Field>
        <Field label="Lessons of team" id="ls-team"><input id="ls-team" value={team} onChange={(e) => setTeam(e.target.value)} /></Field>
        <Field label="Lessons of channel" id="ls-channel">
          <select id="ls-channel" value={channel} onChange={(e) => setChannel(e.target.value)}>
            <option value="">(any)</option>
            {CHANNELS.map((ch) => <option key={ch} value={ch}>{label(ch)}</option>)}
          </select>
        </Field>
        <div><button type="submit">Search lessons</button></div>
      </form>
      {pages.isLoading && <Loading what="lessons" />}
      <ErrorNote error={pages.error} />
      {pages.data && items.length === 0 && <p className="muted">No lessons found.</p>}
      <ul data-testid="lessons">{items.map((l) => (
        <li key={`${l.campaign_id}-${l.position}`}>
          “{l.text}” — <a href={href("campaigns", l.campaign_id)}>{l.title ?? l.campaign_id}</a>
          <small className="muted"> · {l.team} · {l.channels.map(label).join(", ")} · {when(l.recorded_at)}</small>
        </li>
      ))}</ul>
      {pages.data?.pages[0]?.filtered && <p className="muted">Lessons of campaigns you may not read are left out.</p>}
      {pages.hasNextPage && <button type="button" onClick={() => void pages.fetchNextPage()} disabled={pages.isFetchingNextPage}>More lessons</button>}
    </Section>
  );
}

export function OutcomesPage() {
  const [team, setTeam] = useState("");
  const [channel, setChannel] = useState("");
  const f = useMemo(() => ({ team: team.trim() || undefined, channel: (channel || undefined) as Channel | undefined }), [team, channel]);
  const report = useQuery({ queryKey: ["outcomes", f],
    queryFn: () => apiGet("metrics", "/aggregates/outcomes", { query: { ...f, group_by: "team" } }) });
  const campaigns = useQuery({ queryKey: ["outcome-campaigns", f],
    queryFn: () => apiGet("metrics", "/outcomes/campaigns", { query: { ...f, limit: 100 } }) });
  const r = report.data;
  return (
    <>
      <h1>Outcomes</h1>
      <form className="form-grid" aria-label="Outcome filters" onSubmit={(e) => e.preventDefault()}>
        <Field label="Team" id="o-team"><input id="o-team" value={team} onChange={(e) => setTeam(e.target.value)} /></Field>
        <Field label="Channel" id="o-channel">
          <select id="o-channel" value={channel} onChange={(e) => setChannel(e.target.value)}>
            <option value="">(any)</option>
            {CHANNELS.map((ch) => <option key={ch} value={ch}>{label(ch)}</option>)}
          </select>
        </Field>
      </form>
      <Section title="Results against targets">
        {report.isLoading && <Loading what="outcome numbers" />}
        <ErrorNote error={report.error} />
        {r && (
          <div className="table-wrap"><table>
            <thead><tr><th>Team</th><th className="num">Campaigns</th><th className="num">Completed</th>
              <th className="num">Results reported</th><th className="num">Targets met</th><th className="num">Attainment p50</th>
              <th>Cost per result p50</th></tr></thead>
            <tbody>
              <NumbersRow name="all" n={r.overall} />
              {(r.groups ?? []).map((g) => <NumbersRow key={g.group} name={g.group} n={g} />)}
            </tbody>
          </table></div>
        )}
      </Section>
      <Section title="Campaign outcomes" actions={<CsvButton path="/outcomes/campaigns" filters={f} name="outcomes-campaigns" />}>
        {campaigns.isLoading && <Loading what="campaign outcomes" />}
        <ErrorNote error={campaigns.error} />
        {campaigns.data?.campaigns.length === 0 && <p className="muted">No campaigns.</p>}
        <div className="table-wrap"><table>
          <thead><tr><th>Campaign</th><th>Status</th><th>KPIs: actual of target (attainment)</th><th>Cost per result</th><th>Targets met</th></tr></thead>
          <tbody>{(campaigns.data?.campaigns ?? []).map((cmp) => (
            <tr key={cmp.campaign_id} data-testid={`outcome-${cmp.campaign_id}`}>
              <td><a href={href("campaigns", cmp.campaign_id)}>{cmp.title ?? cmp.campaign_id}</a><div className="muted"><small>{cmp.team}</small></div></td>
              <td>{label(cmp.status)}</td>
              <td>{cmp.kpis.map((k) => `${k.metric} ${k.actual ?? "—"} of ${k.target ?? "—"}${k.attainment === null ? "" : ` (${round(k.attainment, 2)})`}`).join("; ")}</td>
              <td>{cmp.money.map((m) => m.cost_per_result ? `${m.cost_per_result} ${m.currency}` : null).filter(Boolean).join(", ") || "—"}</td>
              <td>{cmp.met_targets === null ? "no results" : cmp.met_targets ? "yes" : "no"}</td>
            </tr>
          ))}</tbody>
        </table></div>
        {campaigns.data?.next_cursor && <p className="muted">The first 100 campaigns; narrow the filters for others.</p>}
      </Section>
      <Lessons />
    </>
  );
}
