// Starts the Telegram bridge in `bosun serve` when a bot token is configured, or says why not.
import type { Platform } from "../core/platform.ts";
import { TelegramBridge, WEBHOOK_PATH } from "./bot.ts";
import type { TelegramWebhook } from "./webhook.ts";

/** The bridge, before it starts: serve mounts its webhook in the app, then starts it once listening. */
export function createTelegram(platform: Platform): {
  bridge: TelegramBridge | null;
  webhook: TelegramWebhook | undefined;
} {
  if (!platform.config.telegram.botToken) return { bridge: null, webhook: undefined };
  const bridge = new TelegramBridge(platform);
  const webhook = platform.config.telegram.publicUrl
    ? {
        path: WEBHOOK_PATH,
        checkSecret: (h: string | undefined) => bridge.checkSecret(h),
        handleUpdate: (u: never) => bridge.handleUpdate(u),
      }
    : undefined;
  return { bridge, webhook };
}

export async function startTelegram(bridge: TelegramBridge | null): Promise<string> {
  if (!bridge) return "telegram: off (set BOSUN_TELEGRAM_BOT_TOKEN)";
  try {
    return await bridge.start();
  } catch (err) {
    // Not fatal: REST, MCP and the runner serve on; the message never contains the token (see bot.ts redact).
    return `telegram: not started: ${(err as Error).message}`;
  }
}
