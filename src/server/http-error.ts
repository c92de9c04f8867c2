/** An error with an HTTP status; the server's error handler turns it into `{error, code}` JSON. */
export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
    this.name = 'HttpError';
  }
}
