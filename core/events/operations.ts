// Every events operation, in the order they are listed on every surface (core/kernel/registry.ts spreads this).
import type { Operation } from "../kernel/operation.ts";
import { listNotifications, markAllRead, markNotificationRead } from "./notifications.ts";
import { listNotificationPreferences, setNotificationPreference } from "./preferences.ts";
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  listEventTypes,
  listWebhookDeliveries,
  listWebhookEndpoints,
  redeliverWebhook,
  rotateWebhookSecret,
  sendTestEvent,
  updateWebhookEndpoint,
} from "./webhooks.ts";

export const eventOperations: Operation[] = [
  listEventTypes,
  createWebhookEndpoint,
  listWebhookEndpoints,
  updateWebhookEndpoint,
  deleteWebhookEndpoint,
  rotateWebhookSecret,
  sendTestEvent,
  listWebhookDeliveries,
  redeliverWebhook,
  listNotifications,
  markNotificationRead,
  markAllRead,
  listNotificationPreferences,
  setNotificationPreference,
];
