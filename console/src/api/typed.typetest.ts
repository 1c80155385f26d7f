// Type-level test (tsc): documented routes type-check, undocumented ones and unknown fields do not.
import { apiGet, apiPost } from "./typed";
export async function probe() {
  const lines = await apiGet("budget", "/budget-lines", { query: { team: "growth" } });
  const first: string = lines[0].id;
  const c = await apiGet("intake", "/campaigns/{campaign_id}", { path: { campaign_id: "x" } });
  const s: string = c.status;
  const d = await apiPost("governance", "/campaigns/{campaign_id}/gates/{gate_id}/decisions",
    { decision: "approve", brief_version: 1 }, { path: { campaign_id: "x", gate_id: "g" } });
  // @ts-expect-error not a documented route
  await apiGet("budget", "/nope");
  // @ts-expect-error a field the schema does not have
  const bad: string = c.not_a_field;
  return [first, s, d.decision, bad];
}
