import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ChromaServer, startChromaServer } from '../../src/embedded/chroma-server.js';

export interface TestChroma extends ChromaServer {
  /** Stops the server and deletes its data folder. */
  destroy(): Promise<void>;
}

/** A real Chroma server on a free loopback port with its data in a temporary folder. */
export async function startTestChroma(): Promise<TestChroma> {
  const dir = mkdtempSync(join(tmpdir(), 'memory-chroma-'));
  const server = await startChromaServer({ path: join(dir, 'data'), logFile: join(dir, 'chroma.log') });
  return Object.assign(server, {
    async destroy() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}
