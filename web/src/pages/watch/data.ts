import { api, ok, type CommentPolicy, type Rating, type Video, type Visibility } from '../../api/client';

/** The video, with the signed-in caller's own rating (`my_rating`). */
export async function getVideo(id: string): Promise<Video> {
  return ok(await api.GET('/api/v1/videos/{id}', { params: { path: { id } } }));
}

export async function rate(id: string, rating: Rating) {
  return ok(await api.PUT('/api/v1/videos/{id}/rating', { params: { path: { id } }, body: { rating } }));
}

/** The owner's edit in place: title, description, visibility and the comment policy (tags stay
 * as they are). */
export async function saveDetails(
  id: string,
  d: { title: string; description: string; visibility: Visibility; comment_policy: CommentPolicy },
): Promise<Video> {
  return ok(await api.PATCH('/api/v1/videos/{id}', { params: { path: { id } }, body: d }));
}
