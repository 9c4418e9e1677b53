import { describe, expect, it } from "vitest";
import { iso, isoOfMs } from "./common.ts";

describe("iso", () => {
  it("formats exactly as Date.prototype.toISOString", () => {
    const edges = [
      0,
      1,
      999,
      86_399_999,
      951_782_400_000, // 2000-02-29
      951_868_800_000, // 2000-03-01
      4_107_542_400_000, // 2100-03-01
      1_709_164_800_000, // 2024-02-29
      253_402_300_799_999, // 9999-12-31T23:59:59.999Z
      253_402_300_800_000, // 10000: Date's own six-digit form
      -1, // before 1970: Date's own
      -62_198_755_200_000, // year 0
    ];
    // A fixed walk over the range, deterministic: every month and leap rule, odd milliseconds.
    for (let ms = 0; ms < 253_402_300_800_000; ms += 7_777_777_777_777 / 1000) edges.push(Math.floor(ms));
    const wrong = edges.filter((ms) => isoOfMs(ms) !== new Date(ms).toISOString());
    expect(wrong).toEqual([]);
  });

  it("takes a Date or a string, and refuses an invalid time as Date does", () => {
    const d = new Date("2026-11-30T09:35:19.123Z");
    expect(iso(d)).toBe("2026-11-30T09:35:19.123Z");
    expect(iso("2026-11-30 09:35:19.123+01")).toBe(new Date("2026-11-30 09:35:19.123+01").toISOString());
    expect(() => iso("not a time")).toThrow(RangeError);
    expect(() => iso(new Date(Number.NaN))).toThrow(RangeError);
  });
});
