import { api, ok, type VideoPage } from '../../api/client';
import { tokenReady } from '../../session';

/** The channel's videos, newest first: public ready ones, plus all of them for its owner. */
export async function channelVideos(handle: string, cursor: string | undefined): Promise<VideoPage> {
  await tokenReady();
  return ok(await api.GET('/api/v1/channels/{handle}/videos', { params: { path: { handle }, query: { limit: 24, cursor } } }));
}
