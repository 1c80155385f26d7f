import type { Me } from "../api/types";

export function CampaignPage(_props: { me?: Me; id?: string }) {
  return <h1>Campaign</h1>;
}
