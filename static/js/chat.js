// The live conversation (API.md, "Live chat"): a WebSocket on top of pages that work without
// it. The thread and the reply form stay plain HTML; while the socket is up, sending goes
// through it and new messages appear as they arrive. Strings come translated from the page
// (data-chat-strings), markup from its <template data-chat-message>.
(function () {
  "use strict";

  var BACKOFF_FIRST_MS = 1000;
  var BACKOFF_MAX_MS = 30000;
  // Attempts that never opened before we decide sockets are not available here.
  var ATTEMPTS_BEFORE_PLAIN = 4;
  // An open socket counts as healthy (the backoff starts over) after this long.
  var STABLE_MS = 5000;
  var TYPING_SEND_EVERY_MS = 3000;
  var TYPING_SHOWN_MS = 6000;
  var CLOSE_FORBIDDEN = 4403;

  function newClientId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // RFC 4122 version 4 from random bytes (randomUUID needs a secure context).
    var bytes = new Uint8Array(16);
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < 16; i++) {
        bytes[i] = Math.floor(Math.random() * 256);
      }
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map
      .call(bytes, function (b) {
        return (b + 0x100).toString(16).slice(1);
      })
      .join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  // Exponential backoff with jitter: half fixed, half random, so that the clients of a
  // restarted server come back spread out rather than all at once.
  function backoffDelay(attempt) {
    var cap = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * Math.pow(2, attempt));
    return cap / 2 + Math.random() * (cap / 2);
  }

  function socketUrl(path) {
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + window.location.host + path;
  }

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : whole;
    });
  }

  // Text with its line breaks, never markup.
  function setMultiline(element, text) {
    element.textContent = "";
    String(text)
      .split(/\r\n|\r|\n/)
      .forEach(function (line, index) {
        if (index > 0) {
          element.appendChild(document.createElement("br"));
        }
        element.appendChild(document.createTextNode(line));
      });
  }

  function messageIdOf(element) {
    var match = /^message-(\d+)$/.exec(element.id);
    return match ? Number(match[1]) : 0;
  }

  function Conversation(root) {
    var data = root.dataset;
    this.root = root;
    this.strings = JSON.parse(data.chatStrings || "{}");
    this.me = Number(data.chatUser);
    // "portal": the customer's page shows no internal notes; "desk": the agents' console.
    this.view = data.chatView || "portal";
    this.url = socketUrl(data.chatSocket);
    this.thread = document.querySelector(data.chatThread);
    this.form = data.chatForm ? document.querySelector(data.chatForm) : null;
    this.template = root.querySelector("template[data-chat-message]");
    this.statusLine = root.querySelector("[data-chat-status]");
    this.typingLine = root.querySelector("[data-chat-typing]");
    this.presenceLine = root.querySelector("[data-chat-presence]");
    this.alertLine = root.querySelector("[data-chat-alert]");
    this.ticketStatus = data.chatTicketStatus ? document.querySelector(data.chatTicketStatus) : null;
    this.statusClass = data.chatStatusClass || "";
    this.assigneeLine = data.chatAssignee ? document.querySelector(data.chatAssignee) : null;
    this.lastId = 0;
    this.lastReadSent = 0;
    this.lastTypingSent = 0;
    this.pending = [];
    this.socket = null;
    this.attempt = 0;
    this.everOpen = false;
    this.stopped = false;
    this.timers = {};
    if (!this.thread) {
      return;
    }
    var self = this;
    Array.prototype.forEach.call(this.thread.querySelectorAll('[id^="message-"]'), function (el) {
      self.lastId = Math.max(self.lastId, messageIdOf(el));
    });
    // Read receipts name the last message someone else wrote (data-chat-incoming picks those
    // out of the page's own markup), never one's own.
    this.lastIncomingId = 0;
    if (data.chatIncoming) {
      Array.prototype.forEach.call(this.thread.querySelectorAll(data.chatIncoming), function (el) {
        self.lastIncomingId = Math.max(self.lastIncomingId, messageIdOf(el));
      });
    }
    // Set now, before anything arrives, so that screen readers announce what is added.
    this.thread.setAttribute("aria-live", "polite");
    this.thread.setAttribute("aria-relevant", "additions");
    if (typeof window.WebSocket !== "function") {
      this.plain(this.strings.unavailable);
      return;
    }
    this.bindForm();
    this.onVisible = function () {
      if (document.visibilityState === "visible") {
        self.sendRead();
      }
    };
    this.onOnline = function () {
      if (!self.socket && !self.stopped && self.timers.reconnect) {
        clearTimeout(self.timers.reconnect);
        self.connect();
      }
    };
    document.addEventListener("visibilitychange", this.onVisible);
    window.addEventListener("online", this.onOnline);
    this.connect();
  }

  Conversation.prototype.say = function (element, text) {
    // Live regions stay in the page and are only emptied: a region that appears with its
    // text is not reliably announced.
    if (element) {
      element.textContent = text || "";
    }
  };

  Conversation.prototype.isOpen = function () {
    return this.socket !== null && this.socket.readyState === window.WebSocket.OPEN;
  };

  Conversation.prototype.connect = function () {
    var self = this;
    this.timers.reconnect = null;
    if (this.stopped) {
      return;
    }
    var url = this.url + (this.lastId ? "?after=" + this.lastId : "");
    var socket;
    try {
      socket = new window.WebSocket(url);
    } catch (error) {
      this.plain(this.strings.unavailable);
      return;
    }
    this.socket = socket;
    this.root.setAttribute("data-chat-state", "connecting");
    socket.onopen = function () {
      self.everOpen = true;
      self.root.setAttribute("data-chat-state", "live");
      self.say(self.statusLine, self.strings.live);
      self.timers.stable = setTimeout(function () {
        self.attempt = 0;
      }, STABLE_MS);
      // Resend what was typed while away: the client_id makes a second copy harmless.
      self.pending.forEach(function (item) {
        self.transmit(item);
      });
      self.sendRead();
    };
    socket.onmessage = function (event) {
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (error) {
        return;
      }
      self.receive(frame);
    };
    socket.onclose = function (event) {
      clearTimeout(self.timers.stable);
      if (self.socket === socket) {
        self.socket = null;
      }
      if (self.stopped) {
        return;
      }
      if (event.code === CLOSE_FORBIDDEN) {
        self.plain(self.strings.forbidden);
        return;
      }
      if (!self.everOpen && self.attempt + 1 >= ATTEMPTS_BEFORE_PLAIN) {
        self.plain(self.strings.unavailable);
        return;
      }
      self.root.setAttribute("data-chat-state", "reconnecting");
      self.say(self.statusLine, self.everOpen ? self.strings.reconnecting : self.strings.connecting);
      self.timers.reconnect = setTimeout(function () {
        self.connect();
      }, backoffDelay(self.attempt));
      self.attempt += 1;
    };
  };

  // No live updates: the page is what it is without JavaScript. Unsent text goes back into
  // the box, so the plain form can still send it.
  Conversation.prototype.plain = function (reason) {
    this.stop();
    this.root.setAttribute("data-chat-state", "plain");
    this.say(this.statusLine, reason);
    this.say(this.typingLine, "");
    var textarea = this.form && this.form.querySelector("textarea");
    if (textarea && this.pending.length) {
      var typed = this.pending
        .map(function (item) {
          return item.body;
        })
        .join("\n\n");
      textarea.value = typed + (textarea.value ? "\n\n" + textarea.value : "");
    }
    this.pending.forEach(function (item) {
      item.node.remove();
    });
    this.pending = [];
  };

  Conversation.prototype.stop = function () {
    this.stopped = true;
    Object.keys(this.timers).forEach(function (key) {
      clearTimeout(this.timers[key]);
    }, this);
    document.removeEventListener("visibilitychange", this.onVisible);
    window.removeEventListener("online", this.onOnline);
    if (this.socket) {
      var socket = this.socket;
      this.socket = null;
      socket.close(1000);
    }
  };

  Conversation.prototype.send = function (frame) {
    if (this.isOpen()) {
      this.socket.send(JSON.stringify(frame));
      this.lastSent = frame;
      return true;
    }
    return false;
  };

  Conversation.prototype.bindForm = function () {
    var self = this;
    if (!this.form) {
      return;
    }
    var textarea = this.form.querySelector("textarea");
    if (!textarea) {
      return;
    }
    textarea.addEventListener("input", function () {
      var now = Date.now();
      if (textarea.value.trim() && now - self.lastTypingSent > TYPING_SEND_EVERY_MS) {
        if (self.send({ type: "typing" })) {
          self.lastTypingSent = now;
        }
      }
    });
    // Enter sends, Shift+Enter starts a new line: what chat users expect.
    textarea.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && self.everOpen && !self.stopped) {
        event.preventDefault();
        if (typeof self.form.requestSubmit === "function") {
          self.form.requestSubmit();
        } else {
          self.form.dispatchEvent(new Event("submit", { cancelable: true }));
        }
      }
    });
    this.form.addEventListener("submit", function (event) {
      // Before the first open, or without sockets, the form posts as it always did.
      if (!self.everOpen || self.stopped) {
        return;
      }
      // Files and "wait on the customer" only travel with the form.
      var files = self.form.querySelector('input[type="file"]');
      var wait = self.form.querySelector('input[name="wait_on_customer"]');
      if ((files && files.files && files.files.length) || (wait && wait.checked)) {
        return;
      }
      var body = textarea.value.trim();
      if (!body) {
        return;
      }
      event.preventDefault();
      var visibility = self.form.querySelector('input[name="visibility"]:checked');
      var item = {
        clientId: newClientId(),
        body: body,
        internal: Boolean(visibility && visibility.value === "internal"),
      };
      item.node = self.render({
        id: 0,
        kind: self.view === "desk" ? (item.internal ? "internal" : "agent") : "customer",
        author: { id: self.me, name: self.strings.you },
        channel: "chat",
        body: body,
        created_at: new Date().toISOString(),
        attachments: [],
      });
      item.node.classList.add("chat-pending");
      self.pending.push(item);
      self.note(item, self.isOpen() ? self.strings.sending : self.strings.queued);
      self.thread.appendChild(item.node);
      textarea.value = "";
      textarea.focus();
      self.transmit(item);
    });
  };

  Conversation.prototype.note = function (item, text) {
    var note = item.node.querySelector("[data-slot=note]");
    if (note) {
      this.say(note, text);
    }
  };

  Conversation.prototype.transmit = function (item) {
    var frame = { type: "message", body: item.body, client_id: item.clientId };
    if (item.internal) {
      frame.internal = true;
    }
    if (this.send(frame)) {
      this.note(item, this.strings.sending);
    }
  };

  Conversation.prototype.receive = function (frame) {
    switch (frame.type) {
      case "message":
        this.receiveMessage(frame);
        break;
      case "typing":
        this.receiveTyping(frame);
        break;
      case "read":
        this.receiveRead(frame);
        break;
      case "presence":
        this.receivePresence(frame);
        break;
      case "ticket":
        this.receiveTicket(frame.ticket || {});
        break;
      case "error":
        this.receiveError(frame);
        break;
      case "older":
        // Away for long: the newest page came, messages in between did not; the page has them.
        this.say(this.alertLine, this.strings.gap);
        break;
      default:
        break;
    }
  };

  Conversation.prototype.takePending = function (clientId) {
    for (var i = 0; i < this.pending.length; i++) {
      if (this.pending[i].clientId === clientId) {
        return this.pending.splice(i, 1)[0];
      }
    }
    return null;
  };

  Conversation.prototype.receiveMessage = function (frame) {
    var message = frame.message;
    if (!message || !message.id) {
      return;
    }
    var mine = Boolean(message.author && message.author.id === this.me);
    var sent = this.takePending(frame.client_id || message.client_id);
    if (sent) {
      sent.node.remove();
    }
    this.lastId = Math.max(this.lastId, message.id);
    if (this.view === "portal" && message.kind === "internal") {
      return;
    }
    if (document.getElementById("message-" + message.id)) {
      return;
    }
    if (!mine) {
      this.lastIncomingId = Math.max(this.lastIncomingId, message.id);
    }
    var node = this.render(message);
    var nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 200;
    this.thread.appendChild(node);
    if (!mine) {
      this.say(this.typingLine, "");
      this.sendRead();
    }
    if (mine || nearBottom) {
      node.scrollIntoView({ block: "nearest" });
    }
  };

  Conversation.prototype.authorLabel = function (message) {
    var s = this.strings;
    var author = message.author;
    if (message.kind === "system") {
      return s.system;
    }
    if (author && author.id === this.me) {
      return s.you;
    }
    if (this.view === "desk") {
      return author ? author.name : "";
    }
    if (message.kind === "agent") {
      return author ? fill(s.agent_named, { name: author.name }) : s.support;
    }
    return author ? author.name : s.customer;
  };

  // One message, built from the page's own template so it looks like the server's markup.
  Conversation.prototype.render = function (message) {
    var s = this.strings;
    var node = this.template.content.firstElementChild.cloneNode(true);
    var anchor = node.querySelector("[data-slot=anchor]") || node;
    if (message.id) {
      anchor.id = "message-" + message.id;
    }
    anchor.className = fill(anchor.getAttribute("data-kind-class") || "", { kind: message.kind });
    function slot(name) {
      return node.querySelector("[data-slot=" + name + "]");
    }
    var kind = slot("kind");
    if (kind) {
      kind.textContent = s["kind_" + message.kind] || message.kind;
    }
    var author = slot("author");
    if (author) {
      author.textContent = this.authorLabel(message);
      if (!author.textContent) {
        author.remove();
      }
    }
    var channel = slot("channel");
    if (channel) {
      channel.textContent = s["channel_" + message.channel] || message.channel;
    }
    var time = slot("time");
    if (time) {
      var when = new Date(message.created_at);
      time.setAttribute("datetime", message.created_at);
      time.textContent = isNaN(when) ? "" : when.toLocaleString(document.documentElement.lang || undefined, {
        day: "numeric",
        month: "short",
        year: "numeric",
        hour: "2-digit",
        minute: "2-digit",
      });
    }
    setMultiline(slot("body"), message.body);
    var files = slot("attachments");
    if (files) {
      (message.attachments || []).forEach(function (file) {
        var item = document.createElement("li");
        var link = document.createElement("a");
        link.href = file.url;
        link.textContent = file.filename;
        item.appendChild(link);
        files.appendChild(item);
      });
      files.hidden = !(message.attachments && message.attachments.length);
    }
    return node;
  };

  Conversation.prototype.receiveTyping = function (frame) {
    var self = this;
    var user = frame.user || {};
    if (user.id === this.me) {
      return;
    }
    this.say(this.typingLine, fill(this.strings.typing, { name: user.name || this.strings.someone }));
    clearTimeout(this.timers.typing);
    this.timers.typing = setTimeout(function () {
      self.say(self.typingLine, "");
    }, TYPING_SHOWN_MS);
  };

  // Tell the others how far we have read, once the page is actually in view.
  Conversation.prototype.sendRead = function () {
    if (document.visibilityState !== "visible" || !this.isOpen()) {
      return;
    }
    var last = this.lastIncomingId;
    if (last > this.lastReadSent && this.send({ type: "read", message: last })) {
      this.lastReadSent = last;
    }
  };

  Conversation.prototype.receiveRead = function (frame) {
    var user = frame.user || {};
    if (user.id === this.me || !frame.message) {
      return;
    }
    var target = document.getElementById("message-" + frame.message);
    if (!target) {
      return;
    }
    var marker = this.root.querySelector("[data-chat-read]") || this.thread.querySelector(".chat-read");
    if (!marker) {
      marker = document.createElement("p");
      marker.className = "chat-read";
    }
    marker.textContent = fill(this.strings.read_by, { name: user.name || this.strings.someone });
    target.appendChild(marker);
  };

  Conversation.prototype.receivePresence = function (frame) {
    var count = Number(frame.agents_online) || 0;
    var s = this.strings;
    var text = count === 0 ? s.agents_none : count === 1 ? s.agents_one : fill(s.agents_many, { count: count });
    this.say(this.presenceLine, text);
    this.root.setAttribute("data-agents-online", String(count));
  };

  Conversation.prototype.receiveTicket = function (ticket) {
    if (this.ticketStatus && ticket.status) {
      this.ticketStatus.textContent = this.strings["status_" + ticket.status] || ticket.status;
      if (this.statusClass) {
        this.ticketStatus.className = fill(this.statusClass, { status: ticket.status });
      }
    }
    if (this.assigneeLine && "assignee" in ticket) {
      this.assigneeLine.textContent = ticket.assignee ? ticket.assignee.name : this.strings.unassigned;
    }
  };

  // The server answers a bad frame at once, in order: an error right after a message frame
  // is about that message (unless the error names its client_id).
  Conversation.prototype.receiveError = function (frame) {
    var last = this.lastSent;
    var clientId = frame.client_id || (last && last.type === "message" ? last.client_id : null);
    var failed = clientId ? this.takePending(clientId) : null;
    if (failed) {
      failed.node.classList.add("chat-failed");
      this.note(failed, fill(this.strings.not_sent, { detail: frame.detail || "" }));
      var textarea = this.form && this.form.querySelector("textarea");
      if (textarea && !textarea.value) {
        textarea.value = failed.body;
      }
      return;
    }
    this.say(this.alertLine, frame.detail || this.strings.error);
  };

  function start(root) {
    if (!root.helpdeskChat) {
      root.helpdeskChat = new Conversation(root);
    }
    return root.helpdeskChat;
  }

  window.HelpdeskChat = { start: start };
  Array.prototype.forEach.call(document.querySelectorAll("[data-chat]"), start);
})();
