import type { ChromaStore } from './chroma/store.js';
import type { Config } from './config.js';
import type { Sql } from './db/connect.js';
import type { Embedder } from './embedding/embedder.js';

/** What the domain functions and tools run against; built once by the mode that starts. */
export interface Services {
  readonly config: Config;
  readonly sql: Sql;
  readonly chroma: ChromaStore;
  readonly embedder: Embedder;
  /** Called after a job was queued, so an in-process worker wakes without a NOTIFY round trip. */
  readonly jobQueued?: () => void;
}
