import type { Me } from "../api/types";

export function CalendarPage(_props: { me?: Me; id?: string }) {
  return <h1>Calendar</h1>;
}
