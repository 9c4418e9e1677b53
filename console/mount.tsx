// /console: the web console, one more surface over the operations. It renders pages on the server (Hono JSX) and
// posts every change to /console/call/{operation}, which runs that operation through the invoker with the
// session's principal. It holds no behaviour of its own: what a person may do is what the invoker allows.
import type { Context, Hono } from "hono";
import { BosunError, toBosunError } from "../core/kernel/errors.ts";
import { invoke } from "../core/kernel/invoker.ts";
import { anonymous } from "../core/kernel/operation.ts";
import type { Platform } from "../core/platform.ts";
import { clientIp } from "../http/request.ts";
import { streamRunEvents } from "../http/run-stream.ts";
import { assetServer, CONSOLE_ASSETS } from "./assets.ts";
import { callerFor, inputFromForm } from "./call.ts";
import { accountPages } from "./pages/account.tsx";
import { chatPages } from "./pages/chat.tsx";
import { instancePages } from "./pages/instance.tsx";
import { overviewPage } from "./pages/overview.tsx";
import { signInPage } from "./pages/sign-in.tsx";
import { sitePages } from "./pages/site.tsx";
import { answerFor } from "./results.tsx";
import { clearSessionCookie, consoleAuth, sameOrigin, setSessionCookie } from "./session.ts";
import { ErrorBox, Layout, type View } from "./ui.tsx";

/** No inline script anywhere in the console: scripts only from our own files. */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export interface PageContext {
  c: Context;
  platform: Platform;
  view: View;
  call: ReturnType<typeof callerFor>;
}

export type PageRoute = (ctx: PageContext) => Promise<unknown>;

export function mountConsole(app: Hono, platform: Platform) {
  const assets = assetServer(CONSOLE_ASSETS);
  app.use("/console/*", async (c, next) => {
    await next();
    c.header("Content-Security-Policy", CONSOLE_CSP);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "same-origin");
    if (!c.res.headers.has("Cache-Control")) c.header("Cache-Control", "no-store");
  });
  app.get("/console/assets/:name", (c) => assets(c, c.req.param("name")));

  // Signing in and out: the only console routes outside the session check.
  app.get("/console/sign-in", (c) => c.html(signInPage({ next: safeNext(c.req.query("next")) })));
  app.post("/console/sign-in", async (c) => {
    if (!sameOrigin(c, platform)) return c.html(signInPage({ error: "Cross-origin sign-in refused." }), 403);
    const form = await c.req.parseBody();
    const text = (k: string) => (typeof form[k] === "string" ? (form[k] as string) : "");
    const next = safeNext(text("next"));
    try {
      const input: Record<string, unknown> = { email: text("email"), password: text("password") };
      if (text("totp_code")) input.totp_code = text("totp_code");
      const out = (await invoke(platform, "login", input, anonymous("console", clientIp(c, platform)), {
        requestId: c.get("requestId"),
      })) as {
        token: string;
        expires_at: string;
      };
      setSessionCookie(c, platform, out.token, out.expires_at);
      return c.redirect(next, 303);
    } catch (err) {
      const e = toBosunError(err);
      const needsTotp = e.details.needs_totp === true;
      return c.html(
        signInPage({
          email: text("email"),
          next,
          needsTotp,
          error: needsTotp ? "Enter the code from your authenticator app (or a backup code)." : e.message,
        }),
        needsTotp ? 200 : (e.status as 401),
      );
    }
  });

  const auth = consoleAuth(platform);
  app.use("/console/*", async (c, next) => {
    const p = c.req.path;
    if (p.startsWith("/console/assets/") || p === "/console/sign-in") return next();
    return auth(c, next);
  });

  app.post("/console/sign-out", async (c) => {
    await callerFor(c, platform)("logout").catch(() => undefined);
    clearSessionCookie(c);
    return c.redirect("/console/sign-in", 303);
  });

  // Every change: one operation, its answer rendered into the form's live region.
  app.post("/console/call/:op", async (c) => {
    const opId = c.req.param("op");
    const htmx = c.req.header("hx-request") === "true";
    const form = await c.req.parseBody({ all: true });
    const then = typeof form._then === "string" ? form._then : "reload";
    try {
      const op = platform.operations.get(opId);
      // Reads are pages (GET); a POST runs what REST also answers to a POST.
      if (op.http.method === "get") throw new BosunError("not_supported", "the console posts only changes");
      const input = inputFromForm(op, form as Record<string, string | File | (string | File)[]>);
      // Each rendered form carries its own key (console.js renews it after an answer): a double submit runs once.
      const key = typeof form._idempotency_key === "string" ? form._idempotency_key : undefined;
      const output = await callerFor(c, platform, { idempotencyKey: key })(opId, input);
      const answer = answerFor(opId, input, output, then);
      const back = c.req.header("referer") ?? "/console";
      if (!htmx && answer.body && !answer.location)
        return c.html(
          <Layout title="Done" view={viewOf(c)}>
            {answer.body}
            <p>
              <a href={back}>Back</a>
            </p>
          </Layout>,
        );
      if (!htmx) return c.redirect(answer.location ?? back, 303);
      if (answer.location) c.header("HX-Redirect", answer.location);
      else if (!answer.body) c.header("HX-Refresh", "true");
      return c.html(<>{answer.body ?? <p>Done.</p>}</>);
    } catch (err) {
      const e = toBosunError(err);
      if (!htmx)
        return c.html(
          <Layout title="Error" view={viewOf(c)}>
            <h1>That did not work</h1>
            <ErrorBox message={e.message} />
            <p>
              <a href={c.req.header("referer") ?? "/console"}>Back</a>
            </p>
          </Layout>,
          e.status as 400,
        );
      return c.html(<ErrorBox message={e.message} />, e.status as 400);
    }
  });

  app.get("/console/p/:project/runs/:run/stream", (c) =>
    streamRunEvents(c, platform, async () => c.get("consolePrincipal"), c.req.param("project"), c.req.param("run")),
  );

  const page = (path: string, render: PageRoute) =>
    app.get(path, async (c) => {
      const ctx: PageContext = { c, platform, view: viewOf(c), call: callerFor(c, platform) };
      try {
        const out = await render(ctx);
        return out instanceof Response ? out : c.html(out as string);
      } catch (err) {
        const e = toBosunError(err);
        if (e.code === "unauthorized") return c.redirect("/console/sign-in", 303);
        return c.html(
          <Layout title="Error" view={ctx.view}>
            <h1>{e.status === 404 ? "Not found" : "That did not work"}</h1>
            <ErrorBox message={e.message} />
          </Layout>,
          e.status as 400,
        );
      }
    });

  page("/console", overviewPage);
  for (const [path, render] of Object.entries({ ...sitePages, ...chatPages, ...instancePages, ...accountPages }))
    page(path, render);
}

const viewOf = (c: Context): View => ({ principal: c.get("consolePrincipal"), csrf: c.get("consoleCsrf") });

/** Only a path of the console itself, so a link cannot send a person elsewhere after signing in. */
function safeNext(next: string | undefined): string {
  return next && /^\/console(\/[\w\-./?=&%]*)?$/.test(next) && !next.includes("//") ? next : "/console";
}
