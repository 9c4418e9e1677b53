// What a form shows after its operation succeeded. Most changes reload the page (it re-reads everything through
// operations); a few answers are for a person to see once (a new token, a preview link, a command's output), and
// a new conversation or message opens the chat on its run.
import type { Child } from "hono/jsx";

export interface Answer {
  body?: Child;
  location?: string;
}

const chatUrl = (project: string, conversation: string, run: string) =>
  `/console/p/${encodeURIComponent(project)}/chat/${encodeURIComponent(conversation)}?run=${encodeURIComponent(run)}`;

export function answerFor(op: string, input: Record<string, unknown>, output: any, then: string): Answer {
  const project = String(input.project ?? "");
  switch (op) {
    case "create_api_token":
      return {
        body: (
          <div class="secret">
            <p>
              <strong>Copy this token now — it is shown only once.</strong>
            </p>
            <label>
              New token
              <input type="text" readonly value={output.token} class="mono" data-token />
            </label>
          </div>
        ),
      };
    case "create_preview_link":
      return {
        body: (
          <p>
            Preview (expires {String(output.expires_at ?? "").slice(0, 16)}):{" "}
            <a href={output.url} target="_blank" rel="noopener" data-preview>
              {output.url}
            </a>
          </p>
        ),
      };
    case "run_command":
      return {
        body: (
          <div class="output">
            <p>
              exit code <strong>{String(output.exit_code)}</strong>
              {output.timed_out ? " (timed out)" : ""}
            </p>
            <pre class="mono" data-stdout>
              {output.stdout}
            </pre>
            {output.stderr ? <pre class="mono stderr">{output.stderr}</pre> : null}
          </div>
        ),
      };
    case "delete_file":
      return { location: `/console/p/${encodeURIComponent(project)}` };
    case "approve_tool_call":
    case "deny_tool_call":
      return { body: <p>{op === "approve_tool_call" ? "Approved." : "Denied."}</p> };
    case "create_project":
      return { location: `/console/p/${encodeURIComponent(output.slug)}` };
    case "start_agent_chat":
      return { location: chatUrl(project, output.conversation.id, output.run_id) };
    case "send_agent_message":
      return { location: chatUrl(project, String(input.conversation_id), output.run_id) };
    case "publish_site":
      return then === "show" ? { body: <p>Published release {String(output.release?.id ?? output.id ?? "")}.</p> } : {};
    case "grant_credit":
      return { body: <p>Granted. Balance after: ${output.balance_after?.dollars}</p> };
    default:
      return then === "show" ? { body: <pre class="mono">{JSON.stringify(output, null, 2)}</pre> } : {};
  }
}
