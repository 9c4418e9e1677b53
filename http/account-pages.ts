// The pages one-time links open (core/identity/one-time.ts): set a password, verify an email, reset a password,
// accept an invitation. Each is a static form whose script reads the token from the URL fragment (never sent to a
// server, so never in an access log or a Referer) and posts it to the matching operation under /v1. No behaviour
// lives here: the operations do everything, through the invoker.
import crypto from "node:crypto";
import type { Hono } from "hono";

interface Page {
  title: string;
  /** The operation's REST path. */
  action: string;
  fields: { name: string; label: string; type: string; optional?: boolean }[];
  note?: string;
}

const PAGES: Record<string, Page> = {
  "set-password": {
    title: "Choose your password",
    action: "/v1/auth/set-password",
    fields: [{ name: "password", label: "New password (at least 10 characters)", type: "password" }],
  },
  "reset-password": {
    title: "Reset your password",
    action: "/v1/auth/set-password",
    fields: [{ name: "password", label: "New password (at least 10 characters)", type: "password" }],
  },
  "verify-email": { title: "Confirm your email address", action: "/v1/auth/verify-email", fields: [] },
  "accept-invitation": {
    title: "Accept the invitation",
    action: "/v1/auth/accept-invitation",
    fields: [
      { name: "name", label: "Your name (only if you have no account yet)", type: "text", optional: true },
      { name: "password", label: "Password (only if you have no account yet)", type: "password", optional: true },
    ],
    note: "If you already have an account with this address, leave both fields empty.",
  },
};

const SCRIPT = `
const form = document.querySelector("form"), out = document.querySelector("output");
const token = new URLSearchParams(location.hash.slice(1)).get("token");
history.replaceState(null, "", location.pathname);
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = { token };
  for (const el of form.querySelectorAll("input")) if (el.value) body[el.name] = el.value;
  const res = await fetch(form.dataset.action, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const data = await res.json().catch(() => ({}));
  out.textContent = res.ok ? "Done. You can log in now." : (data.error && data.error.message) || "Something went wrong.";
  if (res.ok) form.querySelector("button").disabled = true;
});`;
const SCRIPT_HASH = crypto.createHash("sha256").update(SCRIPT).digest("base64");

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function render(p: Page): string {
  const inputs = p.fields
    .map(
      (f) =>
        `<label>${esc(f.label)}<br><input name="${f.name}" type="${f.type}"${f.optional ? "" : " required"} autocomplete="${f.type === "password" ? "new-password" : "name"}"></label><br>`,
    )
    .join("\n");
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${esc(p.title)} · Bosun</title>
<style>body{font:16px system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}input{width:100%;padding:.4rem;margin:.3rem 0 .8rem}button{padding:.5rem 1rem}</style></head>
<body><h1>${esc(p.title)}</h1>${p.note ? `<p>${esc(p.note)}</p>` : ""}
<form data-action="${p.action}">${inputs}<button type="submit">Continue</button></form><p><output></output></p>
<script>${SCRIPT}</script></body></html>`;
}

export function mountAccountPages(app: Hono) {
  const rendered = new Map(Object.entries(PAGES).map(([k, p]) => [k, render(p)]));
  app.get("/account/:page", (c) => {
    const html = rendered.get(c.req.param("page"));
    if (!html) return c.notFound();
    return c.html(html, 200, {
      "Content-Security-Policy": `default-src 'none'; script-src 'sha256-${SCRIPT_HASH}'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'`,
      "Referrer-Policy": "no-referrer",
      "Cache-Control": "no-store",
    });
  });
}
