/** Typed errors: every failure a user can see carries a stable code and, where known, the file. */
export type ErrorCode =
  | 'E_USAGE'
  | 'E_PIPELINE_INVALID'
  | 'E_PIPELINE_CYCLE'
  | 'E_UNKNOWN_STAGE_KIND'
  | 'E_STAGE_FAILED'
  | 'E_WAV_INVALID'
  | 'E_WAV_UNSUPPORTED'
  | 'E_WAV_TRUNCATED'
  | 'E_AUDIO_NON_FINITE'
  | 'E_INPUT_MISSING'
  | 'E_CACHE_CORRUPT'
  | 'E_CACHE_WRITE'
  | 'E_UNSAFE_PATH'
  | 'E_NOT_FOUND'
  | 'E_DOWNLOAD'
  | 'E_MODEL'
  | 'E_REGISTRY_INVALID'
  | 'E_INTERRUPTED'
  /** The shared S3-compatible cache: missing bucket, rejected credentials, unreachable endpoint. */
  | 'E_CACHE_REMOTE'
  /** The Redis queue of stage workers: unreachable, or a job refused/lost. */
  | 'E_QUEUE';

export class EmopipeError extends Error {
  readonly code: ErrorCode;
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  constructor(code: ErrorCode, message: string, opts: { file?: string; line?: number; column?: number; cause?: unknown } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'EmopipeError';
    this.code = code;
    this.file = opts.file;
    this.line = opts.line;
    this.column = opts.column;
  }

  /** `file:line:col: message` as compilers print it. */
  format(): string {
    let where = '';
    if (this.file) {
      where = this.file;
      if (this.line !== undefined) where += `:${this.line}` + (this.column !== undefined ? `:${this.column}` : '');
      where += ': ';
    }
    return `${where}${this.message}`;
  }
}

export function isEmopipeError(e: unknown): e is EmopipeError {
  return e instanceof EmopipeError;
}

/** A message for any thrown value, without a stack trace. */
export function errorMessage(e: unknown): string {
  if (e instanceof EmopipeError) return e.format();
  if (e instanceof Error) return e.message;
  return String(e);
}
