// Every instance operation, in the order they are listed on every surface (core/kernel/registry.ts spreads this).
import type { Operation } from "../kernel/operation.ts";
import { runCommand } from "./commands.ts";
import { editRemoteFile, listRemoteDirectory, readRemoteFile, writeRemoteFile } from "./files.ts";
import {
  deleteInstance,
  getInstance,
  listInstances,
  registerInstance,
  resetInstanceHostKey,
  testInstanceConnection,
  updateInstance,
} from "./instances.ts";
import { tailLog } from "./logs.ts";
import { getInstanceMetrics } from "./metrics.ts";
import { removeInstanceObserver, setInstanceObserver, setupInstanceObserver } from "./observer.ts";
import { reinstallInstance, restartInstance, shutdownInstance, startInstance } from "./power.ts";
import { addSshKey, deleteSshKey, installSshKey, listSshKeys } from "./ssh-keys.ts";

export const instanceOperations: Operation[] = [
  registerInstance,
  listInstances,
  getInstance,
  updateInstance,
  deleteInstance,
  testInstanceConnection,
  resetInstanceHostKey,
  runCommand,
  readRemoteFile,
  writeRemoteFile,
  editRemoteFile,
  listRemoteDirectory,
  tailLog,
  getInstanceMetrics,
  restartInstance,
  shutdownInstance,
  startInstance,
  reinstallInstance,
  addSshKey,
  listSshKeys,
  deleteSshKey,
  installSshKey,
  setupInstanceObserver,
  setInstanceObserver,
  removeInstanceObserver,
];
