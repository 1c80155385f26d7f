// Small shared pieces: loading/error states, a labelled field, a section.
import type { ReactNode } from "react";
import { ApiError } from "../api/client";
import { refusal } from "../lib/problems";

export function ErrorNote({ error }: { error: unknown }) {
  if (!error) return null;
  const text = error instanceof ApiError ? refusal(error.status, error.problem) : String(error);
  return (
    <p className="error" role="alert">
      {text}
    </p>
  );
}

export function Loading({ what }: { what: string }) {
  return <p className="muted" aria-busy="true">Loading {what}…</p>;
}

export function Field({ label, id, errors, children, hint }: {
  label: string; id: string; errors?: string[]; children: ReactNode; hint?: string;
}) {
  return (
    <div className={`field${errors?.length ? " invalid" : ""}`}>
      <label htmlFor={id}>{label}</label>
      {children}
      {hint && <small className="muted">{hint}</small>}
      {errors?.map((e) => (
        <small key={e} className="field-error" id={`${id}-error`}>{e}</small>
      ))}
    </div>
  );
}

export function Section({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <section className="card" aria-label={title}>
      <header className="card-head">
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}

export function Badge({ value }: { value: string }) {
  return <span className={`badge badge-${value}`}>{value.replace(/_/g, " ")}</span>;
}
