// Commands that act on the local database directly: migrate, token create (operator bootstrap), openapi.
import { ensureOwner, operatorPrincipal, ownerAccount } from "../core/identity/bootstrap.ts";
import { mintToken } from "../core/identity/tokens.ts";
import { OperationRegistry } from "../core/kernel/registry.ts";
import { tokenPresets } from "../core/kernel/scopes.ts";
import { createPlatform } from "../core/platform.ts";
import { openApiDocument } from "../http/document.ts";

export async function migrateCommand() {
  const platform = await createPlatform({
    onMigration: (name, i, total) => process.stderr.write(`migrating ${i}/${total}: ${name}\n`),
  });
  process.stderr.write("the database schema is up to date\n");
  await platform.close();
}

export async function tokenCreateCommand(opts: {
  name: string;
  scopes?: string;
  preset?: string;
  project?: string;
  expiresInDays?: string;
}) {
  const list = (s?: string) =>
    s
      ? s
          .split(",")
          .map((x) => x.trim())
          .filter(Boolean)
      : [];
  if (opts.preset && !tokenPresets[opts.preset])
    throw new Error(`--preset must be one of ${Object.keys(tokenPresets).join(", ")}`);
  const scopes = [...(opts.preset ? tokenPresets[opts.preset]! : []), ...list(opts.scopes)];
  if (!scopes.length) throw new Error("give --scopes or --preset");
  const days = opts.expiresInDays ? Number(opts.expiresInDays) : null;
  if (days !== null && (!Number.isInteger(days) || days < 1))
    throw new Error("--expires-in-days must be a whole number of days");

  const platform = await createPlatform();
  try {
    const created = await ensureOwner(platform);
    if (created) process.stderr.write(`created the owner account ${created.email} (password: ${created.password})\n`);
    const owner = await ownerAccount(platform);
    const token = await mintToken(platform.db, operatorPrincipal(owner.id, owner.email), {
      name: opts.name,
      scopes,
      projects: list(opts.project),
      expiresInDays: days,
    });
    process.stdout.write(`${token.token}\n`);
  } finally {
    await platform.close();
  }
}

export async function openapiCommand(opts: { version: string }) {
  const version = opts.version === "3.0" || opts.version === "3.0.3" ? "3.0" : "3.1";
  const doc = openApiDocument(
    OperationRegistry.default().operations,
    version,
    process.env.BOSUN_URL ?? "http://localhost:8787",
  );
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
}
