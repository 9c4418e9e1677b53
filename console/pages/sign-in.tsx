// Sign-in: email and password, and the two-factor code when the account has it on (login answers needs_totp).
import { ErrorBox, Field, Layout } from "../ui.tsx";

export function signInPage(p: { email?: string; next?: string; error?: string; needsTotp?: boolean }) {
  return (
    <Layout title="Sign in">
      <div class="narrow">
        <h1>Sign in to Bosun</h1>
        {p.error ? <ErrorBox message={p.error} /> : null}
        <form method="post" action="/console/sign-in" class="stack">
          <input type="hidden" name="next" value={p.next ?? "/console"} />
          <Field name="email" label="Email" type="email" value={p.email} required autocomplete="username" />
          <Field name="password" label="Password" type="password" required autocomplete="current-password" />
          {p.needsTotp ? (
            <Field name="totp_code" label="Two-factor code" autocomplete="one-time-code" required />
          ) : (
            <details>
              <summary>Two-factor code</summary>
              <Field name="totp_code" label="Code, if two-factor is on" autocomplete="one-time-code" />
            </details>
          )}
          <button type="submit">Sign in</button>
        </form>
      </div>
    </Layout>
  );
}
