// fetch() with a deadline and ThingsBoard's error bodies turned into readable errors. No load
// may spin forever: every request is aborted after its timeout and reported as such.

export const DEFAULT_TIMEOUT_MS = 20000;

/** A failed request: `status` (0 for network errors and timeouts) and the server's message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

/** `path?query` with the null, undefined and empty-string parameters left out. */
export function withQuery(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(key, String(value));
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** The message of a ThingsBoard error body (`{"message": ...}`), else the status text. */
export async function errorMessage(response) {
  const text = await response.text().catch(() => "");
  try {
    const body = JSON.parse(text);
    if (body && typeof body.message === "string" && body.message) return body.message;
  } catch {
    // not JSON: fall through to the text itself
  }
  return text.trim().slice(0, 300) || `${response.status} ${response.statusText}`;
}

/**
 * fetch(url, options), aborted after `timeoutMs`; a network failure or timeout becomes an
 * ApiError with status 0. Answers that are not 2xx are returned, not thrown.
 */
export async function fetchWithTimeout(url, options = {}, timeoutMs = DEFAULT_TIMEOUT_MS) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    return await fetch(url, { ...options, signal: controller.signal });
  } catch (error) {
    if (controller.signal.aborted) {
      throw new ApiError(0, `The server did not answer within ${Math.round(timeoutMs / 1000)} s`);
    }
    throw new ApiError(0, `Cannot reach the server (${error.message})`);
  } finally {
    clearTimeout(timer);
  }
}

/** The body of a 2xx answer: parsed JSON, text, or null when empty. */
export async function readBody(response) {
  const text = await response.text();
  if (!text) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? JSON.parse(text) : text;
}
