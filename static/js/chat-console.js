// The agents' chat console: the waiting list refreshed every few seconds with each wait
// counted live, "Take" and "Open" without leaving the page, conversations side by side (each
// one a chat.js conversation on its own socket). Without it the page is plain links and forms.
(function () {
  "use strict";

  var root = document.querySelector("[data-chat-console]");
  if (!root || !window.HelpdeskChat) {
    return;
  }
  var queue = root.querySelector("[data-chat-queue]");
  var panes = root.querySelector("[data-chat-panes]");
  var empty = root.querySelector("[data-chat-panes-empty]");
  var alertLine = root.querySelector("[data-console-alert]");
  var strings = JSON.parse(root.dataset.chatStrings || "{}");
  var refreshMs = Number(root.dataset.refreshSeconds || 5) * 1000;
  // The server's clock, not the browser's: waits are counted from the page's own "now".
  var skewMs = Date.parse(root.dataset.now) - Date.now() || 0;
  var lastQueue = queue.innerHTML;

  function two(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function waited(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    return h ? h + ":" + two(m) + ":" + two(s) : m + ":" + two(s);
  }

  function tick() {
    var now = Date.now() + skewMs;
    Array.prototype.forEach.call(queue.querySelectorAll("[data-since]"), function (el) {
      el.textContent = waited((now - Date.parse(el.dataset.since)) / 1000);
    });
  }

  function say(text) {
    alertLine.textContent = text || "";
  }

  function refresh() {
    return fetch(root.dataset.queueUrl, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.redirected) {
          // Logged out meanwhile: the login page, not a fragment.
          window.location.reload();
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html === null || html === lastQueue) {
          return;
        }
        // Keep the keyboard where it was when the row is still there.
        var focused = document.activeElement;
        var row = focused && queue.contains(focused) ? focused.closest("tr") : null;
        var ticket = row && row.dataset.ticket;
        var which = focused && (focused.matches("button") ? "button" : "a");
        lastQueue = html;
        queue.innerHTML = html;
        tick();
        if (ticket) {
          var again = queue.querySelector('tr[data-ticket="' + ticket + '"] ' + which);
          if (again) {
            again.focus();
          }
        }
      })
      .catch(function () {
        // Offline for a moment: the next round tries again.
      });
  }

  function schedule() {
    setTimeout(function () {
      (document.visibilityState === "visible" ? refresh() : Promise.resolve()).then(schedule);
    }, refreshMs);
  }

  function paneOf(ticketId) {
    return panes.querySelector('[data-chat-pane="' + ticketId + '"]');
  }

  function focusPane(pane) {
    var box = pane.querySelector("textarea") || pane.querySelector("h3 a");
    if (box) {
      box.focus();
    }
  }

  function openPane(ticketId) {
    var existing = paneOf(ticketId);
    if (existing) {
      focusPane(existing);
      return Promise.resolve();
    }
    var url = root.dataset.paneUrl.replace(/\/0\/$/, "/" + ticketId + "/");
    return fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok || response.redirected) {
          throw new Error(String(response.status));
        }
        return response.text();
      })
      .then(function (html) {
        if (paneOf(ticketId)) {
          return;
        }
        var holder = document.createElement("template");
        holder.innerHTML = html.trim();
        var pane = holder.content.firstElementChild;
        panes.insertBefore(pane, panes.firstChild);
        empty.hidden = true;
        window.HelpdeskChat.start(pane.querySelector("[data-chat]"));
        focusPane(pane);
      })
      .catch(function () {
        say(strings.error);
      });
  }

  queue.addEventListener("submit", function (event) {
    var form = event.target.closest("form[data-chat-take]");
    if (!form) {
      return;
    }
    event.preventDefault();
    var ticketId = form.closest("tr").dataset.ticket;
    var button = form.querySelector("button");
    button.disabled = true;
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) {
            throw new Error(body.detail || strings.error);
          }
          say("");
          // An open pane learns of its new assignee from its socket.
          return openPane(ticketId);
        });
      })
      .catch(function (error) {
        say(error.message || strings.error);
        button.disabled = false;
      })
      .then(refresh);
  });

  queue.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-chat-open]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) {
      return;
    }
    event.preventDefault();
    openPane(link.dataset.chatOpen);
  });

  panes.addEventListener("click", function (event) {
    var button = event.target.closest("[data-chat-close]");
    if (!button) {
      return;
    }
    var pane = button.closest("[data-chat-pane]");
    var live = pane.querySelector("[data-chat]");
    if (live && live.helpdeskChat) {
      live.helpdeskChat.stop();
    }
    pane.remove();
    empty.hidden = panes.children.length > 0;
    document.getElementById("chat-panes-title").focus();
  });

  tick();
  setInterval(tick, 1000);
  schedule();
})();
