/**
 * A small OpenAI-compatible HTTP server for tests: `/v1/embeddings` and `/v1/chat/completions`,
 * with scripted answers and faults (HTTP errors with headers, slow answers, hung requests,
 * non-JSON content). The real `openai` client talks to it through `baseURL`.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { kind: 'status'; status: number; headers?: Record<string, string>; message?: string; code?: string }
  /** A slow normal answer (after `ms`): the request takes no other fault. */
  | { kind: 'delay'; ms: number }
  | { kind: 'hang' }
  | { kind: 'content'; content: string }
  | { kind: 'invalid-body' };

/** A queued fault, and the text a request body must contain to take it (any request when absent). */
interface QueuedFault {
  fault: Fault;
  match?: string;
}

export interface RecordedRequest {
  path: string;
  body: Record<string, unknown>;
  authorization: string | undefined;
  at: number;
}

export type ChatHandler = (body: ChatRequestBody) => string | Promise<string>;

export interface ChatRequestBody {
  model: string;
  messages: Array<{ role: string; content: string }>;
  response_format?: unknown;
  [key: string]: unknown;
}

export interface FakeOpenAI {
  /** Base URL including `/v1`, for `OPENAI_BASE_URL`. */
  readonly url: string;
  readonly requests: RecordedRequest[];
  count(path: 'embeddings' | 'chat'): number;
  /** Faults taken one per request, in order, as each request arrives. */
  queue(path: 'embeddings' | 'chat', ...faults: Fault[]): void;
  /**
   * Like `queue`, but only a request whose JSON body contains `match` takes these faults (e.g. a
   * sentence of one job's text), so a request of another job cannot consume them.
   */
  queueFor(path: 'embeddings' | 'chat', match: string, ...faults: Fault[]): void;
  /** Faults still queued (none should be left at the end of a test that queued some). */
  pending(path: 'embeddings' | 'chat'): Fault[];
  /** Resolves once no request is being handled (a `delay` still waiting counts; a `hang` does not). */
  idle(): Promise<void>;
  /** Back to the state of a new server: no queued faults, hung requests released, default chat answer. */
  reset(): void;
  /** What the model answers (the message content) when no fault is queued. */
  onChat(handler: ChatHandler): void;
  /** Releases requests held by a `hang` fault (they get a 500). */
  releaseHung(): void;
  close(): Promise<void>;
}

/** A deterministic unit vector from hashed words: texts sharing words are close. */
export function fakeEmbedding(text: string, dims: number): number[] {
  const vector: number[] = Array.from({ length: dims }, () => 0);
  for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
    const digest = createHash('sha256').update(word).digest();
    const index = digest.readUInt32BE(0) % dims;
    vector[index] = (vector[index] ?? 0) + ((digest[4] ?? 0) & 1 ? 1 : -1);
  }
  if (!vector.some((x) => x !== 0)) vector[0] = 1;
  const norm = Math.hypot(...vector);
  return vector.map((x) => x / norm);
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolveBody(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (response.writableEnded) return;
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

export async function startFakeOpenAI(): Promise<FakeOpenAI> {
  const requests: RecordedRequest[] = [];
  const faults: Record<'embeddings' | 'chat', QueuedFault[]> = { embeddings: [], chat: [] };
  const hung: ServerResponse[] = [];
  const defaultChat: ChatHandler = () => JSON.stringify({ events: [] });
  let chatHandler: ChatHandler = defaultChat;
  /** Removes and returns the first fault this request may take. */
  const takeFault = (kind: 'embeddings' | 'chat', raw: string): Fault | undefined => {
    const index = faults[kind].findIndex((f) => f.match === undefined || raw.includes(f.match));
    return index === -1 ? undefined : faults[kind].splice(index, 1)[0]?.fault;
  };
  let active = 0;
  const idleWaiters: Array<() => void> = [];
  const handlerDone = () => {
    active--;
    if (active === 0) for (const wake of idleWaiters.splice(0)) wake();
  };
  const releaseHung = () => {
    for (const response of hung.splice(0)) sendJson(response, 500, { error: { message: 'released' } });
  };

  const server: Server = createServer((request, response) => {
    active++;
    handle(request, response)
      .catch(() => response.destroy())
      .finally(handlerDone);
  });
  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const raw = await readBody(request);
    const path = (request.url ?? '').replace(/^\/v1/, '');
    const kind = path === '/embeddings' ? 'embeddings' : path === '/chat/completions' ? 'chat' : undefined;
    if (kind === undefined || request.method !== 'POST') {
      sendJson(response, 404, {
        error: { message: `no route ${request.method} ${request.url}`, type: 'not_found' },
      });
      return;
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      sendJson(response, 400, { error: { message: 'invalid JSON body', type: 'invalid_request_error' } });
      return;
    }
    requests.push({ path: kind, body, authorization: request.headers.authorization, at: Date.now() });

    // A request takes at most one fault, when it arrives. A `delay` used to take the next queued
    // fault when it ended, after its client had timed out and gone: a fault meant for a later
    // request (possibly of a later test) was consumed by a dead one (FINDINGS.md, the 401 flake).
    const fault = takeFault(kind, raw);
    let contentOverride: string | undefined;
    if (fault?.kind === 'delay') {
      await new Promise((r) => setTimeout(r, fault.ms));
      if (response.destroyed) return;
    } else if (fault?.kind === 'hang') {
      hung.push(response);
      return;
    } else if (fault?.kind === 'status') {
      sendJson(
        response,
        fault.status,
        {
          error: {
            message: fault.message ?? `scripted ${fault.status}`,
            type: 'scripted',
            code: fault.code ?? null,
          },
        },
        fault.headers,
      );
      return;
    } else if (fault?.kind === 'invalid-body') {
      if (!response.writableEnded) {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{"this is": not json');
      }
      return;
    } else if (fault?.kind === 'content') {
      contentOverride = fault.content;
    }

    if (kind === 'embeddings') {
      const input = body.input;
      const inputs = Array.isArray(input) ? input.map(String) : [String(input)];
      const dims = typeof body.dimensions === 'number' ? body.dimensions : 64;
      sendJson(response, 200, {
        object: 'list',
        model: body.model,
        data: inputs.map((text, index) => {
          const vector = fakeEmbedding(text, dims);
          // The official client asks for base64 (little-endian float32) unless told otherwise.
          const embedding =
            body.encoding_format === 'base64'
              ? Buffer.from(new Float32Array(vector).buffer).toString('base64')
              : vector;
          return { object: 'embedding', index, embedding };
        }),
        usage: { prompt_tokens: inputs.length, total_tokens: inputs.length },
      });
      return;
    }
    const content = contentOverride ?? (await chatHandler(body as unknown as ChatRequestBody));
    sendJson(response, 200, {
      id: `chatcmpl-${requests.length}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: body.model,
      choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content } }],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    });
  };

  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    count: (path) => requests.filter((r) => r.path === path).length,
    queue: (path, ...more) => faults[path].push(...more.map((fault) => ({ fault }))),
    queueFor: (path, match, ...more) => faults[path].push(...more.map((fault) => ({ fault, match }))),
    pending: (path) => faults[path].map((f) => f.fault),
    idle: () =>
      active === 0
        ? Promise.resolve()
        : new Promise<void>((resolveIdle) => {
            idleWaiters.push(resolveIdle);
          }),
    reset: () => {
      faults.embeddings.length = 0;
      faults.chat.length = 0;
      releaseHung();
      chatHandler = defaultChat;
    },
    onChat: (handler) => {
      chatHandler = handler;
    },
    releaseHung,
    close: async () => {
      for (const response of hung.splice(0)) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
