// The console's building blocks: the page frame, action forms and tables. Every form posts to
// /console/call/{operation} (htmx when scripts run, a plain form post when they do not), with the CSRF field.
import crypto from "node:crypto";
import type { Child } from "hono/jsx";
import type { Principal } from "../core/kernel/operation.ts";
import { hasScope, type ProjectRole, roleCaps } from "../core/kernel/scopes.ts";

export interface View {
  principal: Principal;
  csrf: string;
}

/** Whether to offer an action: the credential's scopes and the role both allow it (the invoker still decides). */
export const can = (view: View, scope: string, role?: ProjectRole | string): boolean =>
  hasScope(view.principal.scopes, scope) && (!role || hasScope(roleCaps[role as ProjectRole] ?? [], scope));

// Errors swap into the form's result too; scripts only from our own files (htmx evaluates no attributes).
const HTMX_CONFIG = JSON.stringify({
  includeIndicatorStyles: false,
  allowEval: false,
  allowScriptTags: false,
  selfRequestsOnly: true,
  responseHandling: [
    { code: "204", swap: false },
    { code: "...", swap: true },
  ],
});

export function Layout(props: { title: string; view?: View; wide?: boolean; children: Child }) {
  const { view } = props;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="htmx-config" content={HTMX_CONFIG} />
        {view ? <meta name="csrf-token" content={view.csrf} /> : null}
        <title>{`${props.title} · Bosun console`}</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href="/console/assets/console.css" />
        <link rel="stylesheet" href="/console/assets/uPlot.min.css" />
        <script src="/console/assets/htmx.min.js" defer></script>
        <script src="/console/assets/uPlot.iife.min.js" defer></script>
        <script src="/console/assets/console.js" defer></script>
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href="/console">
            Bosun
          </a>
          {view ? (
            <nav aria-label="Main">
              <ul>
                <li>
                  <a href="/console">Overview</a>
                </li>
                <li>
                  <a href="/console/billing">Billing</a>
                </li>
                <li>
                  <a href="/console/tokens">Tokens</a>
                </li>
                <li>
                  <a href="/console/audit">Audit log</a>
                </li>
                {view.principal.account?.isOperator ? (
                  <li>
                    <a href="/console/operator">Operator</a>
                  </li>
                ) : null}
                <li>
                  <a href="/docs">API</a>
                </li>
              </ul>
            </nav>
          ) : null}
          {view ? (
            <form method="post" action="/console/sign-out" class="signout">
              <input type="hidden" name="_csrf" value={view.csrf} />
              <span class="who">{view.principal.account?.email}</span> <button type="submit">Sign out</button>
            </form>
          ) : null}
        </header>
        <main id="main" tabindex={-1} class={props.wide ? "wide" : ""}>
          {props.children}
        </main>
      </body>
    </html>
  );
}

export interface ActionProps {
  view: View;
  op: string;
  label: string;
  /** After success: reload the page (default), show the answer (`show`), or go where the answer says (`go`). */
  then?: "reload" | "show" | "go";
  /** Hidden inputs: the operation's fixed fields (project, ids). */
  hidden?: Record<string, string | undefined>;
  danger?: boolean;
  confirm?: string;
  /** The button's accessible name when its label alone is ambiguous (a "Revoke" in every row). */
  ariaLabel?: string;
  class?: string;
  children?: Child;
}

/** A form that runs one operation. Its answer (or error) lands in the live region under it. */
export function Action(p: ActionProps) {
  const id = `r-${p.op}-${Math.random().toString(36).slice(2, 8)}`;
  return (
    <form
      method="post"
      action={`/console/call/${p.op}`}
      hx-post={`/console/call/${p.op}`}
      hx-target={`#${id}`}
      hx-swap="innerHTML"
      class={`action ${p.class ?? ""}`}
      data-confirm={p.confirm}
    >
      <input type="hidden" name="_csrf" value={p.view.csrf} />
      <input type="hidden" name="_then" value={p.then ?? "reload"} />
      <input type="hidden" name="_idempotency_key" value={crypto.randomUUID()} />
      {Object.entries(p.hidden ?? {}).map(([k, v]) =>
        v === undefined ? null : <input type="hidden" name={k} value={v} />,
      )}
      {p.children}
      <button type="submit" class={p.danger ? "danger" : ""} data-op={p.op} aria-label={p.ariaLabel}>
        {p.label}
      </button>
      <div id={id} class="result" role="status" aria-live="polite"></div>
    </form>
  );
}

export function Field(p: {
  name: string;
  label: string;
  type?: string;
  value?: string;
  required?: boolean;
  placeholder?: string;
  autocomplete?: string;
  options?: (string | [string, string])[];
  rows?: number;
  mono?: boolean;
}) {
  const common = { name: p.name, required: p.required, id: `f-${p.name}-${Math.random().toString(36).slice(2, 7)}` };
  let control: Child;
  if (p.options) {
    control = (
      <select {...common}>
        {p.options.map((o) => {
          const [value, text] = Array.isArray(o) ? o : [o, o];
          return (
            <option value={value} selected={value === p.value}>
              {text}
            </option>
          );
        })}
      </select>
    );
  } else if (p.type === "textarea") {
    control = (
      <textarea {...common} rows={p.rows ?? 12} class={p.mono ? "mono" : ""} spellcheck={false}>
        {p.value ?? ""}
      </textarea>
    );
  } else {
    control = (
      <input
        {...common}
        type={p.type ?? "text"}
        value={p.value}
        placeholder={p.placeholder}
        autocomplete={p.autocomplete}
      />
    );
  }
  return (
    <div class="field">
      <label for={common.id}>{p.label}</label>
      {control}
    </div>
  );
}

export function Table(p: { caption: string; head: string[]; rows: Child[][]; empty?: string }) {
  if (!p.rows.length) return <p class="muted">{p.empty ?? "Nothing yet."}</p>;
  return (
    <div class="scroll">
      <table>
        <caption>{p.caption}</caption>
        <thead>
          <tr>
            {p.head.map((h) => (
              <th scope="col">{h}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {p.rows.map((r) => (
            <tr>
              {r.map((cell) => (
                <td>{cell}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export const usd = (m: { dollars: string } | undefined | null) => (m ? `$${m.dollars}` : "—");
export const when = (iso: string | null | undefined) => (iso ? iso.replace("T", " ").slice(0, 16) : "—");

export function ErrorBox(p: { message: string }) {
  return (
    <p class="error" role="alert">
      {p.message}
    </p>
  );
}
