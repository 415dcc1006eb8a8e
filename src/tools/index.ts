import { ARTIFACT_TOOLS } from './artifact-tools.js';
import { EVENT_TOOLS } from './event-tools.js';
import { MEMORY_TOOLS } from './memory-tools.js';
import type { Tool } from './registry.js';

/** Every tool the server exposes, in the order clients list them. */
export const TOOLS: readonly Tool[] = [
  ...MEMORY_TOOLS,
  ...ARTIFACT_TOOLS,
  ...EVENT_TOOLS,
] as unknown as readonly Tool[];
