// An instance: status, a metrics chart, run a command, browse and edit files, follow a log.
import type { PageContext } from "../mount.tsx";
import { Action, can, ErrorBox, Field, Layout, Table, when } from "../ui.tsx";
import { ProjectHeader } from "./site.tsx";

const join = (dir: string, name: string) => (dir.endsWith("/") ? `${dir}${name}` : `${dir}/${name}`);
const parent = (dir: string) => (dir.includes("/") ? dir.replace(/\/[^/]*\/?$/, "") || "/" : "~");

async function instancePage({ view, call, c }: PageContext) {
  const slug = c.req.param("project") as string;
  const name = c.req.param("instance") as string;
  const project = await call("get_project", { project: slug });
  const inst = await call("get_instance", { project: slug, instance: name });
  const dir = c.req.query("dir") ?? "~";
  const filePath = c.req.query("file");
  const base = `/console/p/${slug}/i/${name}`;
  const ref = { project: slug, instance: name };
  const listing = await call("list_remote_directory", { ...ref, path: dir }).catch((e: Error) => e);
  const file = filePath ? await call("read_remote_file", { ...ref, path: filePath }).catch((e: Error) => e) : null;
  const exec = can(view, "instances:exec", project.role);
  return (
    <Layout title={`${name} · ${project.name}`} view={view} wide>
      <ProjectHeader project={project} current="" />
      <h1>{name}</h1>
      <div class="cols">
        <section aria-labelledby="h-status">
          <h2 id="h-status">Status</h2>
          <dl class="facts">
            <dt>Host</dt>
            <dd>
              {inst.username}@{inst.host}:{inst.port}
            </dd>
            <dt>Connection</dt>
            <dd>{inst.connection?.state}</dd>
            <dt>Last connected</dt>
            <dd>{when(inst.connection?.last_connected_at)}</dd>
            <dt>Host key</dt>
            <dd>
              <code>{inst.host_key_fingerprint ?? "not pinned yet"}</code>
            </dd>
          </dl>
          <p>
            <a href={`/console/p/${slug}/chat`}>Chat with this instance's agent</a>
          </p>
        </section>
        <section aria-labelledby="h-metrics">
          <h2 id="h-metrics">Metrics</h2>
          <div
            class="chart"
            data-metrics={`${base}/metrics.json`}
            role="img"
            aria-label="CPU, memory and disk use over the last hour"
          >
            <p class="muted">Loading…</p>
          </div>
        </section>
      </div>
      {exec ? (
        <section aria-labelledby="h-run">
          <h2 id="h-run">Run a command</h2>
          <Action view={view} op="run_command" label="Run" then="show" hidden={ref}>
            <Field name="command" label="Command" required placeholder="uptime" />
          </Action>
        </section>
      ) : null}
      <section aria-labelledby="h-files">
        <h2 id="h-files">Files</h2>
        <p>
          <code>{dir}</code>{" "}
          {dir !== "~" && dir !== "/" ? <a href={`${base}?dir=${encodeURIComponent(parent(dir))}`}>(up)</a> : null}
        </p>
        {listing instanceof Error ? (
          <ErrorBox message={listing.message} />
        ) : (
          <Table
            caption={`Directory ${listing.path}`}
            head={["Name", "Type", "Size", "Modified"]}
            rows={listing.entries.map((e: any) => [
              e.type === "directory" ? (
                <a href={`${base}?dir=${encodeURIComponent(join(dir, e.name))}`}>{e.name}/</a>
              ) : (
                <a href={`${base}?dir=${encodeURIComponent(dir)}&file=${encodeURIComponent(join(dir, e.name))}`}>
                  {e.name}
                </a>
              ),
              e.type,
              String(e.size),
              when(e.modified_at),
            ])}
            empty="Empty directory."
          />
        )}
        {file instanceof Error ? <ErrorBox message={file.message} /> : null}
        {file && !(file instanceof Error) ? (
          <div>
            <h3>
              <code>{file.path}</code>
            </h3>
            {file.binary ? (
              <p class="muted">A binary file.</p>
            ) : exec && !file.truncated ? (
              <Action view={view} op="write_remote_file" label="Save file" hidden={{ ...ref, path: file.path }}>
                <Field name="content" label="Content" type="textarea" rows={16} mono value={file.content ?? ""} />
              </Action>
            ) : (
              <pre class="mono">{file.content}</pre>
            )}
          </div>
        ) : null}
      </section>
      <section aria-labelledby="h-log">
        <h2 id="h-log">Follow a log</h2>
        <form method="get" action={`${base}/log`} hx-get={`${base}/log`} hx-target="#log" class="row">
          <Field name="path" label="Log file" placeholder="/var/log/syslog" />
          <Field name="unit" label="or systemd unit" placeholder="nginx" />
          <button type="submit">Follow</button>
        </form>
        <div id="log" aria-live="off"></div>
      </section>
    </Layout>
  );
}

/** The log's last lines; the fragment asks htmx to fetch it again every 5 seconds while it is on the page. */
async function logFragment({ call, c }: PageContext) {
  const slug = c.req.param("project") as string;
  const name = c.req.param("instance") as string;
  const path = c.req.query("path") || undefined;
  const unit = c.req.query("unit") || undefined;
  const qs = new URLSearchParams({ ...(path ? { path } : {}), ...(unit ? { unit } : {}) }).toString();
  try {
    const log = await call("tail_log", { project: slug, instance: name, path, unit, lines: 100 });
    return (
      <div hx-get={`/console/p/${slug}/i/${name}/log?${qs}`} hx-trigger="every 5s" hx-swap="outerHTML">
        <p class="muted">{log.source} — refreshed every 5 seconds</p>
        <pre class="mono log">{log.lines.join("\n")}</pre>
      </div>
    );
  } catch (err) {
    return <ErrorBox message={(err as Error).message} />;
  }
}

async function metricsJson({ call, c }: PageContext) {
  const slug = c.req.param("project") as string;
  const name = c.req.param("instance") as string;
  try {
    const m = await call("get_instance_metrics", { project: slug, instance: name, period: "1h", live: true });
    return c.json(m);
  } catch (err) {
    return c.json({ error: { message: (err as Error).message } }, 400);
  }
}

export const instancePages = {
  "/console/p/:project/i/:instance": instancePage,
  "/console/p/:project/i/:instance/log": logFragment,
  "/console/p/:project/i/:instance/metrics.json": metricsJson,
};
