// RFC 9457 problem documents, as every error of the API is one (docs/api.md, "Errors").

export interface FieldError {
  pointer: string;
  detail: string;
}

export interface ProblemBody {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: FieldError[];
}

/** A refused request: what the server said, ready to show. */
export class ApiProblem extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly errors: FieldError[];
  readonly type: string;

  constructor(status: number, body: ProblemBody | null, fallback: string) {
    const detail = body?.detail || body?.title || fallback;
    super(detail);
    this.name = "ApiProblem";
    this.status = status;
    this.title = body?.title ?? `HTTP ${status}`;
    this.detail = detail;
    this.errors = Array.isArray(body?.errors) ? body.errors : [];
    this.type = body?.type ?? "";
  }
}

/** What to show for any error: a problem's detail, or the error's message. */
export function errorText(error: unknown): string {
  if (error instanceof ApiProblem) return error.detail;
  if (error instanceof Error) return error.message;
  return String(error);
}
