/**
 * Runs the Chroma server as its child and ties its life to ours, and ours to our parent's.
 *
 * The Chroma CLI blocks its own event loop inside the native binding, so it cannot watch for its
 * parent's death itself, and Node offers no PR_SET_PDEATHSIG. This small process can: the parent
 * holds our stdin pipe open and never writes to it; when the parent dies, however it dies (even
 * SIGKILL), the pipe closes and we stop Chroma. Usage: supervisor.js <node> <chroma-cli> ...args
 */
import { spawn } from 'node:child_process';

const [, , nodePath, cliPath, ...args] = process.argv;
if (nodePath === undefined || cliPath === undefined) {
  process.stderr.write('usage: supervisor.js <node> <chroma-cli> [args...]\n');
  process.exit(2);
}

const child = spawn(nodePath, [cliPath, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
let stopping = false;

function stop(): void {
  if (stopping) return;
  stopping = true;
  child.kill('SIGTERM');
  setTimeout(() => child.kill('SIGKILL'), 3000).unref();
}

child.on('exit', (code, signal) => process.exit(stopping ? 0 : (code ?? (signal ? 1 : 0))));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.on('error', stop);
process.stdin.resume();
