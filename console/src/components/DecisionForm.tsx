// Decide a gate: approve, request changes or reject (with a reason). A refusal (four-eyes,
// decision rights, a stale version) is shown in the service's words.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useId, useState } from "react";
import { apiPost } from "../api/typed";
import { ErrorNote, Field } from "./ui";

type Choice = "approve" | "changes_requested" | "rejected";

export function DecisionForm({ campaignId, gateId, gateName, briefVersion, onDone }: {
  campaignId: string; gateId: string; gateName: string; briefVersion: number; onDone?: () => void;
}) {
  const uid = useId();
  const queries = useQueryClient();
  const [choice, setChoice] = useState<Choice>("approve");
  const [reason, setReason] = useState("");
  const decide = useMutation({
    mutationFn: () => apiPost("governance", "/campaigns/{campaign_id}/gates/{gate_id}/decisions",
      choice === "approve"
        ? { decision: "approve", brief_version: briefVersion, ...(reason.trim() ? { comment: reason.trim() } : {}) }
        : { decision: "reject", kind: choice, reason: reason.trim(), brief_version: briefVersion },
      { path: { campaign_id: campaignId, gate_id: gateId } }),
    onSuccess: () => {
      setReason("");
      void queries.invalidateQueries();
      onDone?.();
    },
  });
  const needsReason = choice !== "approve";
  return (
    <form className="decision" aria-label={`Decide ${gateName}`}
      onSubmit={(e) => { e.preventDefault(); decide.mutate(); }}>
      <fieldset>
        <legend>Decision on {gateName} (version {briefVersion})</legend>
        <div className="checks">
          {([["approve", "Approve"], ["changes_requested", "Request changes"], ["rejected", "Reject"]] as const).map(
            ([value, text]) => (
              <label key={value}>
                <input type="radio" name={`${uid}-decision`} value={value} checked={choice === value}
                  onChange={() => setChoice(value)} />
                {text}
              </label>
            ))}
        </div>
        <Field label={needsReason ? "Reason (required)" : "Comment (optional)"} id={`${uid}-reason`}>
          <textarea id={`${uid}-reason`} rows={2} value={reason} onChange={(e) => setReason(e.target.value)}
            required={needsReason} />
        </Field>
        <button type="submit" disabled={decide.isPending || (needsReason && !reason.trim())}>
          {choice === "approve" ? "Approve" : choice === "rejected" ? "Reject" : "Request changes"}
        </button>
      </fieldset>
      {decide.isSuccess && <p className="ok" role="status">Decision recorded: {decide.data.published ?? decide.data.decision}.</p>}
      <ErrorNote error={decide.error} />
    </form>
  );
}
