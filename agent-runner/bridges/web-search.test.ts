// The real @tavily/core client against the fake Tavily search endpoint over real HTTP on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BosunError } from "../../core/kernel/errors.ts";
import { type FakeTavily, startFakeTavily } from "../../testkit/fake-tavily.ts";
import { createWebSearch, webSearchConfig } from "./web-search.ts";

let fake: FakeTavily;
beforeAll(async () => {
  fake = await startFakeTavily({ apiKey: "tvly-test" });
});
afterAll(() => fake.close());

const never = new AbortController().signal;

describe("web_search", () => {
  it("refuses clearly without TAVILY_API_KEY, sending nothing (no keyless fallback)", async () => {
    const before = fake.requests.length;
    const bridge = createWebSearch(webSearchConfig({ BOSUN_TAVILY_BASE_URL: fake.baseURL }));
    const err = await bridge.execute({ query: "nginx 502" }, never).catch((e) => e);
    expect(err).toBeInstanceOf(BosunError);
    expect(err.code).toBe("not_configured");
    expect(err.message).toContain("TAVILY_API_KEY");
    expect(fake.requests.length).toBe(before);
  });

  it("searches through the configured base URL with the key and formats the results", async () => {
    fake.script([
      {
        answer: "Restart the upstream.",
        results: [
          {
            title: "nginx 502 Bad Gateway",
            url: "https://example.com/502",
            content: "A 502 means the upstream\n  did not answer.",
          },
          { title: "Upstream timeouts", url: "https://example.com/timeouts", content: "proxy_read_timeout …" },
        ],
      },
    ]);
    const bridge = createWebSearch(
      webSearchConfig({ TAVILY_API_KEY: "tvly-test", BOSUN_TAVILY_BASE_URL: fake.baseURL }),
    );
    expect(bridge.spec.name).toBe("web_search");
    const out = await bridge.execute({ query: "  nginx 502 upstream  ", max_results: 3 }, never);
    expect(out).toBe(
      [
        "Answer: Restart the upstream.\n",
        "1. nginx 502 Bad Gateway\n   https://example.com/502\n   A 502 means the upstream did not answer.",
        "2. Upstream timeouts\n   https://example.com/timeouts\n   proxy_read_timeout …",
      ].join("\n\n"),
    );
    const sent = fake.requests.at(-1)!;
    expect(sent.path).toBe("/search");
    expect(sent.headers.authorization).toBe("Bearer tvly-test");
    expect(sent.body).toMatchObject({ query: "nginx 502 upstream", max_results: 3, topic: "general" });
  });

  it("validates the model's input before searching", async () => {
    const bridge = createWebSearch({ apiKey: "tvly-test", baseURL: fake.baseURL });
    for (const input of [{}, { query: "" }, { query: "x".repeat(401) }, { query: "ok", max_results: 50 }]) {
      expect(await bridge.execute(input, never).catch((e) => e.code)).toBe("validation_error");
    }
  });

  it("turns the service's errors into typed errors", async () => {
    const wrongKey = createWebSearch({ apiKey: "tvly-wrong", baseURL: fake.baseURL });
    const err = await wrongKey.execute({ query: "x" }, never).catch((e) => e);
    expect(err).toBeInstanceOf(BosunError);
    expect(err.code).toBe("unreachable");
    expect(err.message).toContain("Unauthorized");

    fake.script([{ results: [] }]);
    expect(
      await createWebSearch({ apiKey: "tvly-test", baseURL: fake.baseURL }).execute({ query: "nothing" }, never),
    ).toBe('No results for "nothing".');
  });
});
