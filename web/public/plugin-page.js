/*
 * plugin-page.js: the client for a plugin's page shown in the plugboard console.
 *
 * The console shows a plugin's page in a sandboxed frame (an opaque origin: no cookies, no
 * storage, no access to the console). This script talks to the console over postMessage
 * (docs/plugin-pages.md):
 *
 *   plugboard.onInit(function (context) { ... });  // {plugin, page, access, tenant, theme}
 *   plugboard.ready();                             // say so within 10 s of loading
 *   plugboard.fetch("/deliveries?limit=20")        // a request to this plugin's routes,
 *     .then(function (response) { return response.json(); });  // made with the user's token
 *   plugboard.navigate("/jobs/42");                // open a console page
 *   plugboard.resize();                            // automatic on layout changes
 *
 * Errors (window.onerror, unhandled rejections) are reported to the console, which shows them.
 */
(function () {
  "use strict";
  if (window.plugboard) return;

  var PROTOCOL = 1;
  var parent = window.parent;
  var pending = {};
  var nextId = 1;
  var initHandlers = [];
  var context = null;
  var lastHeight = -1;

  function send(message) {
    message.plugboard = PROTOCOL;
    // The console's origin is not ours to know from an opaque origin: "*" is the only target,
    // and nothing sent here is secret.
    parent.postMessage(message, "*");
  }

  window.addEventListener("message", function (event) {
    if (event.source !== parent) return;
    var message = event.data;
    if (!message || typeof message !== "object" || message.plugboard !== PROTOCOL) return;
    if (message.type === "init") {
      context = {
        version: message.version,
        plugin: message.plugin,
        page: message.page,
        access: message.access,
        tenant: message.tenant,
        theme: message.theme
      };
      document.documentElement.setAttribute("data-theme", context.theme);
      for (var i = 0; i < initHandlers.length; i++) callSafely(initHandlers[i], context);
    } else if (message.type === "response") {
      var waiter = pending[message.id];
      if (!waiter) return;
      delete pending[message.id];
      if (message.error) {
        waiter.reject(new Error(message.error));
      } else {
        var body = typeof message.body === "string" ? message.body : "";
        waiter.resolve({
          status: message.status,
          ok: message.status >= 200 && message.status < 300,
          headers: message.headers || {},
          body: body,
          json: function () {
            return JSON.parse(body);
          }
        });
      }
    }
  });

  function callSafely(callback, value) {
    try {
      callback(value);
    } catch (error) {
      report(error);
    }
  }

  function report(error) {
    var text = error && error.message ? error.message : String(error);
    send({ type: "error", message: text });
  }

  function measure() {
    var body = document.body;
    var root = document.documentElement;
    return Math.max(body ? body.scrollHeight : 0, root.scrollHeight, body ? body.offsetHeight : 0);
  }

  function resize() {
    var height = measure();
    if (height === lastHeight) return;
    lastHeight = height;
    send({ type: "resize", height: height });
  }

  var plugboard = {
    /** Tells the console the page is up; it answers with `init`. */
    ready: function () {
      send({ type: "ready" });
      resize();
    },
    /** Calls back with the console's context now (if known) and on every change (theme). */
    onInit: function (callback) {
      initHandlers.push(callback);
      if (context) callSafely(callback, context);
    },
    /** The last context the console sent, or null before the first `init`. */
    context: function () {
      return context;
    },
    /**
     * A request to this plugin's routes: `path` is below /plugins/{plugin}, e.g. "/items?x=1".
     * `init` takes method, headers and body (a string). Resolves with {status, ok, headers,
     * body, json()}; rejects when the console refuses the request or it fails.
     */
    fetch: function (path, init) {
      init = init || {};
      var id = "r" + nextId++;
      return new Promise(function (resolve, reject) {
        pending[id] = { resolve: resolve, reject: reject };
        send({
          type: "fetch",
          id: id,
          method: init.method || "GET",
          path: path,
          headers: init.headers,
          body: init.body
        });
      });
    },
    /** Opens a console page, e.g. "/jobs/42". */
    navigate: function (to) {
      send({ type: "navigate", to: to });
    },
    /** Reports the page's height; called by itself when the layout changes. */
    resize: resize,
    /** Reports an error, which the console shows in the page's place. */
    error: function (message) {
      send({ type: "error", message: String(message) });
    }
  };
  window.plugboard = plugboard;

  window.addEventListener("error", function (event) {
    report(event.error || event.message);
  });
  window.addEventListener("unhandledrejection", function (event) {
    report(event.reason);
  });

  function observe() {
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(resize).observe(document.documentElement);
      if (document.body) new ResizeObserver(resize).observe(document.body);
    } else {
      window.addEventListener("resize", resize);
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", observe);
  else observe();
})();
