// Account-level pages: billing (balances, a usage chart, transactions, spend limits), API tokens, the audit log,
// and for the operator: accounts and credit grants.
import type { PageContext } from "../mount.tsx";
import { Action, can, Field, Layout, Table, usd, when } from "../ui.tsx";

async function billingPage({ view, call }: PageContext) {
  const [{ balances }, usage, tx, { limits }] = await Promise.all([
    call("get_balances"),
    call("get_usage"),
    call("list_transactions", { limit: 200 }),
    call("get_spend_limits"),
  ]);
  // Daily spend from the debits, for the chart (newest 200 transactions).
  const byDay = new Map<string, number>();
  for (const t of tx.transactions as any[])
    if (t.type === "debit") {
      const day = String(t.created_at).slice(0, 10);
      byDay.set(day, (byDay.get(day) ?? 0) + t.amount.micros);
    }
  const series = [...byDay].sort(([a], [b]) => a.localeCompare(b));
  const writable = can(view, "billing:write");
  return (
    <Layout title="Billing" view={view} wide>
      <h1>Billing</h1>
      <section aria-labelledby="h-bal">
        <h2 id="h-bal">Balances</h2>
        <Table
          caption="Balances by pool"
          head={["Pool", "Balance", "Held", "Spendable"]}
          rows={balances.map((b: any) => [b.pool, usd(b.balance), usd(b.held), usd(b.spendable)])}
        />
        <p>
          This month ({usage.period}): {usd(usage.total)} · last 24 h {usd(usage.burn_rate.last_24h)}
        </p>
      </section>
      <section aria-labelledby="h-usage">
        <h2 id="h-usage">Usage over time</h2>
        <div
          class="chart"
          data-series={JSON.stringify({
            label: "Spend per day (USD)",
            days: series.map(([d]) => d),
            values: series.map(([, v]) => v / 1e6),
          })}
          role="img"
          aria-label="Spend per day"
        >
          {series.length ? null : <p class="muted">No spend yet.</p>}
        </div>
      </section>
      <section aria-labelledby="h-limits">
        <h2 id="h-limits">Spend limits</h2>
        <Table
          caption="Monthly limits"
          head={["Pool", "Low-balance alert", "Soft cap", "Hard cap"]}
          rows={limits.map((l: any) => [l.pool, usd(l.low_balance_alert), usd(l.soft_cap), usd(l.hard_cap)])}
        />
        {writable ? (
          <details>
            <summary>Change limits</summary>
            <Action view={view} op="update_spend_limits" label="Save limits">
              <Field name="pool" label="Pool" options={["ai_credits", "wallet"]} />
              <Field name="low_balance_alert" label="Low-balance alert (micro-dollars)" type="number" />
              <Field name="soft_cap" label="Soft cap (micro-dollars)" type="number" />
              <Field name="hard_cap" label="Hard cap (micro-dollars)" type="number" />
            </Action>
          </details>
        ) : null}
      </section>
      <section aria-labelledby="h-tx">
        <h2 id="h-tx">Transactions</h2>
        <Table
          caption="Latest transactions"
          head={["When", "Pool", "Type", "Amount", "Balance after", "Reason"]}
          rows={(tx.transactions as any[])
            .slice(0, 50)
            .map((t) => [when(t.created_at), t.pool, t.type, usd(t.amount), usd(t.balance_after), t.reason])}
          empty="No transactions yet."
        />
      </section>
    </Layout>
  );
}

async function tokensPage({ view, call }: PageContext) {
  const { tokens } = await call("list_api_tokens", { include_revoked: false });
  const writable = can(view, "tokens:write");
  return (
    <Layout title="API tokens" view={view}>
      <h1>API tokens</h1>
      <Table
        caption="Your API tokens"
        head={["Name", "Prefix", "Scopes", "Projects", "Last used", ""]}
        rows={tokens.map((t: any) => [
          t.name,
          <code>{t.prefix}</code>,
          t.scopes.join(" "),
          t.projects ? t.projects.join(", ") : "all",
          when(t.last_used_at),
          writable ? (
            <Action
              view={view}
              op="revoke_api_token"
              label="Revoke"
              ariaLabel={`Revoke ${t.name}`}
              danger
              hidden={{ id: t.id }}
              confirm={`Revoke ${t.name}?`}
            />
          ) : (
            ""
          ),
        ])}
        empty="No tokens."
      />
      {writable ? (
        <section aria-labelledby="h-new">
          <h2 id="h-new">New token</h2>
          <Action view={view} op="create_api_token" label="Create token" then="show">
            <Field name="name" label="Name" required />
            <Field name="preset" label="Permissions" options={["viewer", "editor", "agent", "full"]} value="viewer" />
            <Field name="projects" label="Only these projects (comma-separated; empty: all)" />
            <Field name="expires_in_days" label="Expires in days (empty: never)" type="number" />
          </Action>
        </section>
      ) : null}
    </Layout>
  );
}

async function auditPage({ view, call, c }: PageContext) {
  const project = c.req.query("project") || undefined;
  const { events } = await call("list_audit_events", { limit: 100, ...(project ? { project } : {}) });
  return (
    <Layout title="Audit log" view={view} wide>
      <h1>Audit log</h1>
      <form method="get" class="row">
        <Field name="project" label="Project" value={project} />
        <button type="submit">Filter</button>
      </form>
      <Table
        caption="Latest calls, newest first"
        head={["When", "Operation", "Surface", "Project", "Outcome", "Credential", "IP"]}
        rows={events.map((e: any) => [
          when(e.at),
          <code>{e.operation}</code>,
          e.surface,
          e.project ?? "",
          e.outcome,
          e.actor.token_prefix ?? "session",
          e.client_ip ?? "",
        ])}
        empty="No audit records."
      />
    </Layout>
  );
}

async function operatorPage({ view, call }: PageContext) {
  const { accounts } = await call("list_accounts", { limit: 200 });
  return (
    <Layout title="Operator" view={view} wide>
      <h1>Operator</h1>
      <section aria-labelledby="h-acc">
        <h2 id="h-acc">Accounts</h2>
        <Table
          caption="All accounts"
          head={["Email", "Name", "Operator", "Created"]}
          rows={accounts.map((a: any) => [a.email, a.name, a.is_operator ? "yes" : "", when(a.created_at)])}
        />
        <details>
          <summary>New account</summary>
          <Action view={view} op="create_account" label="Create account" then="show">
            <Field name="email" label="Email" type="email" required />
            <Field name="name" label="Name" required />
          </Action>
        </details>
      </section>
      <section aria-labelledby="h-credit">
        <h2 id="h-credit">Grant credit</h2>
        <Action view={view} op="grant_credit" label="Grant">
          <Field name="email" label="Account email" type="email" required />
          <Field name="pool" label="Pool" options={["ai_credits", "wallet"]} />
          <Field name="amount_micros" label="Amount (micro-dollars; 1000000 = $1)" type="number" required />
          <Field name="kind" label="Kind" options={["top_up", "refund"]} />
          <Field name="reason" label="Reason" required />
        </Action>
      </section>
    </Layout>
  );
}

export const accountPages = {
  "/console/billing": billingPage,
  "/console/tokens": tokensPage,
  "/console/audit": auditPage,
  "/console/operator": operatorPage,
};
