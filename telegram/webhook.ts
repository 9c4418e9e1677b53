// The Telegram webhook: Telegram POSTs each update here with the secret it was given at setWebhook. Any
// process behind a load balancer can take it (the bridge keeps no state that matters in memory). A call without
// the secret is refused before its body is read.
import type { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";

export interface TelegramWebhook {
  path: string;
  checkSecret(header: string | undefined): boolean;
  handleUpdate(update: never): Promise<void>;
}

export function mountTelegramWebhook(app: Hono, hook: TelegramWebhook): void {
  // Updates are small; a larger body is not from Telegram.
  app.post(hook.path, bodyLimit({ maxSize: 1024 * 1024, onError: (c) => c.json({ ok: false }, 413) }), async (c) => {
    if (!hook.checkSecret(c.req.header("x-telegram-bot-api-secret-token"))) return c.json({ ok: false }, 401);
    let update: unknown;
    try {
      update = await c.req.json();
    } catch {
      return c.json({ ok: false }, 400);
    }
    if (!update || typeof update !== "object" || typeof (update as { update_id?: unknown }).update_id !== "number")
      return c.json({ ok: false }, 400);
    await hook.handleUpdate(update as never);
    return c.json({ ok: true });
  });
}
