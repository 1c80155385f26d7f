import type { Me } from "../api/types";

export function Approvals(_props: { me?: Me; id?: string }) {
  return <h1>Approvals</h1>;
}
