// Abuse reports: sending one (from where the video or comment stands), reading one and its
// message thread (the reporter and moderators), and a moderator's state change.

import { api, ok, type Report, type ReportMessage, type ReportReason, type ReportState, type ReportTarget } from '../api/client';

export async function sendReport(target: ReportTarget, reason: ReportReason, text: string): Promise<Report> {
  return ok(await api.POST('/api/v1/reports', { body: { target, reason, text } }));
}

export async function report(id: string): Promise<Report> {
  return ok(await api.GET('/api/v1/reports/{id}', { params: { path: { id } } }));
}

export async function setReportState(id: string, state: ReportState, note: string): Promise<Report> {
  return ok(await api.PATCH('/api/v1/reports/{id}', { params: { path: { id } }, body: { state, note: note || undefined } }));
}

/** A report's whole thread, oldest first. */
export async function messages(id: string): Promise<ReportMessage[]> {
  return ok(await api.GET('/api/v1/reports/{id}/messages', { params: { path: { id } } })).items;
}

export async function sendMessage(id: string, text: string): Promise<ReportMessage> {
  return ok(await api.POST('/api/v1/reports/{id}/messages', { params: { path: { id } }, body: { text } }));
}

/** The caller's reports, newest first (the server answers them all at once). */
export async function myReports(): Promise<{ items: Report[]; next_cursor?: string | null }> {
  return ok(await api.GET('/api/v1/users/me/reports'));
}

export const STATE_TEXT: Record<ReportState, string> = { pending: 'Pending', accepted: 'Accepted', rejected: 'Rejected' };
