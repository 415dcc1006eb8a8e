/**
 * Waiting for the services a process needs at start (Postgres, the vector index). Containers
 * start in any order and a database restarts now and then, so `memory serve` and `memory work`
 * retry an unreachable service with a capped, jittered backoff, log every wait, and give up only
 * after STARTUP_TIMEOUT_SECONDS with one line that says what was unreachable and what to do.
 * Errors that waiting cannot fix (a wrong password, a missing database, another embedding space)
 * end the start at once.
 *
 * The alternative, exiting and letting the container runtime restart the process, was what the
 * worker did: under `restart: unless-stopped` it came back, but elsewhere (systemd without
 * Restart=, a plain shell) the worker pool silently shrank during every Postgres restart.
 */
import { AppError, describeError, networkErrorCode } from './errors.js';

/** What a process is waiting for, as /health reports it while the server starts. */
export interface StartupStatus {
  waitingFor: string | undefined;
  attempts: number;
  /** Seconds since the process started waiting. */
  waitedSeconds: number;
  /** Seconds left before the start is given up. */
  givesUpInSeconds: number;
  lastError: string | undefined;
}

interface Logger {
  warn(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
}

/** One start-up: a deadline shared by every service waited for, and what is waited for now. */
export class Startup {
  private readonly startedAt = Date.now();
  private readonly deadline: number;
  private waitingFor: string | undefined;
  private attempts = 0;
  private lastError: string | undefined;

  constructor(
    readonly timeoutSeconds: number,
    private readonly logger: Logger,
    private readonly sleep: (ms: number) => Promise<void> = (ms) =>
      new Promise((resolveSleep) => setTimeout(resolveSleep, ms)),
  ) {
    this.deadline = this.startedAt + timeoutSeconds * 1000;
  }

  status(): StartupStatus {
    const now = Date.now();
    return {
      waitingFor: this.waitingFor,
      attempts: this.attempts,
      waitedSeconds: Math.round((now - this.startedAt) / 1000),
      givesUpInSeconds: Math.max(0, Math.round((this.deadline - now) / 1000)),
      lastError: this.lastError,
    };
  }

  /**
   * Runs `attempt` until it succeeds, retrying while its error is transient and the deadline is
   * ahead. `service` names what is waited for in logs and in the final error (`postgres`).
   */
  async waitFor<T>(service: string, hint: string, attempt: () => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        const value = await attempt();
        if (tries > 1) this.logger.info(`${service} is reachable`, { attempts: tries });
        this.waitingFor = undefined;
        this.lastError = undefined;
        return value;
      } catch (error) {
        if (!isTransientStartupError(error)) throw error;
        const reason = describeError(error);
        const left = this.deadline - Date.now();
        if (left <= 0) {
          throw new AppError(
            'SERVICE_UNAVAILABLE',
            `${service} was still unreachable after ${this.timeoutSeconds} s of retries ` +
              `(STARTUP_TIMEOUT_SECONDS=${this.timeoutSeconds}): ${reason}. ${hint}`,
            // No cause: the reason is in the message, and describeError would print the cause's.
            { details: { service, attempts: tries } },
          );
        }
        this.waitingFor = service;
        this.attempts = tries;
        this.lastError = reason;
        const delay = Math.min(left, backoffMs(tries));
        this.logger.warn(`Waiting for ${service}`, {
          attempt: tries,
          retry_in_ms: delay,
          gives_up_in_s: Math.ceil(left / 1000),
          error: reason,
        });
        await this.sleep(delay);
      }
    }
  }
}

/** 250 ms doubling to a 5 s cap, each wait drawn from its upper half so that replicas spread. */
export function backoffMs(attempt: number): number {
  const ceiling = Math.min(5000, 250 * 2 ** Math.min(attempt - 1, 10));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

// postgres.js's own codes for a connection that failed or went away.
const POSTGRES_CONNECTION_CODES = new Set([
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
]);

/**
 * Whether waiting may fix `error`: a refused or reset connection, a server starting up or
 * shutting down (SQLSTATE classes 08 and 57P), too many connections (53300), or one of our
 * errors flagged transient (Chroma unreachable).
 */
export function isTransientStartupError(error: unknown): boolean {
  if (error instanceof AppError) return error.transient;
  if (networkErrorCode(error) !== undefined) return true;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  return POSTGRES_CONNECTION_CODES.has(code) || /^(08|57P)/.test(code) || code === '53300';
}
