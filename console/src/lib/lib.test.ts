import { describe, expect, it } from "vitest";
import { bar, inPeriod, monthPeriod, quarterPeriod, shift } from "./calendar";
import { csvCell, toCsv } from "./csv";
import { hours, percent, when } from "./format";
import { formatMoney, groupDigits } from "./money";
import { entries, kpiMetrics } from "./outcomes";
import { errorsByField, fieldPath, refusal } from "./problems";
import { slaClock, sortQueue } from "./queue";
import { figure, signed } from "./review";
import { href, parseRoute } from "./route";

describe("money", () => {
  it("groups digits of the decimal string without rounding it", () => {
    expect(groupDigits("1234567.50")).toBe("1,234,567.50");
    expect(groupDigits("-1000")).toBe("-1,000");
    expect(groupDigits("0.0125")).toBe("0.0125");
    expect(groupDigits("123")).toBe("123");
  });
  it("writes the currency after the amount, and a dash for none", () => {
    expect(formatMoney({ amount: "8000.00", currency: "EUR" })).toBe("8,000.00 EUR");
    expect(formatMoney(null)).toBe("—");
  });
});

describe("format", () => {
  it("hours under a day, days and hours above", () => {
    expect(hours(5.25)).toBe("5.3 h");
    expect(hours(50.5)).toBe("2 d 2.5 h");
    expect(hours(48)).toBe("2 d");
    expect(hours(null)).toBe("—");
  });
  it("rates as percentages, none as a dash", () => {
    expect(percent(0.25)).toBe("25 %");
    expect(percent(null)).toBe("—");
  });
  it("times in UTC", () => {
    expect(when("2026-12-20T14:05:09+01:00")).toBe("2026-12-20 13:05 UTC");
  });
});

describe("problems", () => {
  it("maps field errors to the form's field names", () => {
    expect(fieldPath("body.kpis.0.target")).toBe("kpis.0.target");
    expect(errorsByField([{ path: "body.title", message: "a" }, { path: "body.title", message: "b" },
      { path: "query.team", message: "c" }])).toEqual({ title: ["a", "b"], team: ["c"] });
  });
  it("says a refusal in words, with the service's reason", () => {
    const problem = { type: "/problems/forbidden", title: "Forbidden", status: 403, instance: null, errors: null,
      detail: "four-eyes: alice is a party to this campaign" };
    expect(refusal(403, problem)).toBe("Not allowed: four-eyes: alice is a party to this campaign");
    expect(refusal(404, null)).toBe("Not found, or not visible to you");
  });
});

describe("queue", () => {
  const at = (h: number) => new Date(Date.UTC(2026, 0, 1, h)).toISOString();
  it("puts overdue first, then the earliest due, then gates without an SLA clock", () => {
    const items = [
      { id: "late-none", due_at: null, overdue: false, actionable_at: null },
      { id: "soon", due_at: at(5), overdue: false, actionable_at: at(0) },
      { id: "overdue-b", due_at: at(2), overdue: true, actionable_at: at(0) },
      { id: "later", due_at: at(9), overdue: false, actionable_at: at(0) },
      { id: "overdue-a", due_at: at(1), overdue: true, actionable_at: at(0) },
    ];
    expect(sortQueue(items).map((i) => i.id)).toEqual(["overdue-a", "overdue-b", "soon", "later", "late-none"]);
  });
  it("says how long until or since the SLA", () => {
    const now = new Date(Date.UTC(2026, 0, 1, 0));
    expect(slaClock(at(5), now)).toBe("due in 5 h");
    expect(slaClock(new Date(Date.UTC(2025, 11, 29, 21)).toISOString(), now)).toBe("overdue by 2 d 3 h");
    expect(slaClock(null, now)).toBe("no SLA");
    expect(slaClock(new Date(now.getTime() + 47.9 * 3_600_000).toISOString(), now)).toBe("due in 2 d 0 h");
  });
});

describe("csv", () => {
  it("quotes what needs quoting and defuses spreadsheet formulas", () => {
    expect(csvCell('a "b", c')).toBe('"a ""b"", c"');
    expect(csvCell("=SUM(A1)")).toBe('"=SUM(A1)"');
    expect(csvCell(null)).toBe("");
    expect(toCsv(["gate", "p90"], [["brief_review", 12.5]])).toBe("gate,p90\r\nbrief_review,12.5\r\n");
  });
});

describe("route", () => {
  it("reads the page, the id and the query of the hash", () => {
    const r = parseRoute("#/campaigns/a%2Fb?status=draft");
    expect(r.page).toBe("campaigns");
    expect(r.id).toBe("a/b");
    expect(r.query.get("status")).toBe("draft");
    expect(href("campaigns", "a/b")).toBe("#/campaigns/a%2Fb");
  });
});

describe("calendar", () => {
  it("knows month and quarter bounds, leap years included", () => {
    expect(monthPeriod(2028, 2)).toEqual({ start: "2028-02-01", end: "2028-02-29", label: "2028-02" });
    expect(quarterPeriod(2026, 4)).toEqual({ start: "2026-10-01", end: "2026-12-31", label: "2026-Q4" });
    expect(shift(monthPeriod(2026, 12), "month", 1).label).toBe("2027-01");
    expect(shift(quarterPeriod(2026, 1), "quarter", -1).label).toBe("2025-Q4");
  });
  it("keeps campaigns whose flight overlaps or whose launch falls in the period", () => {
    const p = monthPeriod(2026, 12);
    const items = [
      { id: "a", title: "a", target_launch_date: "2026-12-20", flight_start: null, flight_end: null },
      { id: "b", title: "b", target_launch_date: "2026-11-01", flight_start: "2026-11-01", flight_end: "2027-01-31" },
      { id: "c", title: "c", target_launch_date: "2027-02-01", flight_start: "2027-02-01", flight_end: "2027-03-01" },
      { id: "d", title: "d", target_launch_date: null },
    ];
    expect(inPeriod(items, p).map((c) => c.id)).toEqual(["a", "b"]);
    expect(bar(items[1], p)).toEqual({ left: 0, width: 100 });
  });
});

import { briefBody, findingsByField, formField, formFromBrief } from "./brief";

describe("brief form", () => {
  it("round-trips a brief through the form", () => {
    const brief = {
      objective: "Win back", target_audience: "Lapsed", target_launch_date: "2026-12-20",
      kpis: [{ metric: "reactivated", target: "500", unit: "customers", timeframe: "4 weeks" }],
      tracking_plan: { campaign_code: "ar", conversion_events: ["purchase", "signup"], reporting_destination: "GD" },
      budget_request: { amount: { amount: "8000.00", currency: "EUR" }, budget_line_id: "growth-email" },
      raci: { responsible: ["alice"] },
    };
    const body = briefBody(formFromBrief("Autumn", ["email"], brief));
    expect(body).toEqual({ title: "Autumn", channels: ["email"], ...brief });
  });
  it("leaves empty fields out instead of clearing them", () => {
    expect(briefBody(formFromBrief(null, [], {}))).toEqual({});
  });
  it("puts each completeness finding under the input that edits it", () => {
    expect(formField("kpis.0.target")).toBe("kpis.0.target");
    expect(formField("tracking_plan")).toBe("campaign_code");
    expect(formField("budget_request.amount")).toBe("amount");
    expect(formField("objective")).toBe("objective");
    expect(findingsByField([{ path: "objective", reason: "missing" }, { path: "kpis", reason: "none" }]))
      .toEqual({ objective: ["missing"], "kpis.0.metric": ["none"] });
  });
});

describe("review pack", () => {
  it("signs a change, keeps money strings as written, a dash for none", () => {
    expect(signed(2)).toBe("+2");
    expect(signed(-0.5)).toBe("-0.5");
    expect(signed(0)).toBe("0");
    expect(signed("250.00")).toBe("+250.00");
    expect(signed("0.00")).toBe("0.00");
    expect(signed(null)).toBe("—");
  });
  it("shows rates as percentages and hours rounded", () => {
    expect(figure("on_time_rate", 0.5)).toBe("50%");
    expect(figure("cycle_time_p50_hours", 816.04)).toBe("816 h");
    expect(figure("spend_EUR", "1000.00")).toBe("1000.00");
    expect(figure("results_reported_rate", null)).toBe("—");
  });
});

describe("outcomes forms", () => {
  it("takes one entry per non-blank line, trimmed", () => {
    expect(entries("  win-back offer \n\n short subject lines\n   ")).toEqual(["win-back offer", "short subject lines"]);
    expect(entries("")).toEqual([]);
  });
  it("lists the brief's KPI metrics in order, skipping KPIs without one", () => {
    expect(kpiMetrics({ kpis: [{ metric: "leads" }, { target: "5" }, { metric: " revenue " }] })).toEqual(["leads", "revenue"]);
    expect(kpiMetrics({})).toEqual([]);
    expect(kpiMetrics({ kpis: "not a list" })).toEqual([]);
  });
});
