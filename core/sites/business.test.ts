// Business data: validated per kind, a draft until published, and publicly only what is live.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestPlatform, type TestPlatform } from "../../testkit/harness.ts";

let t: TestPlatform;
let token: string;
let account: Awaited<ReturnType<TestPlatform["account"]>>;
const p = "/v1/projects/biz-site";
const patch = (body: Record<string, unknown>, as = token) => t.request("PATCH", `${p}/business`, { token: as, body });

const MENU = [
  {
    name: "Bread",
    items: [
      { name: "Rye", price: { amount: 450, currency: "EUR" }, tags: ["vegan"] },
      { name: "Sourdough", description: "48 h ferment", price: { amount: 520, currency: "EUR" } },
    ],
  },
];
const HOURS = {
  timezone: "Europe/Lisbon",
  weekly: [
    { day: "mon", open: "08:00", close: "12:00" },
    { day: "mon", open: "13:00", close: "18:00" },
    { day: "sat", open: "09:00", close: "24:00" },
  ],
};

beforeAll(async () => {
  t = await startTestPlatform();
  account = await t.account();
  token = await account.token(["*"]);
  expect(
    (await t.request("POST", "/v1/projects", { token, body: { slug: "biz-site", name: "B", kind: "site" } })).status,
  ).toBe(201);
});
afterAll(() => t?.close());

describe("business data", () => {
  it("update_business_data and get_business_data: a draft until publish_site, then public via get_menu, get_services, get_faq", async () => {
    const res = await patch({
      menu: MENU,
      services: [{ name: "Cake order", price: { amount: 3000, currency: "EUR" }, duration_minutes: 30 }],
      faq: [{ question: "Gluten free?", answer: "Some loaves, ask us." }],
      opening_hours: HOURS,
    });
    expect(res.status).toBe(200);
    expect(res.body.draft.menu).toEqual(MENU);
    expect(res.body.live).toEqual({ menu: null, services: null, faq: null, opening_hours: null });
    expect(res.body.unpublished).toEqual(["menu", "services", "faq", "opening_hours"]);
    // Nothing is live yet: the public answers are empty, never the draft.
    expect(
      (await t.request("POST", `${p}/pages`, { token, body: { slug: "index", title: "Home", content: "hi" } })).status,
    ).toBe(201);
    expect((await t.request("GET", "/v1/sites/biz-site/menu")).body).toEqual({ menu: [] });

    expect((await t.request("POST", `${p}/releases`, { token })).status).toBe(201);
    const got = await t.request("GET", `${p}/business`, { token });
    expect(got.body.unpublished).toEqual([]);
    expect(got.body.live.opening_hours).toEqual(HOURS);
    expect((await t.request("GET", "/v1/sites/biz-site/menu")).body).toEqual({ menu: MENU });
    expect((await t.request("GET", "/v1/sites/biz-site/services")).body.services[0].price).toEqual({
      amount: 3000,
      currency: "EUR",
    });
    expect((await t.request("GET", "/v1/sites/biz-site/faq")).body.faq).toHaveLength(1);
    expect((await t.request("GET", "/v1/sites/biz-site")).body.opening_hours).toEqual(HOURS);

    // A later draft change (and removal) stays private until the next publish; the site settings keep their own.
    expect((await patch({ faq: null, menu: [] })).body.unpublished).toEqual(["menu", "faq"]);
    expect(
      (await t.request("PATCH", `${p}/settings`, { token, body: { settings: { site_name: "Ada" } } })).body.rejected,
    ).toEqual([]);
    expect((await t.request("GET", `${p}/business`, { token })).body.draft).toMatchObject({ faq: null, menu: [] });
    expect((await t.request("GET", "/v1/sites/biz-site/faq")).body.faq).toHaveLength(1);
    expect((await t.request("GET", "/v1/sites/biz-site/menu")).body).toEqual({ menu: MENU });
    // Discarding the draft brings the business data back to the live one, with the rest of the settings.
    expect((await t.request("POST", `${p}/draft/discard`, { token })).status).toBe(200);
    const reset = await t.request("GET", `${p}/business`, { token });
    expect(reset.body.unpublished).toEqual([]);
    expect(reset.body.draft.menu).toEqual(MENU);
  });

  it("update_business_data refuses bad input with 400 naming the field", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ menu: [{ name: "Bread", items: [{ name: "Rye", price: { amount: 4.5, currency: "EUR" } }] }] }, "amount"],
      [{ menu: [{ name: "Bread", items: [{ name: "Rye", price: { amount: 450, currency: "euro" } }] }] }, "currency"],
      [{ opening_hours: { ...HOURS, timezone: "Mars/Olympus" } }, "timezone"],
      [{ opening_hours: { ...HOURS, weekly: [{ day: "mon", open: "8am", close: "12:00" }] } }, "open"],
      [{ opening_hours: { ...HOURS, weekly: [{ day: "funday", open: "08:00", close: "12:00" }] } }, "day"],
      [{ opening_hours: { ...HOURS, weekly: [{ day: "mon", open: "18:00", close: "08:00" }] } }, "weekly"],
      [
        {
          opening_hours: {
            ...HOURS,
            weekly: [
              { day: "tue", open: "08:00", close: "12:00" },
              { day: "tue", open: "11:00", close: "14:00" },
            ],
          },
        },
        "weekly",
      ],
      [{ faq: [{ question: "line\nbreak", answer: "a" }] }, "question"],
      [{ services: [{ name: "x", duration_minutes: 0 }] }, "duration_minutes"],
    ];
    for (const [body, field] of cases) {
      const res = await patch(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe("validation_error");
      expect(JSON.stringify(res.body.error.issues)).toContain(field);
    }
    // Nothing of a refused call was stored.
    expect((await t.request("GET", `${p}/business`, { token })).body.draft.opening_hours).toEqual(HOURS);
  });

  it("update_business_data needs settings:write and hides another tenant's site; get_menu hides protected sites", async () => {
    const reader = await account.token(["settings:read"]);
    const denied = await patch({ faq: [] }, reader);
    expect(denied.status).toBe(403);
    expect(JSON.stringify(denied.body)).toContain("settings:write");
    expect((await t.request("GET", `${p}/business`, { token: reader })).status).toBe(200);
    const stranger = await (await t.account()).token(["*"]);
    expect((await patch({ faq: [] }, stranger)).status).toBe(404);
    expect((await t.request("GET", `${p}/business`, { token: stranger })).status).toBe(404);
    expect((await t.request("GET", "/v1/sites/no-such-site/menu")).status).toBe(404);

    await t.request("PATCH", `${p}/settings`, { token, body: { settings: { password: "a long enough secret" } } });
    expect((await t.request("POST", `${p}/releases`, { token })).status).toBe(201);
    expect((await t.request("GET", "/v1/sites/biz-site/menu")).status).toBe(403);
  });
});
