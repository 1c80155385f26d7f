// The API's types, generated from the four OpenAPI documents (npm run gen).
import type { components as Budget } from "./generated/budget";
import type { components as Governance } from "./generated/governance";
import type { components as Intake } from "./generated/intake";
import type { components as Metrics } from "./generated/metrics";

export type IntakeT = Intake["schemas"];
export type GovernanceT = Governance["schemas"];
export type BudgetT = Budget["schemas"];
export type MetricsT = Metrics["schemas"];
export type Problem = IntakeT["Problem"];
export type Me = IntakeT["Me"];
export type Money = BudgetT["Money"];
