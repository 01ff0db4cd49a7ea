// The REST API, as any ThingsBoard client uses it: `X-Authorization: Bearer <JWT>`.

import { ApiError, DEFAULT_TIMEOUT_MS, errorMessage, fetchWithTimeout, readBody, withQuery } from "./http.js";
import * as session from "./session.js";

export { ApiError, withQuery };

async function send(method, path, body, timeoutMs, retried = false) {
  const headers = { "X-Authorization": `Bearer ${await session.token()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetchWithTimeout(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  }, timeoutMs);
  if (response.status === 401 && !retried) {
    // The token expired between the check and the answer (or the clocks differ): once more.
    await session.refresh();
    return send(method, path, body, timeoutMs, true);
  }
  if (!response.ok) throw new ApiError(response.status, await errorMessage(response));
  return readBody(response);
}

/** GET `path` with query parameters (empty ones left out). */
export function get(path, query = {}, timeoutMs = DEFAULT_TIMEOUT_MS) {
  return send("GET", withQuery(path, query), undefined, timeoutMs);
}

/** POST a JSON body (or none). */
export function post(path, body, timeoutMs = DEFAULT_TIMEOUT_MS) {
  return send("POST", path, body, timeoutMs);
}

/** DELETE `path`. */
export function del(path, query = {}) {
  return send("DELETE", withQuery(path, query));
}

/**
 * POST `file` as the multipart field `file`, reporting progress (0..1) as it uploads:
 * XMLHttpRequest, because fetch() cannot report upload progress.
 */
export async function upload(path, file, onProgress) {
  const bearer = await session.token();
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("X-Authorization", `Bearer ${bearer}`);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(xhr.responseText ? JSON.parse(xhr.responseText) : null);
      } else {
        const fake = new Response(xhr.responseText, { status: xhr.status });
        errorMessage(fake).then((message) => reject(new ApiError(xhr.status, message)));
      }
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "The upload failed: network error")));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "The upload was cancelled")));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

// -- small helpers for ThingsBoard's shapes -------------------------------------------------

/** `{"entityType": type, "id": id}`. */
export function entityId(entityType, id) {
  return { entityType, id };
}

const NULL_UUID = "13814000-1dd2-11b2-8080-808080808080";

/** The id inside an entity id object, or null for none / ThingsBoard's NULL_UUID. */
export function idOf(ref) {
  const id = ref && typeof ref === "object" ? ref.id : ref;
  return id && id !== NULL_UUID ? id : null;
}

/** Every item of a paged listing (`pageSize`/`page`), fetched page by page, up to `max`. */
export async function getAll(path, query = {}, max = 1000) {
  const items = [];
  for (let page = 0; items.length < max; page += 1) {
    const result = await get(path, { pageSize: 100, page, ...query });
    items.push(...result.data);
    if (!result.hasNext) break;
  }
  return items;
}
