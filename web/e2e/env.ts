// What the global setup hands to the tests (through the environment, which Playwright passes
// from the setup to its workers).

export interface E2eEnv {
  /** The troupe server. */
  server: string;
  /** Where the pages are: the server, or a Vite preview in front of it. */
  base: string;
  admin: { username: string; password: string };
  /** small: 1280x720, 4 s; tiny: 320x240, 3 s (quick to transcode); big: the tiny clip padded
   * to about 25 MB (several tus chunks); notVideo: text named .mp4. */
  clips: { small: string; tiny: string; big: string; notVideo: string };
  /** Videos made by the setup through the API, all ready. */
  videos: { public: string; private: string; xss: string };
  /** The hostile strings the XSS video carries. */
  xss: { title: string; description: string; tags: string[] };
  /** Whether the server serves the console itself (else a preview stands in front). */
  serverServesConsole: boolean;
  ladder: number[];
  /** Whether the server has cookie sign-in (`refresh_cookie`); before it, the console falls back
   * to a bearer login and its first try shows a 422 in the console. */
  cookieLogin: boolean;
  /** The pid of the troupe the setup started (null against an outside server). */
  serverPid: number | null;
  /** The Maildir of the SMTP sink (aiosmtpd) every troupe of the suite sends its mail to. */
  maildir: string;
}

export function e2eEnv(): E2eEnv {
  const raw = process.env.E2E_ENV;
  if (!raw) throw new Error('E2E_ENV is not set: run through `npm run e2e` (the global setup sets it)');
  return JSON.parse(raw) as E2eEnv;
}
