/**
 * The HTTP API's route contract. Each feature (events, cameras, subjects and lists, sinks, audit,
 * search) contributes routes; the broadcast server's router matches method and path, checks the
 * caller's role, parses JSON bodies with a size limit and turns thrown VigilErrors into JSON errors.
 */

/** viewer ⊂ operator ⊂ admin: a role may do everything the roles before it may. */
export type Role = 'viewer' | 'operator' | 'admin';
export const roles = ['viewer', 'operator', 'admin'] as const satisfies readonly Role[];

/** Who made a request: the role and the token's label (e.g. "operator:night-desk"), never the token. */
export interface Actor {
  readonly role: Role;
  readonly name: string;
}

export interface ApiRequest {
  readonly method: string;
  /** Path parameters by name (`/api/events/:id` → `{ id }`), URL-decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** Parsed JSON body (undefined when none); uploads of photos arrive base64 in JSON. */
  readonly body: unknown;
  readonly actor: Actor;
}

export interface ApiResponse {
  readonly status: number;
  /** Serialised as JSON unless `raw` is set. */
  readonly body?: unknown;
  readonly raw?: { readonly contentType: string; readonly data: Uint8Array | string };
  readonly headers?: Readonly<Record<string, string>>;
}

export interface ApiRoute {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Express-style pattern: `/api/subjects/:id`. */
  readonly path: string;
  /** The least role allowed. */
  readonly role: Role;
  handle(req: ApiRequest): Promise<ApiResponse> | ApiResponse;
}
