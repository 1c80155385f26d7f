// Calendar: which campaigns run (flight dates) or are due to launch in a month or quarter.
export interface Dated {
  id: string;
  title: string | null;
  target_launch_date: string | null;
  flight_start?: string | null;
  flight_end?: string | null;
}

export interface Period {
  start: string; // YYYY-MM-DD, inclusive
  end: string; // inclusive
  label: string;
}

const pad = (n: number) => String(n).padStart(2, "0");

export function monthPeriod(year: number, month: number): Period {
  const last = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return { start: `${year}-${pad(month)}-01`, end: `${year}-${pad(month)}-${pad(last)}`, label: `${year}-${pad(month)}` };
}

export function quarterPeriod(year: number, quarter: number): Period {
  const first = (quarter - 1) * 3 + 1;
  return { start: monthPeriod(year, first).start, end: monthPeriod(year, first + 2).end, label: `${year}-Q${quarter}` };
}

export function shift(period: Period, kind: "month" | "quarter", by: number): Period {
  const [y, m] = period.start.split("-").map(Number);
  const step = kind === "month" ? 1 : 3;
  const idx = y * 12 + (m - 1) + by * step;
  const year = Math.floor(idx / 12);
  const month = (idx % 12) + 1;
  return kind === "month" ? monthPeriod(year, month) : quarterPeriod(year, Math.floor((month - 1) / 3) + 1);
}

/** Campaigns whose flight overlaps the period, or whose target launch falls in it. */
export function inPeriod<T extends Dated>(items: readonly T[], p: Period): T[] {
  return items.filter((c) => {
    const launch = c.target_launch_date;
    if (launch && launch >= p.start && launch <= p.end) return true;
    const s = c.flight_start ?? launch;
    const e = c.flight_end ?? s;
    return !!s && !!e && s <= p.end && e >= p.start;
  });
}

/** Left offset and width (percent of the period) of a campaign's flight bar. */
export function bar(c: Dated, p: Period): { left: number; width: number } {
  const day = (iso: string) => Date.parse(`${iso}T00:00:00Z`) / 86_400_000;
  const ps = day(p.start);
  const pe = day(p.end) + 1;
  const s = Math.max(ps, day(c.flight_start ?? c.target_launch_date ?? p.start));
  const e = Math.min(pe, day(c.flight_end ?? c.flight_start ?? c.target_launch_date ?? p.start) + 1);
  const span = pe - ps;
  return { left: ((s - ps) / span) * 100, width: Math.max(1, ((e - s) / span) * 100) };
}
