// npm run docs: writes the generated pages of docs/ (see scripts/docs.ts).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { generatedDocs } from "./docs.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
for (const [file, content] of Object.entries(generatedDocs())) {
  fs.writeFileSync(path.join(root, file), content);
  console.log(`wrote ${file}`);
}
