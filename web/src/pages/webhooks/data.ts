import { api, ok } from '../../api/client';
import type { DeliveryView, Schemas, WebhookEvent, WebhookView } from '../../api/client';

type WebhookInput = Schemas['CreateWebhook'];
type WebhookChange = Schemas['UpdateWebhook'];

/** The events an endpoint can ask for, as the user reads them (`webhook.test` is sent only on
 * request). */
export const EVENTS: readonly { value: WebhookEvent; label: string }[] = [
  { value: 'video.created', label: 'Video created' },
  { value: 'upload.completed', label: 'Upload completed' },
  { value: 'video.ready', label: 'Video ready' },
  { value: 'video.failed', label: 'Video failed' },
  { value: 'video.updated', label: 'Video updated' },
  { value: 'video.deleted', label: 'Video deleted' },
  { value: 'channel.subscribed', label: 'New subscriber' },
  { value: 'comment.created', label: 'New comment' },
  { value: 'comment.held', label: 'Comment held for review' },
];

type NoContent = { error?: unknown; response: Response };
function done(r: NoContent): void {
  if (!r.response.ok) ok(r);
}

export async function webhooks(): Promise<WebhookView[]> {
  return ok(await api.GET('/api/v1/webhooks')).webhooks;
}

export async function webhook(id: string): Promise<WebhookView> {
  return ok(await api.GET('/api/v1/webhooks/{id}', { params: { path: { id } } }));
}

export async function createWebhook(body: WebhookInput): Promise<WebhookView & { secret: string }> {
  return ok(await api.POST('/api/v1/webhooks', { body }));
}

export async function updateWebhook(id: string, body: WebhookChange): Promise<WebhookView> {
  return ok(await api.PATCH('/api/v1/webhooks/{id}', { params: { path: { id } }, body }));
}

export async function deleteWebhook(id: string): Promise<void> {
  done(await api.DELETE('/api/v1/webhooks/{id}', { params: { path: { id } } }));
}

export async function rotateSecret(id: string): Promise<{ secret: string; previous_expires_at?: string | null }> {
  return ok(await api.POST('/api/v1/webhooks/{id}/rotate-secret', { params: { path: { id } } }));
}

export async function deliveries(id: string, cursor: string | undefined): Promise<{ items: DeliveryView[]; next_cursor?: string | null }> {
  const p = ok(await api.GET('/api/v1/webhooks/{id}/deliveries', { params: { path: { id }, query: { cursor, limit: 30 } } }));
  return { items: p.deliveries, next_cursor: p.next_cursor };
}

export async function retryDelivery(id: string, delivery_id: string): Promise<void> {
  ok(await api.POST('/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry', { params: { path: { id, delivery_id } } }));
}

/** Queues a `webhook.test` event; answers its delivery id. */
export async function sendTest(id: string): Promise<string> {
  return ok(await api.POST('/api/v1/webhooks/{id}/test', { params: { path: { id } } })).delivery_id;
}
