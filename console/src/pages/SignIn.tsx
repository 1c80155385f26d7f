import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import type { Me } from "../api/types";
import { ErrorNote, Field } from "../components/ui";
import { devToken, PERSONAS, signIn, type Persona } from "../session";

interface GatewayConfig {
  dev_tokens: boolean;
  identity_provider: { name: string; login_url: string } | null;
}

export function SignIn({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const config = useQuery({
    queryKey: ["gateway-config"],
    queryFn: async () => (await (await fetch("/api/config")).json()) as GatewayConfig,
  });
  const [token, setTokenText] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const run = async (get: () => Promise<string>) => {
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await signIn(await get()));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const persona = (p: Persona) => run(() => devToken(p));

  return (
    <main id="main" className="signin">
      <h1>Sign in to marops</h1>
      {config.data?.dev_tokens && (
        <section aria-labelledby="personas-title" className="card">
          <h2 id="personas-title">Development personas</h2>
          <p className="muted">
            This platform runs with its local secret, so it hands out development tokens. Pick who you are:
          </p>
          <ul className="personas">
            {PERSONAS.map((p) => (
              <li key={p.subject}>
                <button type="button" disabled={busy} onClick={() => persona(p)} data-testid={`persona-${p.subject}`}>
                  <strong>{p.subject}</strong>
                  <span>{p.title}</span>
                </button>
              </li>
            ))}
          </ul>
        </section>
      )}
      <section aria-labelledby="token-title" className="card">
        <h2 id="token-title">Bearer token</h2>
        {config.data?.identity_provider && (
          <p>
            Get a token from <a href={config.data.identity_provider.login_url}>{config.data.identity_provider.name}</a>,
            then paste it here.
          </p>
        )}
        <form onSubmit={(e) => { e.preventDefault(); void run(async () => token.trim()); }}>
          <Field label="Token from your organisation's identity provider" id="token">
            <textarea id="token" rows={3} value={token} onChange={(e) => setTokenText(e.target.value)} />
          </Field>
          <button type="submit" disabled={busy || !token.trim()}>Sign in with token</button>
        </form>
      </section>
      <ErrorNote error={error} />
    </main>
  );
}
