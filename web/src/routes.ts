// The console's one route table. Each page is a folder under src/pages with its view and its
// data loading; pages load on demand, so the home page carries only what it needs.

import type { ComponentType } from 'preact';

export interface PageProps {
  params: Record<string, string>;
  query: URLSearchParams;
}

export interface Route {
  path: string;
  /** The document title (the page may refine it). */
  title: string;
  /** `user`: sign in first; `moderator`: a moderator or an admin; `admin`: an admin. */
  guard?: 'user' | 'moderator' | 'admin';
  load: () => Promise<{ default: ComponentType<PageProps> }>;
  /** Asks for the page's first data while its code loads, when it is the first page shown. */
  warm?: () => void;
  /** The page follows changes of the query string itself (it keeps its form and focus);
   * otherwise a new query string gives a fresh page. */
  followsQuery?: boolean;
}

export const routes: Route[] = [
  {
    path: '/',
    title: 'Home',
    load: () => import('./pages/home/HomePage'),
    warm: () => void import('./pages/home/data').then((m) => m.warmLatest()),
  },
  { path: '/search', title: 'Search', followsQuery: true, load: () => import('./pages/search/SearchPage') },
  { path: '/watch/:id', title: 'Watch', load: () => import('./pages/watch/WatchPage') },
  { path: '/c/:handle', title: 'Channel', load: () => import('./pages/channel/ChannelPage') },
  { path: '/upload', title: 'Upload', guard: 'user', load: () => import('./pages/upload/UploadPage') },
  { path: '/me/videos', title: 'My videos', guard: 'user', load: () => import('./pages/my-videos/MyVideosPage') },
  { path: '/me/subscriptions', title: 'Subscriptions', guard: 'user', load: () => import('./pages/subscriptions/SubscriptionsPage') },
  { path: '/me/notifications', title: 'Notifications', guard: 'user', load: () => import('./pages/notifications/NotificationsPage') },
  {
    path: '/me/notifications/settings',
    title: 'Notification settings',
    guard: 'user',
    load: () => import('./pages/notifications/SettingsPage'),
  },
  { path: '/me/channels', title: 'My channels', guard: 'user', load: () => import('./pages/my-channels/MyChannelsPage') },
  { path: '/me/history', title: 'History', guard: 'user', load: () => import('./pages/history/HistoryPage') },
  { path: '/account', title: 'Account', load: () => import('./pages/account/AccountPage') },
  { path: '/signin', title: 'Sign in', load: () => import('./pages/signin/SignInPage') },
  // Some mails say "/login" (the server's account-deletion notice): the same page.
  { path: '/login', title: 'Sign in', load: () => import('./pages/signin/SignInPage') },
  { path: '/signup', title: 'Sign up', load: () => import('./pages/signup/SignUpPage') },
  // The pages mailed links open (issue 24). They take the token out of the address themselves,
  // so a change of the query string must not start them over.
  { path: '/forgot-password', title: 'Forgot your password?', load: () => import('./pages/auth/ForgotPasswordPage') },
  { path: '/reset-password', title: 'Set a new password', followsQuery: true, load: () => import('./pages/auth/ResetPasswordPage') },
  { path: '/verify-email', title: 'Confirm your address', followsQuery: true, load: () => import('./pages/auth/VerifyEmailPage') },
  { path: '/confirm-email', title: 'Confirm your new address', followsQuery: true, load: () => import('./pages/auth/ConfirmEmailPage') },
  { path: '/undo-email-change', title: 'Undo the change of address', followsQuery: true, load: () => import('./pages/auth/UndoEmailPage') },
  { path: '/me/webhooks', title: 'Webhooks', guard: 'user', load: () => import('./pages/webhooks/WebhooksPage') },
  { path: '/me/webhooks/:id', title: 'Webhook', guard: 'user', load: () => import('./pages/webhooks/WebhookPage') },
  { path: '/me/reports', title: 'My reports', guard: 'user', load: () => import('./pages/reports/MyReportsPage') },
  { path: '/me/reports/:id', title: 'Report', guard: 'user', load: () => import('./pages/reports/ReportPage') },
  { path: '/admin', title: 'Admin', guard: 'admin', load: () => import('./pages/admin/AdminPage') },
  { path: '/moderation', title: 'Moderation queue', guard: 'moderator', followsQuery: true, load: () => import('./pages/moderation/QueuePage') },
  { path: '/moderation/reports/:id', title: 'Report', guard: 'moderator', load: () => import('./pages/reports/ReportPage') },
  { path: '/moderation/suspended', title: 'Suspended accounts', guard: 'moderator', load: () => import('./pages/moderation/SuspendedPage') },
  { path: '/moderation/words', title: 'Watched words', guard: 'moderator', load: () => import('./pages/moderation/WordsPage') },
  { path: '/moderation/audit', title: 'Audit log', guard: 'admin', load: () => import('./pages/moderation/AuditPage') },
];

export const notFound: Route = {
  path: '*',
  title: 'Not found',
  load: () => import('./pages/not-found/NotFoundPage'),
};
