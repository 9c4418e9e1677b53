// The console's only script (the CSP allows no inline script): the CSRF header on every htmx request, confirm
// prompts, charts (uPlot) and following an agent run's event stream.
(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content;
  document.addEventListener("htmx:configRequest", (e) => {
    if (csrf) e.detail.headers["X-CSRF-Token"] = csrf;
  });

  // A form's idempotency key covers one submission: once answered, the next submit is a new request.
  const freshKey = () =>
    Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  document.addEventListener("htmx:afterRequest", (e) => {
    const key = e.detail.elt?.querySelector?.('input[name="_idempotency_key"]');
    if (key) key.value = freshKey();
  });

  // data-confirm on a form: ask first (captured before htmx sees the submit).
  document.addEventListener(
    "submit",
    (e) => {
      const form = e.target;
      const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
      if (question && !window.confirm(question)) {
        e.preventDefault();
        e.stopImmediatePropagation();
      }
    },
    true,
  );

  // ---- charts ----------------------------------------------------------------------------------------------
  function chart(el, data, series, yRange) {
    el.textContent = "";
    const width = Math.max(280, Math.min(el.clientWidth || 600, 900));
    // One point has no span: show the hour (or day) around it rather than uPlot's years-wide default.
    const span = (_u, min, max) => (min === max ? [min - 3600, max + 60] : [min, max]);
    const scales = { x: { time: true, range: span } };
    if (yRange) scales.y = { range: yRange };
    // eslint-disable-next-line no-undef
    new uPlot({ width, height: 220, scales, series: [{}, ...series], axes: [{}, {}] }, data, el);
  }
  const palette = ["#1f5fbf", "#b3261e", "#1b7f3b", "#7a4eb0"];
  function drawMetrics(el) {
    fetch(el.dataset.metrics, { credentials: "same-origin" })
      .then((r) => r.json())
      .then((m) => {
        if (m.error) {
          el.textContent = m.error.message;
          return;
        }
        const points = m.history.length ? m.history : [];
        if (m.current)
          points.push({
            at: m.current.at,
            cpu_percent: m.current.cpu_percent,
            memory_used_percent: m.current.memory.used_percent,
            disk_used_percent: m.current.disk.used_percent,
          });
        const xs = points.map((p) => Date.parse(p.at) / 1000);
        chart(
          el,
          [
            xs,
            points.map((p) => p.cpu_percent),
            points.map((p) => p.memory_used_percent),
            points.map((p) => p.disk_used_percent),
          ],
          [
            { label: "CPU %", stroke: palette[0] },
            { label: "Memory %", stroke: palette[1] },
            { label: "Disk %", stroke: palette[2] },
          ],
          [0, 100],
        );
        if (m.current) {
          const p = document.createElement("p");
          p.className = "muted";
          p.textContent = `Now: CPU ${m.current.cpu_percent}%, memory ${m.current.memory.used_percent}%, disk ${m.current.disk.used_percent}%`;
          el.append(p);
        }
      })
      .catch((err) => {
        el.textContent = `Metrics unavailable: ${err}`;
      });
  }
  function drawSeries(el) {
    const s = JSON.parse(el.dataset.series);
    if (!s.days.length) return;
    const xs = s.days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
    chart(el, [xs, s.values], [{ label: s.label, stroke: palette[0], fill: "rgba(31,95,191,.15)" }]);
  }

  // ---- an agent run, live --------------------------------------------------------------------------------
  function follow(section) {
    const list = section.querySelector(".events");
    const transcriptUrl = section.dataset.transcript;
    const add = (text, cls) => {
      const li = document.createElement("li");
      li.className = cls || "";
      li.textContent = text;
      list.append(li);
    };
    let pending = null;
    const reloadTranscript = () => {
      // Coalesce bursts of events into one reload.
      if (pending) return;
      pending = setTimeout(() => {
        pending = null;
        const target = document.getElementById("transcript");
        if (target && window.htmx) window.htmx.ajax("GET", transcriptUrl, { target, swap: "outerHTML" });
      }, 150);
    };
    const source = new EventSource(section.dataset.runStream);
    const on = (type, fn) => source.addEventListener(type, (e) => fn(JSON.parse(e.data || "{}")));
    on("run_queued", () => add("Queued", "muted"));
    on("run_started", () => add("Started", "muted"));
    on("model_step", (d) => {
      const u = d.usage || {};
      add(
        `Model step: ${u.input_tokens ?? 0} in / ${u.output_tokens ?? 0} out tokens, $${((d.cost_micros || 0) / 1e6).toFixed(6)}`,
        "muted",
      );
    });
    on("text", (d) => {
      add(d.text, "text");
      reloadTranscript();
    });
    on("tool_call", (d) => {
      add(`Running ${d.tool} ${JSON.stringify(d.input)}`, "tool");
      reloadTranscript();
    });
    on("tool_result", (d) => {
      add(
        `${d.tool} finished${d.exit_code !== undefined ? ` (exit ${d.exit_code})` : ""}${d.is_error ? " with an error" : ""}`,
        "tool",
      );
      reloadTranscript();
    });
    on("tool_refused", (d) => add(`${d.tool} refused: ${d.reason}`, "error"));
    on("approval_requested", (d) => {
      add(`Approval needed: ${d.tool}`, "approval");
      reloadTranscript();
    });
    on("approval_decided", (d) => {
      add(`Approval ${d.decision || d.status || "decided"}`, "muted");
      reloadTranscript();
    });
    on("run_finished", (d) => {
      source.close();
      add(`Run ${d.status}${d.error ? `: ${d.error.message}` : ""}`, d.status === "done" ? "muted" : "error");
      // The page again without ?run=: the full transcript and the message box.
      setTimeout(() => location.replace(location.pathname), 400);
    });
    source.addEventListener("error", (e) => {
      if (e.data) {
        add(`Stream error: ${JSON.parse(e.data).message}`, "error");
        source.close();
      }
    });
  }

  function init() {
    for (const el of document.querySelectorAll("[data-metrics]")) drawMetrics(el);
    for (const el of document.querySelectorAll("[data-series]")) drawSeries(el);
    for (const el of document.querySelectorAll("[data-run-stream]")) follow(el);
    // A new token is selected, ready to copy.
    document.addEventListener("htmx:afterSwap", (e) => {
      const input = e.target.querySelector?.("input[data-token]");
      if (input) input.select();
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
