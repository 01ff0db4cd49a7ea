// ThingsBoard's telemetry WebSocket API at /api/ws, as ThingsBoard's own UI speaks it: one
// socket per tab, `{"authCmd": {"cmdId": 0, "token": JWT}, "cmds": [...]}` as the first frame,
// legacy TIMESERIES / ATTRIBUTES commands whose replies carry `subscriptionId` = our cmdId and
// `data: {key: [[ts, "value"], ...]}`. A lost connection is retried with a backoff of 2 s
// doubling to 60 s, and every subscription is sent again once it is back.

import * as session from "./session.js";

const FIRST_RETRY_MS = 2000;
const MAX_RETRY_MS = 60000;
// ThingsBoard's server takes at most 10 commands per frame.
const CMDS_PER_FRAME = 10;
// A socket not open after this long (a proxy holding the upgrade) counts as failed.
const CONNECT_TIMEOUT_MS = 10000;
// Closed this long after the last subscriber left, so moving between tabs keeps the socket.
const IDLE_CLOSE_MS = 30000;

/** Connection states: "idle" (no socket), "connecting", "open", "down" (failed, retrying). */
class TelemetrySocket {
  constructor() {
    this.subscriptions = new Map();
    this.nextCmdId = 1;
    this.state = "idle";
    this.socket = null;
    this.retryMs = FIRST_RETRY_MS;
    this.retryTimer = null;
    this.idleTimer = null;
    this.listeners = new Set();
  }

  /**
   * Subscribe with a command without cmdId (`{type, entityType, entityId, scope, keys?}`);
   * `onData(data, frame)` gets each frame's data. Returns the function that unsubscribes.
   */
  subscribe(cmd, onData, onError = () => {}) {
    const cmdId = this.nextCmdId++;
    this.subscriptions.set(cmdId, { cmd: { ...cmd, cmdId }, onData, onError });
    clearTimeout(this.idleTimer);
    if (this.state === "open") this.sendCmds([{ ...cmd, cmdId }]);
    else if (this.state === "idle") this.connect();
    return () => this.unsubscribe(cmdId);
  }

  unsubscribe(cmdId) {
    const sub = this.subscriptions.get(cmdId);
    if (!sub) return;
    this.subscriptions.delete(cmdId);
    if (this.state === "open") this.sendCmds([{ ...sub.cmd, unsubscribe: true }]);
    if (this.subscriptions.size === 0) {
      this.idleTimer = setTimeout(() => this.disconnect(), IDLE_CLOSE_MS);
    }
  }

  /** Call `listener(state)` on every state change; returns the function that stops it. */
  onState(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    for (const listener of this.listeners) listener(state);
  }

  async connect() {
    clearTimeout(this.retryTimer);
    this.setState("connecting");
    let bearer;
    try {
      bearer = await session.token();
    } catch {
      this.setState("idle"); // logged out: nothing to connect for
      return;
    }
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let socket;
    try {
      socket = new WebSocket(`${scheme}//${location.host}/api/ws`);
    } catch {
      this.failed();
      return;
    }
    this.socket = socket;
    const connectTimer = setTimeout(() => socket.close(), CONNECT_TIMEOUT_MS);
    socket.addEventListener("open", () => {
      clearTimeout(connectTimer);
      if (this.socket !== socket) return;
      this.retryMs = FIRST_RETRY_MS;
      this.setState("open");
      const cmds = [...this.subscriptions.values()].map((sub) => sub.cmd);
      socket.send(JSON.stringify({ authCmd: { cmdId: 0, token: bearer }, cmds: cmds.slice(0, CMDS_PER_FRAME) }));
      this.sendCmds(cmds.slice(CMDS_PER_FRAME));
    });
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", () => {
      clearTimeout(connectTimer);
      if (this.socket === socket) this.failed();
    });
  }

  failed() {
    this.socket = null;
    if (this.subscriptions.size === 0) {
      this.setState("idle");
      return;
    }
    this.setState("down");
    this.retryTimer = setTimeout(() => this.connect(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
  }

  disconnect() {
    clearTimeout(this.retryTimer);
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close(1000);
    this.setState("idle");
  }

  sendCmds(cmds) {
    for (let i = 0; i < cmds.length; i += CMDS_PER_FRAME) {
      this.socket.send(JSON.stringify({ cmds: cmds.slice(i, i + CMDS_PER_FRAME) }));
    }
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      console.warn("WebSocket frame that is not JSON", text);
      return;
    }
    const sub = this.subscriptions.get(frame.subscriptionId ?? frame.cmdId);
    if (!sub) return; // a late frame of a subscription already cancelled
    if (frame.errorCode) sub.onError(new Error(frame.errorMsg || `error ${frame.errorCode}`));
    else sub.onData(frame.data || {}, frame);
  }
}

/** The page's one socket. */
export const telemetrySocket = new TelemetrySocket();
