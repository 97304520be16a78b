// The WebSocket to the gateway: join, clock sync, keep-alive and reconnection.
//
// docs/protocol.md is the reference; this module does the parts every app needs and hands
// each decoded message to `onMessage`. Nothing here knows about questions or screens.
//
// - Join: the token goes in a first `join` message (it stays out of the gateway's URL
//   logs), unless the WebSocket URL already carries ?token=, where the gateway joins at once.
// - Clock: `ping {t}` right after connecting and every 20 s (which also keeps the connection
//   from going idle); on `pong`, rtt = now - t and offset = server_time - (t + now) / 2. The
//   sample with the smallest rtt among the last five wins. serverNow() = Date.now() + offset.
// - Reconnect: close codes 4500-4999 (a bad or used-up token, another tab took over, the
//   contest is gone), 1007 and 1009 are final; any other close reconnects after a growing,
//   jittered back-off (1 s, 2 s, 4 s ... 15 s), at once when the browser comes back online.

const PING_MS = 20000;
const SAMPLES = 5;

export class Connection {
  /**
   * @param {string} url the contest's WebSocket URL (ws://host:port/ws/<contest>)
   * @param {string} token the member's join token
   * @param {{onMessage: function(object): void, onStatus: function(string, number=): void}} hooks
   *   onStatus gets "connecting", "open", "retrying" (with the delay in ms) or "stopped"
   *   (with the close code).
   */
  constructor(url, token, hooks) {
    this.url = url;
    this.token = token;
    this.hooks = hooks;
    this.ws = null;
    this.offset = 0;
    this.samples = [];
    this.failures = 0;
    this.stopped = false;
    this.timer = null;
    this.retry = null;
    window.addEventListener("online", () => this.reconnectNow());
  }

  /** The server's clock now, in ms since the epoch (see the module comment). */
  serverNow() {
    return Date.now() + this.offset;
  }

  /** True while the socket is open. */
  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  connect() {
    clearTimeout(this.retry);
    this.hooks.onStatus("connecting");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      if (!new URL(this.url).searchParams.has("token")) {
        ws.send(JSON.stringify({ type: "join", token: this.token }));
      }
      this.ping();
      this.timer = setInterval(() => this.ping(), PING_MS);
    };
    ws.onmessage = (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return; // the gateway sends only JSON; ignore anything else
      }
      if (message.type === "pong") this.sample(message);
      if (message.type === "welcome") {
        this.failures = 0;
        if (!this.samples.length) this.offset = message.server_time - Date.now();
        this.hooks.onStatus("open");
      }
      this.hooks.onMessage(message);
    };
    ws.onclose = (event) => {
      clearInterval(this.timer);
      if (this.ws !== ws) return; // an older socket we replaced
      this.ws = null;
      const code = event.code;
      const final = (code >= 4500 && code <= 4999) || code === 1007 || code === 1009;
      if (final || this.stopped) {
        this.stopped = true;
        this.hooks.onStatus("stopped", code);
        return;
      }
      const delay = Math.min(15000, 1000 * 2 ** this.failures) * (0.75 + Math.random() / 2);
      this.failures += 1;
      this.hooks.onStatus("retrying", delay);
      this.retry = setTimeout(() => this.connect(), delay);
    };
  }

  /** Reconnect at once if we are waiting to (the network came back, say). */
  reconnectNow() {
    if (!this.stopped && this.ws === null) this.connect();
  }

  /** Send one message; false if the socket is not open (the caller keeps it for later). */
  send(message) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  ping() {
    this.send({ type: "ping", t: Date.now() });
  }

  sample(pong) {
    const now = Date.now();
    const rtt = now - pong.t;
    this.samples.push({ rtt, offset: pong.server_time - (pong.t + now) / 2 });
    this.samples = this.samples.slice(-SAMPLES);
    this.offset = this.samples.reduce((a, b) => (b.rtt < a.rtt ? b : a)).offset;
  }
}
