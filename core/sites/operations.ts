// Every site operation, in one list for the registry.
import type { Operation } from "../kernel/operation.ts";
import { archiveOperations } from "./archive.ts";
import { assetOperations } from "./assets.ts";
import { businessOperations } from "./business.ts";
import { domainOperations } from "./domains.ts";
import { fileOperations } from "./files.ts";
import { formOperations } from "./forms.ts";
import { pageOperations } from "./pages.ts";
import { proposalOperations } from "./proposals.ts";
import { publicSiteOperations } from "./public.ts";
import { releaseOperations } from "./releases.ts";
import { settingsOperations } from "./settings.ts";

export const siteOperations: Operation[] = [
  ...fileOperations,
  ...archiveOperations,
  ...pageOperations,
  ...releaseOperations,
  ...settingsOperations,
  ...businessOperations,
  ...assetOperations,
  ...formOperations,
  ...publicSiteOperations,
  ...domainOperations,
  ...proposalOperations,
];
