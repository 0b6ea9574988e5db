// A webhook receiver for the specs: a real HTTP server on loopback that checks every delivery's
// Standard Webhooks signature (`v1,` base64 HMAC-SHA256 of `id.timestamp.body` with the
// secret's bytes) against the secrets it is told, and answers as the test asks (200 with a
// text, or a 500 with one).

import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';

export interface Received {
  id: string;
  timestamp: string;
  signatures: string[];
  body: string;
  type: string;
  /** The secrets (of those told) that one of its signatures verifies with. */
  verifiedWith: string[];
  status: number;
}

function sign(secret: string, id: string, ts: string, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
}

export class Receiver {
  readonly got: Received[] = [];
  secrets: string[] = [];
  /** What the next deliveries get. */
  answer: { status: number; text: string } = { status: 200, text: 'thanks' };
  private server: Server | null = null;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const id = String(req.headers['webhook-id'] ?? '');
        const ts = String(req.headers['webhook-timestamp'] ?? '');
        const signatures = String(req.headers['webhook-signature'] ?? '')
          .split(' ')
          .filter((s) => s.startsWith('v1,'))
          .map((s) => s.slice(3));
        const verifiedWith = this.secrets.filter((secret) => {
          const want = Buffer.from(sign(secret, id, ts, body));
          return signatures.some((s) => {
            const have = Buffer.from(s);
            return have.length === want.length && timingSafeEqual(have, want);
          });
        });
        let type = '';
        try {
          type = (JSON.parse(body) as { type?: string }).type ?? '';
        } catch {
          type = '(not JSON)';
        }
        const { status, text } = this.answer;
        this.got.push({ id, timestamp: ts, signatures, body, type, verifiedWith, status });
        res.writeHead(status, { 'Content-Type': 'text/plain' });
        res.end(text);
      });
    });
    await new Promise<void>((ok) => this.server!.listen(0, '127.0.0.1', ok));
    const a = this.server.address();
    if (!a || typeof a !== 'object') throw new Error('no address');
    this.url = `http://127.0.0.1:${a.port}/hooks/troupe`;
  }

  async stop(): Promise<void> {
    await new Promise((ok) => this.server?.close(ok));
  }

  of(type: string): Received[] {
    return this.got.filter((r) => r.type === type);
  }
}
