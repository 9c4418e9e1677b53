// `bosun`: serve, mcp, migrate, token, openapi, call. Output a person reads goes to stderr; what a script
// captures (a token, a document, a JSON result) goes to stdout.
import { Command } from "commander";
import { callCommand } from "./call.ts";
import { mcpCommand } from "./mcp.ts";
import { migrateCommand, openapiCommand, tokenCreateCommand } from "./local.ts";
import { serveCommand } from "./serve.ts";

export async function main(argv: string[]): Promise<void> {
  const program = new Command("bosun")
    .description("Bosun: the agent-first control plane for hosting platforms")
    .showHelpAfterError()
    .exitOverride((err) => process.exit(err.exitCode));

  program
    .command("serve")
    .description("start the API, the MCP endpoint and the workers (migrates first)")
    .option("-p, --port <port>", "port", process.env.BOSUN_PORT ?? "8787")
    .option("--host <host>", "address to bind", process.env.BOSUN_HOST ?? "127.0.0.1")
    .action(serveCommand);

  program
    .command("mcp")
    .description("MCP over stdio, acting as BOSUN_TOKEN (relays to BOSUN_URL/mcp when BOSUN_URL is set)")
    .option("--read-only", "only read tools")
    .option("--project <slug>", "pin one project")
    .option("--toolsets <tags>", "only these groups, comma-separated (e.g. projects,identity)")
    .option("--mode <mode>", "full or compact", "full")
    .action(mcpCommand);

  program.command("migrate").description("bring the database to the newest schema").action(migrateCommand);

  program
    .command("token")
    .description("operator bootstrap on the local database (no server may hold it)")
    .command("create")
    .description("mint a token for the owner account; prints only the secret")
    .requiredOption("--name <name>", "token name")
    .option("--scopes <scopes>", "comma-separated scopes (see list_scopes)")
    .option("--preset <preset>", "viewer, editor, agent or full")
    .option("--project <slugs>", "restrict to these projects, comma-separated")
    .option("--expires-in-days <days>", "expiry in days")
    .action(tokenCreateCommand);

  program
    .command("openapi")
    .description("print the OpenAPI document")
    .option("--version <version>", "3.1 or 3.0", "3.1")
    .action(openapiCommand);

  program
    .command("call [operation]")
    .description("call an operation on a running server (BOSUN_URL, BOSUN_TOKEN); without one, list them")
    .allowUnknownOption()
    .helpOption(false)
    .argument("[args...]")
    .action((operation: string | undefined, args: string[]) => callCommand(operation, args));

  await program.parseAsync(argv, { from: "user" });
}
