// graphc serve: the page follows the file.  It asks the server for the model's data with the
// version it has; the server answers when the file has changed (or after a while with 204,
// and the page asks again), and the page redraws in place (graphcUpdate in viz.js keeps the
// view).  The server's answer is JSON, read with response.json(): never markup.
"use strict";

(function () {
  const cfg = JSON.parse(document.getElementById("graphc-live").textContent);
  let version = cfg.version, failures = 0;
  const status = document.createElement("div");
  status.id = "live";
  document.getElementById("side").prepend(status);
  const say = (text, cls) => { status.textContent = text; status.className = cls || ""; };
  say("live: following the file");
  async function poll() {
    try {
      const r = await fetch(cfg.data + "?have=" + version, {cache: "no-store"});
      if (r.status === 200) {
        const msg = await r.json();
        version = msg.version;
        window.graphcUpdate(msg.data);
        const t = new Date().toLocaleTimeString();
        say("live: updated at " + t + (msg.data.diags.some((d) => d.sev === "error") ? " (errors)" : ""));
      } else if (r.status !== 204) {
        throw new Error("status " + r.status);
      } else if (failures) say("live: following the file");
      failures = 0;
    } catch (e) {
      failures++;
      say("live: the server does not answer (is graphc serve still running?)", "down");
    }
    setTimeout(poll, failures ? Math.min(5000, 250 * 2 ** failures) : 50);
  }
  poll();
})();
