import { artifactDelete, artifactGet, artifactIngest } from './artifact.js';
import { eventGet, eventListForRevision, eventSearch } from './event.js';
import { historyAppend, historyGet, historySearch } from './history.js';
import { eventReextract, jobStatus } from './job.js';
import { memoryDelete, memoryList, memorySearch, memoryStore } from './memory.js';
import type { Tool } from './registry.js';
import { artifactSearchTool, embeddingHealth, hybridSearchTool } from './search.js';

/** Every tool the server exposes, in the order clients list them. */
export const TOOLS: readonly Tool[] = [
  memoryStore,
  memorySearch,
  memoryList,
  memoryDelete,
  historyAppend,
  historyGet,
  historySearch,
  artifactIngest,
  artifactSearchTool,
  artifactGet,
  artifactDelete,
  hybridSearchTool,
  embeddingHealth,
  eventSearch,
  eventGet,
  eventListForRevision,
  eventReextract,
  jobStatus,
] as unknown as readonly Tool[];
