// A project's page: for a site, its draft files (tree and editor), pages, preview, publish, releases and
// rollback, forms and submissions, and settings; an instance project lists its instances.
import type { Child } from "hono/jsx";
import type { PageContext } from "../mount.tsx";
import { Action, can, Field, Layout, Table, when } from "../ui.tsx";

type Project = { slug: string; name: string; kind: "site" | "instance"; role: string };
type FileEntry = { path: string; bytes: number; content_type: string };

/** Draft paths as nested lists, folders first, so the tree reads like a file browser (and by keyboard). */
function Tree(p: { files: FileEntry[]; project: string }) {
  type Node = { dirs: Map<string, Node>; files: FileEntry[] };
  const root: Node = { dirs: new Map(), files: [] };
  for (const f of p.files) {
    const parts = f.path.split("/");
    let node = root;
    for (const dir of parts.slice(0, -1)) {
      if (!node.dirs.has(dir)) node.dirs.set(dir, { dirs: new Map(), files: [] });
      node = node.dirs.get(dir) as Node;
    }
    node.files.push(f);
  }
  const render = (node: Node): Child => (
    <ul>
      {[...node.dirs].map(([name, sub]) => (
        <li>
          <details open>
            <summary>{name}/</summary>
            {render(sub)}
          </details>
        </li>
      ))}
      {node.files.map((f) => (
        <li>
          <a href={`/console/p/${p.project}/file?path=${encodeURIComponent(f.path)}`}>{f.path.split("/").pop()}</a>{" "}
          <span class="muted">{f.bytes} B</span>
        </li>
      ))}
    </ul>
  );
  return (
    <nav aria-label="Draft files" class="tree">
      {render(root)}
    </nav>
  );
}

/** The settings a person sets here: the view's derived fields (password_protected) and business data are not. */
function editableSettings(draft: Record<string, unknown>) {
  const { password_protected: _p, business: _b, ...rest } = draft;
  return rest;
}

export function ProjectHeader(p: { project: Project; current: string }) {
  const base = `/console/p/${p.project.slug}`;
  const links: [string, string][] = [
    [base, p.project.kind === "site" ? "Site" : "Instances"],
    [`${base}/chat`, "Agent chat"],
  ];
  return (
    <>
      <p class="crumbs">
        <a href="/console">Overview</a> › {p.project.name}{" "}
        <span class="muted">
          ({p.project.kind}, {p.project.role})
        </span>
      </p>
      <nav aria-label="Project" class="tabs">
        <ul>
          {links.map(([href, text]) => (
            <li>
              <a href={href} aria-current={p.current === href ? "page" : undefined}>
                {text}
              </a>
            </li>
          ))}
        </ul>
      </nav>
    </>
  );
}

async function projectPage(ctx: PageContext) {
  const { view, call, c } = ctx;
  const slug = c.req.param("project") as string;
  const project = await call<Project>("get_project", { project: slug });
  if (project.kind === "instance") return instanceList(ctx, project);
  const role = project.role;
  const [files, pages, releases, forms, settings] = await Promise.all([
    call<{ files: FileEntry[]; count: number; total_bytes: number }>("list_files", { project: slug }),
    call<{ pages: any[] }>("list_pages", { project: slug }),
    call<{ releases: any[]; live_release: number | null }>("list_releases", { project: slug, limit: 20 }).catch(
      () => null,
    ),
    call<{ forms: any[] }>("list_forms", { project: slug }).catch(() => ({ forms: [] })),
    call<{ draft: Record<string, unknown>; live_release: number | null }>("get_site_settings", {
      project: slug,
    }).catch(() => null),
  ]);
  const submissions = forms.forms.length
    ? await call<{ submissions: any[] }>("list_submissions", { project: slug, limit: 20 }).catch(() => null)
    : null;
  const w = (scope: string) => can(view, scope, role);
  return (
    <Layout title={project.name} view={view} wide>
      <ProjectHeader project={project} current={`/console/p/${slug}`} />
      <h1>{project.name}</h1>
      <div class="cols">
        <section aria-labelledby="h-files">
          <h2 id="h-files">Draft files</h2>
          <p class="muted">
            {files.count} files, {files.total_bytes} bytes
          </p>
          <Tree files={files.files} project={slug} />
          {w("files:write") ? (
            <details>
              <summary>New file</summary>
              <Action view={view} op="write_file" label="Create file" hidden={{ project: slug }}>
                <Field name="path" label="Path" placeholder="css/site.css" required />
                <Field name="content" label="Content" type="textarea" rows={6} mono />
              </Action>
            </details>
          ) : null}
        </section>
        <section aria-labelledby="h-publish">
          <h2 id="h-publish">Preview and publish</h2>
          <Action
            view={view}
            op="create_preview_link"
            label="Preview the draft"
            then="show"
            hidden={{ project: slug }}
          />
          {w("publish:trigger") ? (
            <Action view={view} op="publish_site" label="Publish" hidden={{ project: slug }} />
          ) : null}
          <h3>Releases</h3>
          <Table
            caption="Releases, newest first"
            head={["Release", "Files", "Published", ""]}
            rows={(releases?.releases ?? []).map((r) => [
              r.live ? <strong>#{r.release} (live)</strong> : `#${r.release}`,
              String(r.files),
              when(r.published_at),
              !r.live && w("publish:trigger") ? (
                <Action
                  view={view}
                  op="rollback_site"
                  label={`Roll back to #${r.release}`}
                  hidden={{ project: slug, release: String(r.release) }}
                  confirm={`Make release #${r.release} live again?`}
                />
              ) : (
                ""
              ),
            ])}
            empty="Not published yet."
          />
        </section>
      </div>
      <section aria-labelledby="h-pages">
        <h2 id="h-pages">Pages</h2>
        <Table
          caption="Pages in the draft"
          head={["Page", "Title", "Path"]}
          rows={pages.pages.map((p) => [
            p.slug,
            p.title ?? "",
            <a href={`/console/p/${slug}/file?path=${encodeURIComponent(p.path)}`}>{p.path}</a>,
          ])}
          empty="No pages yet."
        />
        {w("pages:write") ? (
          <details>
            <summary>New page</summary>
            <Action view={view} op="create_page" label="Create page" hidden={{ project: slug }}>
              <Field name="slug" label="Slug" placeholder="about" required />
              <Field name="title" label="Title" required />
              <Field name="content" label="Content (HTML)" type="textarea" rows={6} mono />
            </Action>
          </details>
        ) : null}
      </section>
      <section aria-labelledby="h-forms">
        <h2 id="h-forms">Forms and submissions</h2>
        <Table
          caption="Forms"
          head={["Form", "Title", "Fields"]}
          rows={forms.forms.map((f) => [f.id, f.title ?? "", String(f.fields?.length ?? 0)])}
          empty="No forms declared (add them in the settings)."
        />
        {submissions ? (
          <Table
            caption="Latest submissions"
            head={["Form", "Received", "Status", "Data", ""]}
            rows={submissions.submissions.map((s) => [
              s.form_id,
              when(s.created_at),
              s.status,
              <code>{JSON.stringify(s.data).slice(0, 300)}</code>,
              w("submissions:write") && s.status !== "archived" ? (
                <Action
                  view={view}
                  op="update_submission"
                  label={s.status === "new" ? "Mark read" : "Archive"}
                  ariaLabel={`${s.status === "new" ? "Mark read" : "Archive"}: submission of ${when(s.created_at)}`}
                  hidden={{ project: slug, id: s.id, status: s.status === "new" ? "read" : "archived" }}
                />
              ) : (
                ""
              ),
            ])}
            empty="No submissions yet."
          />
        ) : null}
      </section>
      <section aria-labelledby="h-settings">
        <h2 id="h-settings">Settings</h2>
        {settings ? (
          <p class="muted">
            Password protection: {settings.draft.password_protected ? "on" : "off"}. Business data (menu, services, FAQ,
            hours) is edited with update_business_data.
          </p>
        ) : null}
        {settings ? (
          w("settings:write") ? (
            <Action view={view} op="update_site_settings" label="Save settings" hidden={{ project: slug }}>
              <Field
                name="settings"
                label="Settings (JSON; they go live with the next publish)"
                type="textarea"
                mono
                value={JSON.stringify(editableSettings(settings.draft), null, 2)}
              />
            </Action>
          ) : (
            <pre class="mono">{JSON.stringify(editableSettings(settings.draft), null, 2)}</pre>
          )
        ) : (
          <p class="muted">You cannot read this site's settings.</p>
        )}
      </section>
    </Layout>
  );
}

async function instanceList({ view, call }: PageContext, project: Project) {
  const { instances } = await call<{ instances: any[] }>("list_instances", { project: project.slug, limit: 100 });
  return (
    <Layout title={project.name} view={view}>
      <ProjectHeader project={project} current={`/console/p/${project.slug}`} />
      <h1>{project.name}</h1>
      <Table
        caption="Instances"
        head={["Instance", "Host", "Connection"]}
        rows={instances.map((i) => [
          <a href={`/console/p/${project.slug}/i/${i.name}`}>{i.name}</a>,
          `${i.username}@${i.host}:${i.port}`,
          i.connection?.state ?? "",
        ])}
        empty="No instances yet."
      />
      {can(view, "instances:write", project.role) ? (
        <details>
          <summary>Register an instance</summary>
          <Action view={view} op="register_instance" label="Register" hidden={{ project: project.slug }}>
            <Field name="name" label="Name" required />
            <Field name="host" label="Host" required />
            <Field name="port" label="SSH port" type="number" value="22" />
            <Field name="username" label="User" required />
            <Field name="private_key" label="Private key (empty: Bosun generates one)" type="textarea" rows={4} mono />
          </Action>
        </details>
      ) : null}
    </Layout>
  );
}

async function filePage({ view, call, c }: PageContext) {
  const slug = c.req.param("project") as string;
  const path = c.req.query("path") ?? "";
  const project = await call<Project>("get_project", { project: slug });
  const file = await call<{ path: string; content: string; encoding: string; bytes: number }>("read_file", {
    project: slug,
    path,
  });
  const writable = can(view, "files:write", project.role);
  return (
    <Layout title={path} view={view} wide>
      <ProjectHeader project={project} current="" />
      <h1>
        <code>{file.path}</code>
      </h1>
      {file.encoding !== "utf8" ? (
        <p class="muted">A binary file ({file.bytes} bytes).</p>
      ) : writable ? (
        <Action view={view} op="write_file" label="Save" hidden={{ project: slug, path: file.path }}>
          <Field name="content" label="Content" type="textarea" rows={24} mono value={file.content} />
        </Action>
      ) : (
        <pre class="mono">{file.content}</pre>
      )}
      {writable ? (
        <Action
          view={view}
          op="delete_file"
          label="Delete file"
          danger
          confirm={`Delete ${file.path} from the draft?`}
          hidden={{ project: slug, path: file.path }}
        />
      ) : null}
      <p>
        <a href={`/console/p/${slug}`}>Back to the site</a>
      </p>
    </Layout>
  );
}

export const sitePages = {
  "/console/p/:project": projectPage,
  "/console/p/:project/file": filePage,
};
