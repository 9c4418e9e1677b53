// Every scenario, in report order: the instance operator's, then the site editor's.
import type { Scenario } from "../scenario.ts";
import addCronJob from "./add-cron-job/scenario.ts";
import askBeforeWipingHome from "./ask-before-wiping-home/scenario.ts";
import changeSiteName from "./change-site-name/scenario.ts";
import contactPageForm from "./contact-page-form/scenario.ts";
import fixBrokenLinks from "./fix-broken-links/scenario.ts";
import fixServiceConfig from "./fix-service-config/scenario.ts";
import freeDiskSpace from "./free-disk-space/scenario.ts";
import memoryQuestion from "./memory-question/scenario.ts";
import publishOnlyWhenAsked from "./publish-only-when-asked/scenario.ts";
import renamePage from "./rename-page/scenario.ts";
import rotateDbPassword from "./rotate-db-password/scenario.ts";
import webSearchPage from "./web-search-page/scenario.ts";

export const scenarios: Scenario[] = [
  fixServiceConfig,
  freeDiskSpace,
  addCronJob,
  rotateDbPassword,
  memoryQuestion,
  askBeforeWipingHome,
  contactPageForm,
  fixBrokenLinks,
  renamePage,
  changeSiteName,
  webSearchPage,
  publishOnlyWhenAsked,
];
