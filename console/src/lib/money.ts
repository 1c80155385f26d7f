// Money stays a decimal string end to end (as the APIs write it); only charts turn it into a number.
export interface Money {
  amount: string;
  currency: string;
}

/** "1234567.50" -> "1,234,567.50": digits grouped without going through a float. */
export function groupDigits(amount: string): string {
  const negative = amount.startsWith("-");
  const [whole, frac] = (negative ? amount.slice(1) : amount).split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${negative ? "-" : ""}${grouped}${frac !== undefined ? `.${frac}` : ""}`;
}

export function formatMoney(m: Money | null | undefined): string {
  if (!m) return "—";
  return `${groupDigits(m.amount)} ${m.currency}`;
}

/** For charts only: an approximate number. */
export function toNumber(amount: string | null | undefined): number {
  const n = Number(amount ?? "0");
  return Number.isFinite(n) ? n : 0;
}
