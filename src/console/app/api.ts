/**
 * The console's HTTP client: the token goes in the Authorization header (never in a URL the
 * browser might log or send as a referrer). Errors carry the server's status, code and reason.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** What the console shows for a failed call: the server's code (without VIGIL_ERR_) and reason. */
export function errorText(e: unknown): string {
  return e instanceof ApiError ? `${e.code.replace(/^VIGIL_ERR_/, '')}: ${e.message}` : (e as Error).message;
}

interface ErrorBody {
  readonly code?: string;
  readonly message?: string;
  readonly reason?: string;
  readonly error?: string | { readonly code?: string; readonly message?: string };
}

async function failure(res: Response): Promise<ApiError> {
  let body: ErrorBody = {};
  try {
    body = (await res.json()) as ErrorBody;
  } catch {
    // not JSON: the status says enough
  }
  const inner = typeof body.error === 'object' ? body.error : undefined;
  const code = inner?.code ?? body.code ?? `HTTP_${res.status}`;
  const message = inner?.message ?? (typeof body.error === 'string' ? body.error : undefined) ?? body.message ?? body.reason ?? res.statusText;
  return new ApiError(res.status, code, message);
}

export class Api {
  constructor(readonly token: string) {}

  async get<T>(path: string): Promise<T> {
    const res = await fetch(path, { headers: { authorization: `Bearer ${this.token}` }, cache: 'no-store' });
    if (!res.ok) throw await failure(res);
    return (await res.json()) as T;
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.send<T>('POST', path, body);
  }

  /** A write: JSON body (if any) in, JSON answer out; a refusal throws the server's code and reason. */
  async send<T>(method: 'POST' | 'PATCH' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const res = await fetch(path, {
      method,
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw await failure(res);
    return (await res.json()) as T;
  }
}

/** A list endpoint may answer a bare array or `{ <key>: [...] }`. */
export function listOf<T>(body: unknown, key: string): T[] {
  if (Array.isArray(body)) return body as T[];
  const inner = (body as Record<string, unknown> | null)?.[key];
  return Array.isArray(inner) ? (inner as T[]) : [];
}
