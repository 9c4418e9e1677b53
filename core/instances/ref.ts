// How an operation names an instance: its project and its name. A leaf module (zod and common only), so every
// instance module can import it without an import cycle.
import { z } from "zod";
import { ProjectRef } from "../kernel/common.ts";

export const InstanceName = z
  .string()
  .min(1)
  .max(63)
  .regex(
    /^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$/,
    "lowercase letters, digits, '.', '_' and '-'; starting and ending with a letter or digit",
  )
  .meta({ description: "Name of the instance within its project", example: "web-1" });

/** The instance reference every instance operation takes, besides `project`. */
export const InstanceRef = { project: ProjectRef, instance: InstanceName };
