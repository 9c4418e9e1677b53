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

// GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
const anchor = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");
const TOP =
  /^(bin|core|cli|http|sites-server|mcp-server|telegram|agent-runner|schema|evals|bench|testkit|scripts|docs|\.ci)\//;

describe("README and docs/ point at what exists", () => {
  const pages = [
    "README.md",
    ...fs
      .readdirSync(path.join(root, "docs"))
      .filter((f) => f.endsWith(".md"))
      .map((f) => `docs/${f}`),
  ];
  for (const page of pages) {
    it(page, () => {
      const text = fs.readFileSync(path.join(root, page), "utf8");
      const broken: string[] = [];
      for (const [, target = "", hash] of text.matchAll(/\]\(([^)#\s]*)(?:#([^)\s]+))?\)/g)) {
        if (/^[a-z]+:/.test(target)) continue;
        const file = target ? path.join(root, path.dirname(page), target) : path.join(root, page);
        if (!fs.existsSync(file)) broken.push(`link ${target}`);
        else if (hash) {
          const headings = fs
            .readFileSync(file, "utf8")
            .split("\n")
            .filter((l) => /^#{1,6} /.test(l))
            .map((l) => anchor(l.replace(/^#+ /, "")));
          if (!headings.includes(hash)) broken.push(`anchor ${target}#${hash}`);
        }
      }
      // Repository paths named in code spans (`core/kernel/invoker.ts`, `testkit/sshd.ts`).
      for (const [, p = ""] of text.matchAll(/`([\w./-]+)`/g)) {
        if (TOP.test(p) && !p.includes("*") && !fs.existsSync(path.join(root, p))) broken.push(`path ${p}`);
      }
      expect(broken).toEqual([]);
    });
  }
});
