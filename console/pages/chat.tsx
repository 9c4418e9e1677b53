// Agent chat: start or continue a conversation for a site or an instance. The reply streams in from the run's
// event stream (console.js follows /console/p/{project}/runs/{run}/stream), tool calls show as they happen,
// approvals are decided inline, and each run shows its tokens and cost.
import type { Child } from "hono/jsx";
import type { PageContext } from "../mount.tsx";
import { Action, can, ErrorBox, Field, Layout, Table, type View, when } from "../ui.tsx";
import { ProjectHeader } from "./site.tsx";

const FINISHED = new Set(["done", "failed", "cancelled"]);

async function chatList({ view, call, c }: PageContext) {
  const slug = c.req.param("project") as string;
  const project = await call("get_project", { project: slug });
  const { conversations } = await call<{ conversations: any[] }>("list_agent_conversations", {
    project: slug,
    limit: 50,
  });
  const instances =
    project.kind === "instance"
      ? (await call<{ instances: any[] }>("list_instances", { project: slug, limit: 100 })).instances
      : [];
  return (
    <Layout title={`Agent chat · ${project.name}`} view={view}>
      <ProjectHeader project={project} current={`/console/p/${slug}/chat`} />
      <h1>Agent chat</h1>
      {can(view, "agent:write", project.role) ? (
        <section aria-labelledby="h-new">
          <h2 id="h-new">New conversation</h2>
          <Action view={view} op="start_agent_chat" label="Start" hidden={{ project: slug }}>
            {project.kind === "instance" ? (
              <Field name="instance" label="Instance" options={instances.map((i) => i.name)} required />
            ) : null}
            <Field name="message" label="What should the agent do?" type="textarea" rows={4} required />
            <Field
              name="mode"
              label="Approvals"
              options={[
                ["ask", "Ask me before changes"],
                ["read_only", "Read only"],
                ["auto", "Automatic (no approvals)"],
              ]}
            />
          </Action>
        </section>
      ) : null}
      <section aria-labelledby="h-convs">
        <h2 id="h-convs">Conversations</h2>
        <Table
          caption="Conversations, newest first"
          head={["Conversation", "Instance", "Latest run", "Cost", "Updated"]}
          rows={conversations.map((cv) => [
            <a href={`/console/p/${slug}/chat/${cv.id}`}>{cv.title}</a>,
            cv.instance ?? "",
            cv.latest_run?.status ?? "",
            cv.latest_run ? `$${(cv.latest_run.cost_micros / 1e6).toFixed(4)}` : "",
            when(cv.updated_at),
          ])}
          empty="No conversations yet."
        />
      </section>
    </Layout>
  );
}

/** A command's result reads as its output, not as the JSON the model is given. */
function readable(text: string): string {
  if (!text.startsWith('{"exit_code"')) return text;
  try {
    const r = JSON.parse(text) as { exit_code: number | null; stdout: string; stderr: string; timed_out?: boolean };
    const head = `exit ${r.exit_code}${r.timed_out ? " (timed out)" : ""}`;
    return [head, r.stdout, r.stderr ? `stderr:\n${r.stderr}` : ""].filter(Boolean).join("\n");
  } catch {
    return text;
  }
}

function toolOutput(content: unknown): string {
  if (typeof content === "string") return readable(content);
  if (Array.isArray(content))
    return readable(content.map((b) => (b && typeof b === "object" && "text" in b ? String(b.text) : "")).join("\n"));
  return JSON.stringify(content);
}

function Block(p: { block: Record<string, unknown> }): Child {
  const b = p.block;
  if (b.type === "text") return <p class="text">{String(b.text)}</p>;
  if (b.type === "tool_use")
    return (
      <p class="tool">
        <span class="badge">tool</span> <code>{String(b.name)}</code> <code>{JSON.stringify(b.input)}</code>
      </p>
    );
  if (b.type === "tool_result")
    return (
      <details class={`result-block ${b.is_error ? "is-error" : ""}`} open>
        <summary>{b.is_error ? "Tool error" : "Tool output"}</summary>
        <pre class="mono">{toolOutput(b.content)}</pre>
      </details>
    );
  if (b.hidden) return <p class="muted">(hidden: {JSON.stringify(b.hidden)})</p>;
  return null;
}

/** The transcript, runs and approvals: the part console.js reloads as a run goes on. */
export function Transcript(p: { view: View; slug: string; role: string; data: any }) {
  const { data, view, slug } = p;
  const pending = data.approvals.filter((a: any) => a.status === "pending");
  const decide = can(view, "agent:write", p.role);
  return (
    <div id="transcript">
      <ol class="messages" aria-label="Transcript">
        {data.messages.map((m: any) => (
          <li class={`msg ${m.role}`}>
            <span class="who">
              {m.role === "assistant"
                ? "Agent"
                : m.content.every((b: any) => b.type === "tool_result")
                  ? "Tool results"
                  : "You"}
            </span>
            {m.content.map((b: any) => (
              <Block block={b} />
            ))}
          </li>
        ))}
      </ol>
      {pending.length ? (
        <section aria-labelledby="h-approvals" class="approvals">
          <h2 id="h-approvals">Waiting for your approval</h2>
          {pending.map((a: any) => (
            <div class="approval" data-approval={a.id}>
              <p>
                <code>{a.tool}</code> <code>{JSON.stringify(a.input)}</code>
              </p>
              <p class="muted">{a.reason}</p>
              {decide ? (
                <div class="row">
                  <Action
                    view={view}
                    op="approve_tool_call"
                    label="Approve"
                    hidden={{ project: slug, approval_id: a.id }}
                    then="show"
                  />
                  <Action
                    view={view}
                    op="deny_tool_call"
                    label="Deny"
                    danger
                    hidden={{ project: slug, approval_id: a.id }}
                    then="show"
                  />
                </div>
              ) : null}
            </div>
          ))}
        </section>
      ) : null}
      <Table
        caption="Runs: tokens and cost"
        head={["Run", "Status", "Steps", "Input tokens", "Output tokens", "Cost"]}
        rows={data.runs.map((r: any) => [
          when(r.created_at),
          r.error ? `${r.status}: ${r.error.message}` : r.status,
          String(r.steps),
          String(r.input_tokens),
          String(r.output_tokens),
          `$${(r.cost_micros / 1e6).toFixed(6)}`,
        ])}
      />
    </div>
  );
}

async function conversationPage({ view, call, c }: PageContext) {
  const slug = c.req.param("project") as string;
  const id = c.req.param("id") as string;
  const project = await call("get_project", { project: slug });
  const data = await call("get_agent_conversation", { project: slug, conversation_id: id });
  const latest = data.runs.at(-1);
  const follow = c.req.query("run") ?? (latest && !FINISHED.has(latest.status) ? latest.id : undefined);
  const active = latest && !FINISHED.has(latest.status);
  return (
    <Layout title={data.conversation.title} view={view} wide>
      <ProjectHeader project={project} current="" />
      <h1>{data.conversation.title}</h1>
      <p class="muted">
        {data.conversation.kind === "instance_operator" ? `Instance ${data.conversation.instance}` : "Site editor"} ·
        mode {data.conversation.mode}
      </p>
      <Transcript view={view} slug={slug} role={project.role} data={data} />
      {follow ? (
        <section
          aria-labelledby="h-live"
          class="live"
          data-run-stream={`/console/p/${slug}/runs/${follow}/stream`}
          data-transcript={`/console/p/${slug}/chat/${id}/transcript`}
          data-project={slug}
        >
          <h2 id="h-live">Live</h2>
          <ol class="events" aria-live="polite" aria-label="Run events"></ol>
          <noscript>
            <p>Reload the page to see the run's progress.</p>
          </noscript>
        </section>
      ) : null}
      {can(view, "agent:write", project.role) ? (
        active ? (
          <Action
            view={view}
            op="cancel_agent_run"
            label="Stop the run"
            danger
            hidden={{ project: slug, conversation_id: id }}
          />
        ) : (
          <Action view={view} op="send_agent_message" label="Send" hidden={{ project: slug, conversation_id: id }}>
            <Field name="message" label="Message" type="textarea" rows={3} required />
          </Action>
        )
      ) : null}
    </Layout>
  );
}

async function transcriptFragment({ view, call, c }: PageContext) {
  const slug = c.req.param("project") as string;
  const id = c.req.param("id") as string;
  try {
    const project = await call("get_project", { project: slug });
    const data = await call("get_agent_conversation", { project: slug, conversation_id: id });
    return <Transcript view={view} slug={slug} role={project.role} data={data} />;
  } catch (err) {
    return <ErrorBox message={(err as Error).message} />;
  }
}

export const chatPages = {
  "/console/p/:project/chat": chatList,
  "/console/p/:project/chat/:id": conversationPage,
  "/console/p/:project/chat/:id/transcript": transcriptFragment,
};
