// Operations: each service's readiness, consumer lag and freshness per topic, the last rebuild.
import { useMutation, useQueries, useQuery } from "@tanstack/react-query";
import { get, type Service } from "../api/client";
import { apiGet, apiPost } from "../api/typed";
import type { Me } from "../api/types";
import { Badge, ErrorNote, Loading, Section } from "../components/ui";
import { when } from "../lib/format";
import { has } from "../session";

const SERVICES: Service[] = ["intake", "governance", "budget", "metrics"];

interface Ready {
  status: string;
  checks: Record<string, string>;
}

export function Operations({ me }: { me: Me }) {
  const status = useQuery({ queryKey: ["metrics-status"], queryFn: () => apiGet("metrics", "/status"), refetchInterval: 5000 });
  const ready = useQueries({ queries: SERVICES.map((s) => ({ queryKey: ["readyz", s], queryFn: () => get<Ready>(s, "/readyz"), retry: false })) });
  const dead = useQuery({ queryKey: ["dead-letters"], queryFn: () => apiGet("metrics", "/operations/dead-letters"), refetchInterval: 10000 });
  const rebuild = useMutation({ mutationFn: () => apiPost("metrics", "/admin/rebuild", undefined) });
  const st = status.data;
  return (
    <>
      <h1>Operations</h1>
      <Section title="Services">
        <div className="table-wrap"><table>
          <thead><tr><th>Service</th><th>Readiness</th><th>Checks</th></tr></thead>
          <tbody>{SERVICES.map((s, i) => (
            <tr key={s}><td>{s}</td>
              <td>{ready[i].data ? <Badge value={ready[i].data.status} /> : ready[i].error ? <Badge value="unreachable" /> : "…"}</td>
              <td>{ready[i].data && Object.entries(ready[i].data.checks).map(([k, v]) => `${k}: ${v}`).join(", ")}</td></tr>
          ))}</tbody>
        </table></div>
      </Section>
      <Section title="Dead letters">
        <ErrorNote error={dead.error} />
        {dead.data && (
          <>
            <p data-testid="ops-dead-letters">
              {dead.data.total === 0 ? "No dead letters." : `${dead.data.total} dead letters wait to be looked at`}
              {" "}(list, show and re-drive them with <code>marops dlq</code>).
            </p>
            {dead.data.total > 0 && (
              <div className="table-wrap"><table>
                <thead><tr><th>Dead-letter topic</th><th className="num">Letters</th></tr></thead>
                <tbody>{dead.data.topics.filter((t) => t.letters > 0).map((t) => (
                  <tr key={t.topic}><td>{t.topic}</td><td className="num">{t.letters}</td></tr>
                ))}</tbody>
              </table></div>
            )}
          </>
        )}
      </Section>
      <Section title="Metrics: consumer lag and freshness">
        <ErrorNote error={status.error} />
        {status.isLoading && <Loading what="freshness" />}
        {st && (
          <>
            <p data-testid="ops-consuming">
              {st.consuming ? "Consuming" : "NOT consuming"} · {st.caught_up ? "caught up" : "behind"} · total lag {st.total_lag ?? "unknown"} ·
              latest event {when(st.last_event_time)} · group {st.consumer_group ?? "—"}
            </p>
            <div className="table-wrap"><table>
              <thead><tr><th>Topic</th><th className="num">Lag</th><th className="num">Applied</th><th>Latest event</th></tr></thead>
              <tbody>{st.topics.map((t) => (
                <tr key={t.topic}><td>{t.event_type}<div className="muted"><small>{t.topic}</small></div></td>
                  <td className="num">{t.lag ?? "—"}</td><td className="num">{t.events_applied}</td><td>{when(t.last_event_time)}</td></tr>
              ))}</tbody>
            </table></div>
            <h3>Last rebuild</h3>
            {st.last_rebuild ? (
              <p>{st.last_rebuild.status} · started {when(st.last_rebuild.started_at)} · finished {when(st.last_rebuild.finished_at)} ·
                {" "}{st.last_rebuild.events_applied} events applied, {st.last_rebuild.records_skipped} skipped
                {st.last_rebuild.error && <> · error: {st.last_rebuild.error}</>}</p>
            ) : <p className="muted">No rebuild yet.</p>}
          </>
        )}
        {has(me, "ops_admin") && (
          <>
            <button type="button" onClick={() => rebuild.mutate()} disabled={rebuild.isPending}>Rebuild the read models</button>
            {rebuild.isSuccess && <p className="ok" role="status">Rebuild {rebuild.data.run_id} {rebuild.data.status}.</p>}
            <ErrorNote error={rebuild.error} />
          </>
        )}
      </Section>
    </>
  );
}
