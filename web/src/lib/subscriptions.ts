// Subscribing, and whether the caller subscribes: shared by the channel page, the watch page's
// channel block and the subscriptions page.

import { useEffect, useState } from 'preact/hooks';
import { api, ok, toProblem, type ApiProblem, type Channel, type SubscriptionChange } from '../api/client';

export async function getChannel(handle: string): Promise<Channel> {
  return ok(await api.GET('/api/v1/channels/{handle}', { params: { path: { handle } } }));
}

export async function subscribe(handle: string): Promise<SubscriptionChange> {
  return ok(await api.PUT('/api/v1/users/me/subscriptions/{handle}', { params: { path: { handle } } }));
}

export async function unsubscribe(handle: string): Promise<SubscriptionChange> {
  return ok(await api.DELETE('/api/v1/users/me/subscriptions/{handle}', { params: { path: { handle } } }));
}

/** Whether the signed-in caller subscribes to each handle (one request for up to 100). */
export async function subscribedTo(handles: string[]): Promise<Record<string, boolean>> {
  if (!handles.length) return {};
  return ok(await api.GET('/api/v1/users/me/subscriptions/exist', { params: { query: { handles: handles.join(',') } } }));
}

/** A channel and whether the caller subscribes to it, kept up to date by `apply` (the answer
 * of Subscribe carries the channel with its new subscriber count). */
export interface Followed {
  channel: Channel | null;
  subscribed: boolean | null;
  error: ApiProblem | null;
  apply: (c: SubscriptionChange) => void;
}

export function useFollowed(handle: string | null | undefined, signedIn: boolean): Followed {
  const [channel, setChannel] = useState<Channel | null>(null);
  const [subscribed, setSubscribed] = useState<boolean | null>(null);
  const [error, setError] = useState<ApiProblem | null>(null);
  useEffect(() => {
    if (!handle) return;
    let live = true;
    setError(null);
    setSubscribed(null);
    getChannel(handle)
      .then((c) => live && setChannel(c))
      .catch((e: unknown) => live && setError(toProblem(e)));
    if (signedIn)
      subscribedTo([handle])
        .then((m) => live && setSubscribed(Object.entries(m).some(([h, on]) => on && h.toLowerCase() === handle.toLowerCase())))
        .catch(() => live && setSubscribed(false));
    return () => {
      live = false;
    };
  }, [handle, signedIn]);
  return {
    channel,
    subscribed,
    error,
    apply: (c) => {
      setChannel(c.channel);
      setSubscribed(c.subscribed);
    },
  };
}
