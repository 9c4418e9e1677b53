// `bosun`: serve, mcp, migrate, token, openapi, eval, sites, call. Output a person reads goes to stderr; what a script
// captures (a token, a document, a JSON result) goes to stdout.
// Each command's module is loaded when it runs: `bosun call` or `bosun mcp` need not load the server, the console
// and the workers runtime, which would cost every call seconds of start-up.
import { Command } from "commander";

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
    .option(
      "--sites-port <port>",
      "port of the sites listener (published sites, previews)",
      process.env.BOSUN_SITES_PORT ?? "8788",
    )
    .action(async (opts) => (await import("./serve.ts")).serveCommand(opts));

  program
    .command("mcp")
    .description("MCP over stdio, acting as BOSUN_TOKEN (relays to BOSUN_URL/mcp when BOSUN_URL is set)")
    .option("--read-only", "only read tools")
    .option("--project <slug>", "pin one project")
    .option(
      "--toolsets <tags>",
      "only these groups, comma-separated (e.g. projects,identity; security is offered only when named)",
    )
    .option("--mode <mode>", "full or compact", "full")
    .option("--output-schema", "tools carry output schemas and every input bound (larger list)")
    .action(async (opts) => (await import("./mcp.ts")).mcpCommand(opts));

  program
    .command("migrate")
    .description("bring the database to the newest schema")
    .action(async () => (await import("./local.ts")).migrateCommand());

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
    .action(async (opts) => (await import("./local.ts")).tokenCreateCommand(opts));

  program
    .command("openapi")
    .description("print the OpenAPI document")
    .option("--version <version>", "3.1 or 3.0", "3.1")
    .action(async (opts) => (await import("./local.ts")).openapiCommand(opts));

  program
    .command("eval")
    .description("run the agent evals (evals/): a real model when configured, else replay of stored transcripts")
    .option("--scenario <glob...>", "only scenarios matching these globs")
    .option("--model <id...>", "models to evaluate: provider:model or a model id (keys from the environment)")
    .option("--replay <names>", "replay each scenario's transcripts of these names instead, e.g. pass,fail")
    .option("--trials <k>", "trials per scenario and model", "1")
    .option("--concurrency <n>", "trials at once (each has its own platform and server)", "2")
    .option("--out <dir>", "where the results go (default evals/results/<timestamp>)")
    .option("--record", "save each live run's transcript next to its scenario (recorded-<model>.json) for replay")
    .option("--compare <runs...>", "compare two runs (result dirs or results.json): bosun eval --compare A B")
    .option("--list", "list the scenarios")
    // Loaded on use: the harness pulls in the runner, the test kit and every scenario.
    .action(async (opts) => (await import("./eval.ts")).evalCommand(opts));

  const sites = program
    .command("sites")
    .description("keep a folder in sync with a site's draft on a running server (BOSUN_URL, BOSUN_TOKEN)");
  type SitesCli = typeof import("./sites.ts");
  const folder = (
    name: string,
    description: string,
    run: keyof Pick<SitesCli, "pushFolder" | "pullFolder" | "deployFolder">,
  ) =>
    sites
      .command(`${name} <dir>`)
      .description(description)
      .requiredOption("-p, --project <slug>", "the site's project")
      .option("--dry-run", "only print the diff (+ added, ~ modified, - deleted)")
      .action(async (dir: string, opts: { project: string; dryRun?: boolean }) => {
        await (await import("./sites.ts"))[run](dir, { project: opts.project, dryRun: opts.dryRun });
      });
  folder(
    "push",
    "send what changed in DIR to the draft, deleting what is gone (.bosunignore is honoured)",
    "pushFolder",
  );
  folder("pull", "fetch what differs from the draft into DIR, deleting local files the draft lacks", "pullFolder");
  folder("deploy", "push DIR, then publish the draft", "deployFolder");

  const workers = program
    .command("workers")
    .description("deploy a worker folder (bosun.json), follow its logs, roll it back (BOSUN_URL, BOSUN_TOKEN)");
  workers
    .command("deploy [dir]")
    .description("bundle DIR (default .) with esbuild from its bosun.json and deploy it")
    .action(async (dir?: string) => {
      await (await import("./workers.ts")).deployWorkerDir(dir ?? ".");
    });
  workers
    .command("tail <worker>")
    .description("follow a worker's invocations, console output and exceptions")
    .requiredOption("-p, --project <slug>", "the worker's project")
    .option("--once", "print what is retained and stop")
    .action(async (worker: string, opts: { project: string; once?: boolean }) => {
      await (await import("./workers.ts")).tailWorker({ worker, ...opts });
    });
  workers
    .command("rollback <worker>")
    .description("switch the worker back to its previous version (or --version)")
    .requiredOption("-p, --project <slug>", "the worker's project")
    .option("--version <id-or-hash>", "the version to go back to")
    .action(async (worker: string, opts: { project: string; version?: string }) => {
      await (await import("./workers.ts")).rollbackWorkerCli({ worker, ...opts });
    });

  program
    .command("call [operation]")
    .description("call an operation on a running server (BOSUN_URL, BOSUN_TOKEN); without one, list them")
    .allowUnknownOption()
    .helpOption(false)
    .argument("[args...]")
    .action(async (operation: string | undefined, args: string[]) =>
      (await import("./call.ts")).callCommand(operation, args),
    );

  await program.parseAsync(argv, { from: "user" });
}
