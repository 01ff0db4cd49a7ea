// The login session. The access JWT lives in this module's memory only; the refresh token is
// an HttpOnly cookie that only /ui/session/* receives (see thingport/web/session.py), so a
// reload or an expired access token continues without the password.

import { ApiError, errorMessage, fetchWithTimeout, readBody } from "./http.js";

// Not a secret: it only says "a session cookie may exist", so that a first visit does not ask
// the server for a session it cannot have (which would be a 401 in the console).
const HINT_KEY = "thingport.session";
// Refresh this long before the access token expires, so no request is sent with a stale one.
const REFRESH_MARGIN_S = 5;
const HEADERS = { "Content-Type": "application/json", "X-Requested-With": "thingport" };

let accessToken = null;
let claims = null;
let refreshing = null;
const expiredListeners = new Set();

/** Decode a JWT's claims (no verification: the server checks every request). */
function decodeClaims(token) {
  const part = token.split(".")[1] || "";
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const json = new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));
  return JSON.parse(json);
}

function setToken(token) {
  accessToken = token;
  claims = token ? decodeClaims(token) : null;
  if (token) localStorage.setItem(HINT_KEY, "1");
  else localStorage.removeItem(HINT_KEY);
}

async function post(path, method, body) {
  const response = await fetchWithTimeout(path, {
    method, headers: HEADERS, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new ApiError(response.status, await errorMessage(response));
  return readBody(response);
}

/** The logged-in user, from the access token's claims; null when logged out. */
export function currentUser() {
  if (!claims) return null;
  const nullId = "13814000-1dd2-11b2-8080-808080808080";
  return {
    email: claims.sub,
    authority: (claims.scopes || [])[0],
    userId: claims.userId,
    tenantId: claims.tenantId !== nullId ? claims.tenantId : null,
    customerId: claims.customerId !== nullId ? claims.customerId : null,
    firstName: claims.firstName || "",
    lastName: claims.lastName || "",
  };
}

/** Log in; throws an ApiError with the server's message (wrong password: 401). */
export async function login(username, password) {
  const body = await post("/ui/session", "POST", { username, password });
  setToken(body.token);
  return currentUser();
}

/** Continue the session of a previous page load, if its cookie is still valid. */
export async function restore() {
  if (!localStorage.getItem(HINT_KEY)) return null;
  try {
    await refresh();
    return currentUser();
  } catch {
    return null;
  }
}

/** A new access token from the session cookie; on failure the session is over. */
export function refresh() {
  if (!refreshing) {
    refreshing = post("/ui/session/token", "POST")
      .then((body) => setToken(body.token))
      .catch((error) => {
        const wasLoggedIn = accessToken !== null;
        setToken(null);
        if (wasLoggedIn) for (const listener of expiredListeners) listener();
        throw error.status === 401 ? new ApiError(401, "Your session has expired") : error;
      })
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

/** A valid access token, refreshed first when it is about to expire. */
export async function token() {
  if (!accessToken) throw new ApiError(401, "Not logged in");
  if (claims.exp - Date.now() / 1000 < REFRESH_MARGIN_S) await refresh();
  return accessToken;
}

/** Log out: forget the token here and the cookie on the server. */
export async function logout() {
  setToken(null);
  await post("/ui/session", "DELETE").catch(() => null);
}

/** Call `listener` when a logged-in session ends because it could not be refreshed. */
export function onExpired(listener) {
  expiredListeners.add(listener);
}
