// The architecture's arrows as tests: surfaces -> core -> schema (docs: ARCHITECTURE "Layout").
// `npm run lint:deps` checks them; CI runs it. There is no baseline of known violations on purpose.
const SURFACES = "(http|console|sites-server|mcp-server|telegram|agent-runner|cli|evals|bench)";
// Surfaces that serve users at run time: they adapt operations and hold no SQL or table knowledge.
const RUNTIME_SURFACES = "(http|console|sites-server|mcp-server|telegram|agent-runner)";
// Test files anywhere may reach around the API to set up and check state.
const TEST = "\\.test\\.ts$";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment:
        "No runtime import cycles (they make load order matter and half-initialised modules). Type-only edges are " +
        "erased at compile time; the context type naming the platform that holds the registry is one by design.",
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } },
    },
    {
      name: "core-imports-no-surface",
      severity: "error",
      comment: "core/ never imports a surface: surfaces adapt core, not the other way round.",
      from: { path: "^core/" },
      to: { path: `^${SURFACES}/` },
    },
    {
      name: "core-imports-no-testkit",
      severity: "error",
      comment: "Only core's own *.test.ts files may use the test kit; shipped core code never does.",
      from: { path: "^core/", pathNot: TEST },
      to: { path: "^testkit/" },
    },
    {
      name: "shipped-code-imports-no-testkit",
      severity: "error",
      comment:
        "The runtime surfaces never ship test helpers (cli, evals and bench may: `bosun eval` runs on the fixtures).",
      from: { path: `^${RUNTIME_SURFACES}/`, pathNot: TEST },
      to: { path: "^testkit/" },
    },
    {
      name: "schema-imports-nothing-of-ours",
      severity: "error",
      comment: "schema/ is the bottom layer (its migration tests may use the test kit's database helpers).",
      from: { path: "^schema/", pathNot: TEST },
      to: { path: "^[^/]+/", pathNot: "^(schema|node_modules)/" },
    },
    {
      name: "no-kysely-in-surfaces",
      severity: "error",
      comment:
        "SQL lives in core/ and schema/: a surface calls operations or core functions, never kysely (the `sql` tag included).",
      from: { path: `^${RUNTIME_SURFACES}/`, pathNot: TEST },
      to: { path: "^node_modules/kysely/" },
    },
    {
      name: "no-schema-in-surfaces",
      severity: "error",
      comment:
        "Runtime surfaces know no tables, not even by type: a type they need is exported by core (type-only imports included).",
      from: { path: `^${RUNTIME_SURFACES}/`, pathNot: TEST },
      to: { path: "^schema/" },
    },
    {
      name: "no-kysely-in-cli",
      severity: "error",
      comment: "The CLI may open and migrate the database through schema/, but queries it through core.",
      from: { path: "^cli/", pathNot: TEST },
      to: { path: "^node_modules/kysely/" },
    },
    // Surfaces are independent adapters of core; each may import another surface only where the layout says so.
    // cli, evals and bench compose everything; test files may wire surfaces together.
    {
      name: "http-imports-only-mounted-surfaces",
      severity: "error",
      comment: "http/ mounts mcp-server/ (/mcp), the console (/console) and the Telegram webhook; no other surface.",
      from: { path: "^http/", pathNot: TEST },
      to: { path: `^${SURFACES}/`, pathNot: "^(http/|console/|mcp-server/|telegram/webhook\\.ts$)" },
    },
    {
      name: "console-imports-only-http-helpers",
      severity: "error",
      comment: "The console is mounted by http/ and shares its request helpers, error mapping and run stream.",
      from: { path: "^console/", pathNot: TEST },
      to: { path: `^${SURFACES}/`, pathNot: "^(console/|http/(request|http-errors|run-stream)\\.ts$)" },
    },
    {
      name: "sites-server-imports-only-mcp-server-and-client-ip",
      severity: "error",
      comment:
        "The sites listener serves its public MCP through mcp-server/ and shares http's client-IP rule (same proxies).",
      from: { path: "^sites-server/", pathNot: TEST },
      to: { path: `^${SURFACES}/`, pathNot: "^(sites-server/|mcp-server/|http/request\\.ts$)" },
    },
    {
      name: "adapters-import-no-other-surface",
      severity: "error",
      comment: "mcp-server/, telegram/ and agent-runner/ import core alone (and themselves).",
      from: { path: "^(mcp-server|telegram|agent-runner)/", pathNot: TEST },
      to: { path: `^${SURFACES}/`, pathNot: "^$1/" },
    },
    {
      name: "no-test-files-in-shipped-code",
      severity: "error",
      comment: "Shipped code never imports a *.test.ts file; shared test helpers belong in testkit/.",
      from: { pathNot: TEST },
      to: { path: TEST },
    },
    {
      name: "not-to-unresolvable",
      severity: "error",
      comment: "An import that resolves to nothing is a typo or a missing package.",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    // node_modules may be a symlink to a shared install; keep its paths as node_modules/… so the rules match.
    preserveSymlinks: true,
    exclude: { path: "^(\\.bosun|coverage|evals/results)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".tsx", ".js", ".mjs", ".cjs", ".json", ".d.ts"],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
