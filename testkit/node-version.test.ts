// CI runs the suite under more than one Node (.ci/run): this says which one ran it, from inside a test worker,
// and fails when it is not the one CI asked for (BOSUN_CI_NODE_MAJOR) or older than package.json's engines allow.
import { describe, expect, it } from "vitest";

describe("the Node running the tests", () => {
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);

  it("is the one CI asked for", () => {
    process.stdout.write(`tests run on Node ${process.version} (${process.execPath})\n`);
    const wanted = process.env.BOSUN_CI_NODE_MAJOR;
    if (wanted) expect(major).toBe(Number(wanted));
  });

  it("is a supported one (engines: 20.19+ or 22+)", () => {
    expect(major >= 22 || (major === 20 && minor >= 19)).toBe(true);
  });
});
