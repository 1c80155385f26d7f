import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { apiGet } from "../api/typed";
import type { IntakeT, Me } from "../api/types";
import { Badge, ErrorNote, Field, Loading } from "../components/ui";
import { CHANNELS, STATUSES } from "../lib/channels";
import { label } from "../lib/format";
import { href } from "../lib/route";
import { has } from "../session";

export function CampaignsPage({ me, query }: { me: Me; query: URLSearchParams }) {
  const [status, setStatus] = useState(query.get("status") ?? "");
  const [team, setTeam] = useState(query.get("team") ?? "");
  const [channel, setChannel] = useState(query.get("channel") ?? "");
  const [q, setQ] = useState(query.get("q") ?? "");
  const filters = { status: status ? [status as IntakeT["Status"]] : undefined, team: team || undefined,
    channel: (channel || undefined) as IntakeT["Channel"] | undefined, q: q || undefined, sort: "-last_changed" as const, limit: 200 };
  const list = useQuery({
    queryKey: ["campaigns", filters],
    queryFn: () => apiGet("intake", "/campaigns", { query: filters }),
  });

  return (
    <>
      <div className="page-head">
        <h1>Campaigns</h1>
        {has(me, "requester", "ops_admin") && <a className="button" href={href("new")}>New campaign</a>}
      </div>
      <form className="filters" role="search" aria-label="Filter campaigns" onSubmit={(e) => e.preventDefault()}>
        <Field label="Search" id="f-q">
          <input id="f-q" type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="title" />
        </Field>
        <Field label="Status" id="f-status">
          <select id="f-status" value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">any</option>
            {STATUSES.map((s) => <option key={s} value={s}>{label(s)}</option>)}
          </select>
        </Field>
        <Field label="Team" id="f-team">
          <input id="f-team" value={team} onChange={(e) => setTeam(e.target.value)} />
        </Field>
        <Field label="Channel" id="f-channel">
          <select id="f-channel" value={channel} onChange={(e) => setChannel(e.target.value)}>
            <option value="">any</option>
            {CHANNELS.map((c) => <option key={c} value={c}>{label(c)}</option>)}
          </select>
        </Field>
      </form>
      <ErrorNote error={list.error} />
      {list.isLoading && <Loading what="campaigns" />}
      {list.data && (
        <>
          {list.data.filtered && <p className="muted">Only the campaigns you may read are shown.</p>}
          <div className="table-wrap">
            <table>
              <caption className="sr-only">Campaigns</caption>
              <thead>
                <tr><th>Title</th><th>Status</th><th>Team</th><th>Channels</th><th>Target launch</th><th>Owner</th></tr>
              </thead>
              <tbody>
                {list.data.items.map((c) => (
                  <tr key={c.id}>
                    <td><a href={href("campaigns", c.id)}>{c.title ?? "(untitled)"}</a></td>
                    <td><Badge value={c.status} /></td>
                    <td>{c.team}</td>
                    <td>{c.channels.map(label).join(", ")}</td>
                    <td>{c.target_launch_date ?? "—"}</td>
                    <td>{c.owner ?? "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {list.data.items.length === 0 && <p className="muted">No campaign matches.</p>}
        </>
      )}
    </>
  );
}
