import { existsSync, readFileSync, rmSync } from 'node:fs';
import { STATE_FILE } from './global-setup';

// Stops what the setup started, by pid (the server and the preview), nothing else.
export default async function globalTeardown(): Promise<void> {
  if (!existsSync(STATE_FILE)) return;
  const { processes, dirs } = JSON.parse(readFileSync(STATE_FILE, 'utf8')) as { processes: number[]; dirs: string[] };
  for (const pid of processes) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
  // The server's data dir, once it had a moment to exit.
  await new Promise((r) => setTimeout(r, 1000));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  rmSync(STATE_FILE, { force: true });
}
