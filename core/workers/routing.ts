// Which worker a Host header names: `{worker}.{project}.{BOSUN_WORKERS_DOMAIN}` (two DNS labels; a site is one).
import type { Config } from "../config.ts";

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function workerFromHost(config: Config, host: string | undefined): { worker: string; project: string } | null {
  if (!host) return null;
  const name = host.toLowerCase().replace(/:\d+$/, "").replace(/\.$/, "");
  const domain = config.workersDomain;
  if (!name.endsWith(`.${domain}`)) return null;
  const labels = name.slice(0, -domain.length - 1).split(".");
  if (labels.length !== 2) return null;
  const [worker, project] = labels;
  if (!worker || !project || !LABEL.test(worker) || !LABEL.test(project)) return null;
  return { worker, project };
}
