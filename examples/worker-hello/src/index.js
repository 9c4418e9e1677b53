// A worker with a KV binding (VISITS) and a cron trigger: counts visits, and every five minutes logs the count.
import { greet } from "./greet.js";

export default {
  async fetch(request, env) {
    const count = Number((await env.VISITS.get("count")) ?? 0) + 1;
    await env.VISITS.put("count", String(count));
    console.log("visit", count, new URL(request.url).pathname);
    return new Response(`${greet(env.GREETING)} — visit number ${count}\n`);
  },
  async scheduled(event, env) {
    console.log("cron", event.cron, "visits so far:", (await env.VISITS.get("count")) ?? 0);
  },
};
