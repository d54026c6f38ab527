// The dashboard's only script (served from /ui/static, no inline script anywhere): it reloads the
// fleet page every 15 s, and follows a run's live output through the dashboard's logs stream,
// reloading the page when the run ends so its result and receipt appear; a stream that closes for
// good (a server restart) is opened again after the last line shown. Output is added as text
// nodes, never as HTML.
"use strict";

(function () {
  // Pages that show live state (the fleet) ask to be reloaded every few seconds while visible.
  const refresh = document.querySelector("[data-refresh]");
  if (refresh) {
    const seconds = Math.max(5, Number(refresh.getAttribute("data-refresh")) || 15);
    setInterval(() => {
      if (document.visibilityState === "visible") window.location.reload();
    }, seconds * 1000);
  }
})();

(function () {
  const log = document.getElementById("log");
  if (!log) return;
  const stream = log.getAttribute("data-stream");
  const state = log.getAttribute("data-state") || "";
  const status = document.getElementById("log-state");
  const active = ["queued", "scheduled", "running"].indexOf(state) >= 0;
  const decoder = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  let cleared = false;

  function say(text) {
    if (status) status.textContent = text;
  }
  function append(chunk) {
    if (!cleared) {
      log.textContent = "";
      cleared = true;
    }
    const bytes = Uint8Array.from(atob(chunk.data), (c) => c.charCodeAt(0));
    const span = document.createElement("span");
    span.className = chunk.stream === "stderr" ? "stderr" : "stdout";
    span.textContent = decoder[chunk.stream === "stderr" ? "stderr" : "stdout"].decode(bytes, { stream: true });
    log.appendChild(span);
    log.setAttribute("data-chunks", String(Number(log.getAttribute("data-chunks") || "0") + 1));
  }

  if (!active) {
    // A finished run: the stored output once, no stream.
    fetch(stream.replace(/\/stream$/, ""), { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status))))
      .then((list) => {
        if (list.items.length === 0) log.textContent = "(no live output was stored for this run)";
        list.items.forEach(append);
        say("run " + list.state);
      })
      .catch((err) => say("could not read the output: " + err.message));
    return;
  }

  // Each chunk is shown once, in seq order: a resumed stream may replay what was already shown.
  let lastSeq = 0;
  let failures = 0;
  const MAX_FAILURES = 12;
  function follow() {
    // After a stream closed for good, a new one starts after the last line shown.
    const source = new EventSource(lastSeq > 0 ? stream + "?after=" + lastSeq : stream);
    source.addEventListener("open", () => {
      failures = 0;
      say("following…");
    });
    source.addEventListener("log", (e) => {
      const chunk = JSON.parse(e.data);
      if (typeof chunk.seq !== "number" || chunk.seq <= lastSeq) return;
      lastSeq = chunk.seq;
      append(chunk);
    });
    source.addEventListener("end", (e) => {
      source.close();
      const end = JSON.parse(e.data);
      say("run " + end.state + " — reloading for the result and receipt");
      log.setAttribute("data-ended", end.state);
      setTimeout(() => window.location.reload(), 800);
    });
    source.onerror = () => {
      // CONNECTING: the browser reconnects by itself (sending Last-Event-ID). CLOSED: it gave up
      // (an error answer, e.g. while the server restarts), so the page opens a new stream itself,
      // after a pause that grows, a bounded number of times.
      if (source.readyState !== EventSource.CLOSED) {
        say("reconnecting…");
        return;
      }
      failures++;
      if (failures > MAX_FAILURES) {
        say("the output stream closed (reload the page to try again)");
        return;
      }
      const delay = Math.min(10000, 500 * Math.pow(2, failures - 1));
      say("the output stream was interrupted; resuming in " + Math.ceil(delay / 1000) + " s…");
      log.setAttribute("data-resumes", String(Number(log.getAttribute("data-resumes") || "0") + 1));
      setTimeout(follow, delay);
    };
  }
  say("following…");
  follow();
})();
