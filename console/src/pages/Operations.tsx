import type { Me } from "../api/types";

export function Operations(_props: { me?: Me; id?: string }) {
  return <h1>Operations</h1>;
}
