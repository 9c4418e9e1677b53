// The overview: projects, balances, approvals waiting for a person, and the latest agent runs.
import type { PageContext } from "../mount.tsx";
import { Action, can, Field, Layout, Table, usd, when } from "../ui.tsx";

type Project = { slug: string; name: string; kind: string; role: string };

export async function overviewPage({ view, call }: PageContext) {
  const { projects } = await call<{ projects: Project[] }>("list_projects", { limit: 100 });
  const { balances } = await call<{ balances: any[] }>("get_balances").catch(() => ({ balances: [] }));
  const approvals: any[] = [];
  const runs: any[] = [];
  for (const p of projects.slice(0, 20)) {
    const a = await call<{ approvals: any[] }>("list_pending_approvals", { project: p.slug }).catch(() => null);
    for (const x of a?.approvals ?? []) approvals.push({ ...x, project: p.slug });
    const c = await call<{ conversations: any[] }>("list_agent_conversations", { project: p.slug, limit: 5 }).catch(
      () => null,
    );
    for (const x of c?.conversations ?? []) if (x.latest_run) runs.push({ ...x, project: p.slug });
  }
  runs.sort((a, b) => String(b.latest_run.created_at).localeCompare(String(a.latest_run.created_at)));
  return (
    <Layout title="Overview" view={view}>
      <h1>Overview</h1>
      <section aria-labelledby="h-projects">
        <h2 id="h-projects">Projects</h2>
        <Table
          caption="Your projects"
          head={["Project", "Kind", "Your role"]}
          rows={projects.map((p) => [<a href={`/console/p/${p.slug}`}>{p.name}</a>, p.kind, p.role])}
          empty="No projects yet."
        />
        {can(view, "projects:write") ? (
          <details>
            <summary>New project</summary>
            <Action view={view} op="create_project" label="Create project">
              <Field name="name" label="Name" required />
              <Field name="slug" label="Slug (lowercase, used in URLs)" required />
              <Field name="kind" label="Kind" options={["site", "instance"]} />
            </Action>
          </details>
        ) : null}
      </section>
      <section aria-labelledby="h-balances">
        <h2 id="h-balances">Balances</h2>
        <Table
          caption="Balances"
          head={["Pool", "Balance", "Spendable"]}
          rows={balances.map((b) => [b.pool, usd(b.balance), usd(b.spendable)])}
        />
      </section>
      <section aria-labelledby="h-approvals">
        <h2 id="h-approvals">Pending approvals</h2>
        <Table
          caption="Tool calls waiting for a person"
          head={["Project", "Tool", "Input", ""]}
          rows={approvals.map((a) => [
            a.project,
            a.tool,
            <code>{JSON.stringify(a.input).slice(0, 200)}</code>,
            <a href={`/console/p/${a.project}/chat/${a.conversation_id}?run=${a.run_id}`}>Open</a>,
          ])}
          empty="Nothing waits for you."
        />
      </section>
      <section aria-labelledby="h-runs">
        <h2 id="h-runs">Recent agent runs</h2>
        <Table
          caption="Recent runs"
          head={["Project", "Conversation", "Status", "Cost", "Started"]}
          rows={runs
            .slice(0, 10)
            .map((r) => [
              r.project,
              <a href={`/console/p/${r.project}/chat/${r.id}`}>{r.title}</a>,
              r.latest_run.status,
              `$${(r.latest_run.cost_micros / 1e6).toFixed(4)}`,
              when(r.latest_run.created_at),
            ])}
          empty="No agent runs yet."
        />
      </section>
    </Layout>
  );
}
