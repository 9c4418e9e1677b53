// The agent's operations, for the registry.
import type { Operation } from "../kernel/operation.ts";
import { approveToolCall, denyToolCall, listPendingApprovals } from "./approvals.ts";
import {
  cancelAgentRun,
  deleteAgentConversation,
  getAgentConversation,
  listAgentConversations,
  sendAgentMessage,
  startAgentChat,
} from "./conversations.ts";
import { listAgentRunEvents } from "./events.ts";
import { scheduleOperations } from "./schedules.ts";
import { telegramOperations } from "./telegram-operations.ts";

export const agentOperations: Operation[] = [
  startAgentChat,
  sendAgentMessage,
  getAgentConversation,
  listAgentConversations,
  cancelAgentRun,
  deleteAgentConversation,
  listPendingApprovals,
  approveToolCall,
  denyToolCall,
  listAgentRunEvents,
  ...telegramOperations,
  ...scheduleOperations,
];
