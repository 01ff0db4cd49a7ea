// Live values of a device: pushed over the WebSocket, or, while it cannot connect (a proxy
// without the Upgrade headers, say), polled from the REST API every few seconds. Either way the
// callback gets ThingsBoard's WebSocket shape, `{key: [[ts, value], ...]}`.

import * as api from "./api.js";
import { telemetrySocket } from "./ws.js";

export const POLL_MS = 3000;
// A subscription that got no first frame by then is read once from the REST API, so a page
// never waits forever on a socket that opened but does not answer.
const FIRST_FRAME_MS = 8000;

const telemetryPath = (deviceId) => `/api/plugins/telemetry/DEVICE/${deviceId}`;

/** REST latest values `{key: [{ts, value}]}` in the WebSocket shape. */
function fromTimeseries(values) {
  const data = {};
  for (const [key, points] of Object.entries(values || {})) {
    data[key] = points.map((point) => [point.ts, point.value]);
  }
  return data;
}

/** REST attributes `[{key, value, lastUpdateTs}]` in the WebSocket shape. */
function fromAttributes(list) {
  const data = {};
  for (const item of list || []) data[item.key] = [[item.lastUpdateTs, item.value]];
  return data;
}

/**
 * Subscribe with `cmd` over the socket, polling with `poll()` while the socket is down.
 * `onData(data)`, `onError(error)`; returns the function that stops both.
 */
function liveSubscription(cmd, poll, onData, onError) {
  let timer = null;
  let stopped = false;
  let received = false;
  const deliver = (data) => {
    received = true;
    onData(data);
  };
  const pollOnce = async () => {
    try {
      const data = await poll();
      if (!stopped) deliver(data);
    } catch (error) {
      if (!stopped) onError(error);
    }
  };
  const firstFrame = setTimeout(() => {
    if (!received && !stopped) pollOnce();
  }, FIRST_FRAME_MS);
  const follow = (state) => {
    if (state === "down" && timer === null) {
      pollOnce();
      timer = setInterval(pollOnce, POLL_MS);
    } else if (state !== "down" && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  };
  const stopFollowing = telemetrySocket.onState(follow);
  const unsubscribe = telemetrySocket.subscribe(cmd, deliver, onError);
  follow(telemetrySocket.state);
  return () => {
    stopped = true;
    clearTimeout(firstFrame);
    stopFollowing();
    unsubscribe();
    if (timer !== null) clearInterval(timer);
  };
}

/** Every latest telemetry value of the device, then each new one. */
export function latestTelemetry(deviceId, onData, onError = () => {}) {
  return liveSubscription(
    { type: "TIMESERIES", entityType: "DEVICE", entityId: deviceId, scope: "LATEST_TELEMETRY" },
    async () => fromTimeseries(await api.get(`${telemetryPath(deviceId)}/values/timeseries`)),
    onData, onError);
}

/**
 * The device's attributes of one scope (CLIENT_SCOPE, SHARED_SCOPE, SERVER_SCOPE), optionally
 * only `keys`, then each change.
 */
export function attributes(deviceId, scope, keys, onData, onError = () => {}) {
  const cmd = { type: "ATTRIBUTES", entityType: "DEVICE", entityId: deviceId, scope };
  if (keys && keys.length) cmd.keys = keys.join(",");
  return liveSubscription(cmd,
    async () => fromAttributes(await api.get(`${telemetryPath(deviceId)}/values/attributes/${scope}`,
      { keys: keys && keys.length ? keys.join(",") : null })),
    onData, onError);
}

/** The device's state: `onState({active, lastActivityTime})` now and on every change. */
export function deviceState(deviceId, onState, onError = () => {}) {
  const state = { active: false, lastActivityTime: null };
  return attributes(deviceId, "SERVER_SCOPE", ["active", "lastActivityTime"], (data) => {
    if (data.active && data.active.length) state.active = String(data.active[0][1]) === "true";
    if (data.lastActivityTime && data.lastActivityTime.length) {
      state.lastActivityTime = Number(data.lastActivityTime[0][1]) || null;
    }
    onState({ ...state });
  }, onError);
}

/** Merge a frame into `{key: {ts, value}}`, keeping the newest value of each key. */
export function mergeLatest(latest, data) {
  const changed = [];
  for (const [key, points] of Object.entries(data)) {
    for (const [ts, value] of points) {
      const known = latest.get(key);
      if (!known || ts >= known.ts) {
        latest.set(key, { ts, value });
        changed.push(key);
      }
    }
  }
  return changed;
}
