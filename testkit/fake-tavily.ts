// A fake Tavily search API: POST /search, the endpoint @tavily/core's `search()` calls (`${apiBaseURL}/search`,
// Bearer key, snake_case JSON body), answering in Tavily's snake_case response shape. Errors use Tavily's
// `{detail:{error}}` body, which the client turns into its error message.
//
//   const fake = await startFakeTavily({ apiKey: "tvly-test" });
//   fake.script([{ results: [{ title: "nginx 502", url: "https://example.com/502", content: "…" }] }]);
//   // BOSUN_TAVILY_BASE_URL=fake.url TAVILY_API_KEY=tvly-test
import type http from "node:http";
import { freshId } from "./fake-model.ts";
import { type FakeServer, pause, type ScriptQueue, scriptQueue, sendJson, startFakeServer } from "./fake-server.ts";

export interface ScriptedSearchResult {
  title: string;
  url: string;
  content: string;
  score?: number;
  rawContent?: string;
  publishedDate?: string;
}

export interface ScriptedSearch {
  results?: ScriptedSearchResult[];
  answer?: string;
  /** Answer with this HTTP error status instead, in Tavily's error format. */
  status?: number;
  errorMessage?: string;
  delayMs?: number;
}

export interface FakeTavily extends FakeServer, ScriptQueue<ScriptedSearch> {
  /** What to set as BOSUN_TAVILY_BASE_URL (the client's apiBaseURL). */
  baseURL: string;
}

const sendError = (res: http.ServerResponse, status: number, error: string) =>
  sendJson(res, status, { detail: { error } });

export async function startFakeTavily(opts: { apiKey?: string } = {}): Promise<FakeTavily> {
  const queue = scriptQueue<ScriptedSearch>();
  const server = await startFakeServer(async (req, res) => {
    if (req.method !== "POST" || req.path.split("?")[0] !== "/search")
      return sendError(res, 404, `fake tavily: no route ${req.method} ${req.path}`);
    if (opts.apiKey !== undefined && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      return sendError(res, 401, "Unauthorized: missing or invalid API key.");
    }
    if (typeof req.body?.query !== "string") return sendError(res, 400, "query is required");
    const reply = queue.next(req);
    if (!reply) return sendError(res, 500, "fake tavily: the script has no reply left for this request");
    await pause(reply.delayMs ?? 0, res);
    if (res.destroyed) return;
    if (reply.status && reply.status >= 400)
      return sendError(res, reply.status, reply.errorMessage ?? `scripted ${reply.status}`);
    const max = typeof req.body.max_results === "number" ? req.body.max_results : 5;
    sendJson(res, 200, {
      query: req.body.query,
      follow_up_questions: null,
      answer: reply.answer ?? null,
      images: [],
      results: (reply.results ?? []).slice(0, max).map((r, i) => ({
        title: r.title,
        url: r.url,
        content: r.content,
        score: r.score ?? Number((0.9 - i * 0.1).toFixed(2)),
        raw_content: r.rawContent ?? null,
        ...(r.publishedDate ? { published_date: r.publishedDate } : {}),
      })),
      response_time: 0.01,
      request_id: freshId("req-"),
    });
  });
  return { ...server, ...queue, baseURL: server.url };
}
