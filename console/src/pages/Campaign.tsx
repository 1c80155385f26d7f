import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { apiGet, apiPost } from "../api/typed";
import type { Me } from "../api/types";
import { Badge, ErrorNote, Loading } from "../components/ui";
import { label } from "../lib/format";
import { href } from "../lib/route";
import { has } from "../session";
import { BriefEditor } from "./campaign/BriefEditor";
import { InFlightSection, OutcomesSection } from "./campaign/InFlight";
import { BudgetSection, GatesSection, RaciSection, ReadinessSection, RisksSection, TimelineSection, VersionsSection } from "./campaign/Sections";

const EDITABLE = new Set(["draft", "changes_requested"]);

export function CampaignPage({ id, me }: { id: string; me: Me }) {
  const queries = useQueryClient();
  const c = useQuery({ queryKey: ["campaign", id], queryFn: () => apiGet("intake", "/campaigns/{campaign_id}", { path: { campaign_id: id } }) });
  const cancel = useMutation({
    mutationFn: () => apiPost("intake", "/campaigns/{campaign_id}/cancel", { reason: "cancelled from the console" }, { path: { campaign_id: id } }),
    onSuccess: () => queries.invalidateQueries(),
  });
  if (c.isLoading) return <Loading what="the campaign" />;
  if (c.error || !c.data) return <><p><a href={href("campaigns")}>← Campaigns</a></p><ErrorNote error={c.error} /></>;
  const campaign = c.data;
  const writer = has(me, "ops_admin") || (has(me, "requester") && me.team === campaign.team);
  const canEdit = writer && EDITABLE.has(campaign.status);
  const isOwner = me.subject === campaign.owner;
  const mayAct = isOwner || has(me, "ops_admin");
  return (
    <>
      <p><a href={href("campaigns")}>← Campaigns</a></p>
      <div className="page-head">
        <h1>{campaign.title ?? "(untitled)"}</h1>
        <div className="actions">
          <Badge value={campaign.status} />
          {isOwner && !["launched", "completed", "cancelled"].includes(campaign.status) && (
            <button type="button" className="danger" onClick={() => cancel.mutate()} disabled={cancel.isPending}>Cancel campaign</button>
          )}
        </div>
      </div>
      <p className="muted">
        Team {campaign.team} · owner {campaign.owner ?? "—"} · {campaign.channels.map(label).join(", ") || "no channel"} ·
        target launch {campaign.target_launch_date ?? "—"} · version {campaign.current_version}
        {campaign.status_reason && <> · “{campaign.status_reason}”</>}
      </p>
      <ErrorNote error={cancel.error} />
      <div className="grid">
        <div>
          <BriefEditor campaign={campaign} canEdit={canEdit} canSubmit={canEdit} />
          <VersionsSection campaign={campaign} />
        </div>
        <div>
          <GatesSection id={id} me={me} intake={campaign} />
          <ReadinessSection id={id} me={me} owner={campaign.owner} status={campaign.status} />
          <InFlightSection campaign={campaign} mayAct={mayAct} />
          <OutcomesSection campaign={campaign} mayAct={mayAct} />
          <BudgetSection id={id} />
          <RisksSection id={id} me={me} team={campaign.team} />
          <RaciSection id={id} />
          <TimelineSection id={id} />
        </div>
      </div>
    </>
  );
}
