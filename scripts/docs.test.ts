import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { generatedDocs } from "./docs.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

describe("generated docs", () => {
  for (const [file, content] of Object.entries(generatedDocs())) {
    it(`${file} is what \`npm run docs\` writes`, () => {
      const committed = fs.readFileSync(path.join(root, file), "utf8");
      // On failure: run `npm run docs` and commit the result.
      expect(committed).toBe(content);
    });
  }
});
