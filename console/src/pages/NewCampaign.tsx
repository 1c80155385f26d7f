import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import { apiPost } from "../api/typed";
import type { IntakeT, Me } from "../api/types";
import { ErrorNote, Field } from "../components/ui";
import { CHANNELS } from "../lib/channels";
import { label } from "../lib/format";
import { errorsByField } from "../lib/problems";
import { href } from "../lib/route";
import { ApiError } from "../api/client";

export function NewCampaign({ me }: { me: Me }) {
  const [title, setTitle] = useState("");
  const [channels, setChannels] = useState<IntakeT["Channel"][]>([]);
  const create = useMutation({
    mutationFn: () => apiPost("intake", "/campaigns", { title, channels, ...(me.team ? {} : { team: "marketing-ops" }) }),
    onSuccess: (c) => { window.location.hash = href("campaigns", c.id); },
  });
  const fieldErrors = create.error instanceof ApiError ? errorsByField(create.error.problem?.errors) : {};
  return (
    <>
      <h1>New campaign</h1>
      <form className="card form" onSubmit={(e) => { e.preventDefault(); create.mutate(); }}>
        <Field label="Title" id="new-title" errors={fieldErrors.title}>
          <input id="new-title" value={title} onChange={(e) => setTitle(e.target.value)} required />
        </Field>
        <fieldset>
          <legend>Channels</legend>
          <div className="checks">
            {CHANNELS.map((c) => (
              <label key={c}>
                <input type="checkbox" checked={channels.includes(c)}
                  onChange={(e) => setChannels(e.target.checked ? [...channels, c] : channels.filter((x) => x !== c))} />
                {label(c)}
              </label>
            ))}
          </div>
        </fieldset>
        <button type="submit" disabled={create.isPending}>Create draft</button>
        <ErrorNote error={create.error} />
      </form>
    </>
  );
}
