#!/usr/bin/env node
/**
 * `npm start` builds only when the build is missing or older than a source: a full build takes
 * about a minute on a busy 2-core machine, and starting the server needs none when nothing changed.
 * "Older" compares the newest modification time under src/ (and tsconfig.json, package.json)
 * with the compiled entry point, which every build rewrites.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'dist', 'src', 'cli', 'main.js');
const template = join(root, 'dist', 'pglite-template.tar.gz');

function newest(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = stat.mtimeMs;
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

const sources = Math.max(
  newest(join(root, 'src')),
  newest(join(root, 'tsconfig.json')),
  newest(join(root, 'package.json')),
);
if (existsSync(built) && existsSync(template) && statSync(built).mtimeMs >= sources) {
  process.exit(0);
}
process.stderr.write('memory: the build is missing or older than src/; building (npm run build)\n');
execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build'], {
  cwd: root,
  stdio: ['ignore', 'inherit', 'inherit'],
  shell: process.platform === 'win32',
});
