import type { Config } from '../config.js';
import type { Embedder } from '../providers/embedder.js';
import type { Sql } from '../store/connect.js';
import type { VectorIndex } from '../vectors/index.js';

/** What the domain functions and tools run against; built once by the mode that starts. */
export interface Services {
  readonly config: Config;
  readonly sql: Sql;
  readonly vectors: VectorIndex;
  readonly embedder: Embedder;
  /** Called after a job was queued, so an in-process worker wakes without a NOTIFY round trip. */
  readonly jobQueued?: () => void;
}
