// A view's CSV, downloaded as the metrics service writes it (so a download is exactly what the API says).
import { useState } from "react";
import { call } from "../api/client";
import { download } from "../lib/csv";
import { ErrorNote } from "./ui";

export function CsvButton({ path, filters, name }: { path: string; filters: Record<string, string | undefined>; name: string }) {
  const [error, setError] = useState<unknown>(null);
  const get = async () => {
    try {
      setError(null);
      const text = await call<string>("metrics", path, { accept: "text/csv" }, { ...filters, format: "csv" });
      download(`${name}.csv`, text);
    } catch (e) {
      setError(e);
    }
  };
  return <>
    <button type="button" className="secondary" onClick={get}>Download CSV<span className="sr-only"> of {name}</span></button>
    <ErrorNote error={error} />
  </>;
}
