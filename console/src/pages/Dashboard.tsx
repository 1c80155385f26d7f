import type { Me } from "../api/types";

export function Dashboard(_props: { me?: Me; id?: string }) {
  return <h1>Dashboard</h1>;
}
