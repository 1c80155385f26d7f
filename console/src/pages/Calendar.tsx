// Campaigns by flight dates (bars) and target launch (marker), a month or a quarter at a time.
import { useQueries, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { apiGet } from "../api/typed";
import { ErrorNote, Loading } from "../components/ui";
import { bar, inPeriod, monthPeriod, quarterPeriod, shift, type Dated } from "../lib/calendar";
import { href } from "../lib/route";

const MAX_DETAILS = 100; // flight dates live in each brief: fetched for the listed campaigns only

export function CalendarPage() {
  const now = new Date();
  const [kind, setKind] = useState<"month" | "quarter">("month");
  const [period, setPeriod] = useState(() => monthPeriod(now.getUTCFullYear(), now.getUTCMonth() + 1));
  const list = useQuery({ queryKey: ["calendar-list"], queryFn: () => apiGet("intake", "/campaigns", { query: { limit: MAX_DETAILS, sort: "target_launch_date" } }) });
  const details = useQueries({
    queries: (list.data?.items ?? []).map((c) => ({
      queryKey: ["campaign", c.id],
      queryFn: () => apiGet("intake", "/campaigns/{campaign_id}", { path: { campaign_id: c.id } }),
    })),
  });
  const dated: Dated[] = (list.data?.items ?? []).map((c, i) => {
    const brief = (details[i]?.data?.brief ?? {}) as Record<string, unknown>;
    const s = (k: string) => (typeof brief[k] === "string" ? (brief[k] as string) : null);
    return { id: c.id, title: c.title, target_launch_date: c.target_launch_date, flight_start: s("flight_start"), flight_end: s("flight_end") };
  });
  const shown = inPeriod(dated, period);
  const switchKind = (k: "month" | "quarter") => {
    const [y, m] = period.start.split("-").map(Number);
    setKind(k);
    setPeriod(k === "month" ? monthPeriod(y, m) : quarterPeriod(y, Math.floor((m - 1) / 3) + 1));
  };
  return (
    <>
      <h1>Calendar</h1>
      <div className="actions" role="group" aria-label="Period">
        <button type="button" className={kind === "month" ? "" : "secondary"} aria-pressed={kind === "month"} onClick={() => switchKind("month")}>Month</button>
        <button type="button" className={kind === "quarter" ? "" : "secondary"} aria-pressed={kind === "quarter"} onClick={() => switchKind("quarter")}>Quarter</button>
        <button type="button" className="secondary" onClick={() => setPeriod(shift(period, kind, -1))}>← Previous</button>
        <strong aria-live="polite" data-testid="calendar-period">{period.label}</strong>
        <button type="button" className="secondary" onClick={() => setPeriod(shift(period, kind, 1))}>Next →</button>
      </div>
      <ErrorNote error={list.error} />
      {list.isLoading && <Loading what="campaigns" />}
      {list.data && shown.length === 0 && <p className="muted">No campaign runs or launches in {period.label}.</p>}
      <div aria-label={`Campaigns in ${period.label}`} role="list">
        {shown.map((c) => {
          const b = bar(c, period);
          const launch = c.target_launch_date && c.target_launch_date >= period.start && c.target_launch_date <= period.end
            ? bar({ ...c, flight_start: c.target_launch_date, flight_end: c.target_launch_date }, period) : null;
          return (
            <div className="cal-row" role="listitem" key={c.id}>
              <a href={href("campaigns", c.id)}>{c.title ?? "(untitled)"}</a>
              <div className="cal-track" title={`flight ${c.flight_start ?? "?"} – ${c.flight_end ?? "?"}, target launch ${c.target_launch_date ?? "?"}`}>
                {c.flight_start && <span className="cal-bar" style={{ left: `${b.left}%`, width: `${b.width}%` }} />}
                {launch && <span className="cal-launch" style={{ left: `${launch.left}%` }} />}
                <span className="sr-only">flight {c.flight_start ?? "not set"} to {c.flight_end ?? "not set"}; target launch {c.target_launch_date ?? "not set"}</span>
              </div>
            </div>
          );
        })}
      </div>
      <p className="muted"><span className="legend-bar" /> flight dates · <span className="legend-launch" /> target launch</p>
    </>
  );
}
