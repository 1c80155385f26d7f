import type { Me } from "../api/types";

export function PolicyPage(_props: { me?: Me; id?: string }) {
  return <h1>Policy</h1>;
}
