import { useQuery } from "@tanstack/react-query";
import { apiGet } from "../api/typed";
import type { Me } from "../api/types";
import { DecisionForm } from "../components/DecisionForm";
import { Badge, ErrorNote, Loading } from "../components/ui";
import { formatMoney } from "../lib/money";
import { slaClock, sortQueue } from "../lib/queue";
import { href } from "../lib/route";

export function Approvals({ me }: { me: Me }) {
  const q = useQuery({ queryKey: ["queue"], queryFn: () => apiGet("governance", "/queue"), refetchInterval: 5000 });
  const items = sortQueue(q.data?.items ?? []);
  return (
    <>
      <h1>My approvals</h1>
      <p className="muted">The gates {me.subject} may decide now, overdue first, then by SLA due time.</p>
      <ErrorNote error={q.error} />
      {q.isLoading && <Loading what="your queue" />}
      {q.data && items.length === 0 && <p data-testid="queue-empty">Nothing waits for you.</p>}
      <ul className="queue" aria-label="Approval queue">
        {items.map((i) => (
          <li key={`${i.campaign_id}-${i.gate_id}`} className="card" data-testid={`queue-${i.campaign_id}-${i.gate_id}`}>
            <div className="card-head">
              <h2><a href={href("campaigns", i.campaign_id)}>{i.title}</a> · {i.gate_name}</h2>
              <span>{i.overdue ? <Badge value="overdue" /> : null} {slaClock(i.due_at)}</span>
            </div>
            <p className="muted">
              Team {i.team} · requested {formatMoney(i.requested)} · version {i.brief_version}
              {i.via === "escalation" && " · escalated to you"}
              {i.approvals_required > 1 && ` · ${i.approvals.length}/${i.approvals_required} approvals`}
            </p>
            {!i.can_approve && <p className="error">The amount is above your decision right: you may reject or request changes, not approve.</p>}
            <DecisionForm campaignId={i.campaign_id} gateId={i.gate_id} gateName={i.gate_name} briefVersion={i.brief_version} />
          </li>
        ))}
      </ul>
      {q.data?.next_cursor && (
        <p className="muted" data-testid="queue-more">The {items.length} most urgent gates; more wait behind them.</p>
      )}
    </>
  );
}
