// My approvals: overdue first, then the earliest due, then those without an SLA clock.
export interface QueueEntry {
  due_at: string | null;
  overdue: boolean;
  actionable_at: string | null;
}

export function sortQueue<T extends QueueEntry>(items: readonly T[]): T[] {
  const due = (i: T) => (i.due_at ? Date.parse(i.due_at) : Number.POSITIVE_INFINITY);
  return [...items].sort((a, b) => Number(b.overdue) - Number(a.overdue) || due(a) - due(b));
}

/** "due in 5 h" / "overdue by 2 d 3 h" relative to now. */
export function slaClock(dueAt: string | null, now: Date = new Date()): string {
  if (!dueAt) return "no SLA";
  const diffH = (Date.parse(dueAt) - now.getTime()) / 3_600_000;
  const total = Math.round(Math.abs(diffH)); // whole hours first, so 47.9 h is "2 d 0 h", never "1 d 24 h"
  const text = total >= 24 ? `${Math.floor(total / 24)} d ${total % 24} h` : `${total} h`;
  return diffH >= 0 ? `due in ${text}` : `overdue by ${text}`;
}
