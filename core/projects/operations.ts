// Every project operation, in the order they are listed on every surface (core/kernel/registry.ts spreads this).
import type { Operation } from "../kernel/operation.ts";
import { invitationOperations } from "./invitations.ts";
import { listProjectMembers, removeProjectMember, updateProjectMember } from "./members.ts";
import { createProject, deleteProject, getProject, listProjects, updateProject } from "./projects.ts";

export const projectOperations: Operation[] = [
  createProject,
  listProjects,
  getProject,
  updateProject,
  deleteProject,
  listProjectMembers,
  updateProjectMember,
  removeProjectMember,
  ...invitationOperations,
];
