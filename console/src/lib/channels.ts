import type { IntakeT } from "../api/types";

export const CHANNELS: IntakeT["Channel"][] = [
  "email", "paid_search", "paid_social", "organic_social", "display", "video", "content", "events",
  "affiliate", "print", "out_of_home", "sms", "direct_mail", "pr",
];
export const STATUSES: IntakeT["Status"][] = [
  "draft", "submitted", "in_review", "changes_requested", "rejected", "approved", "launched", "completed",
  "cancelled",
];
