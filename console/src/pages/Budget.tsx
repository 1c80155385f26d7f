import type { Me } from "../api/types";

export function BudgetPage(_props: { me?: Me; id?: string }) {
  return <h1>Budget</h1>;
}
