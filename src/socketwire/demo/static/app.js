// The socketwire chat demo: plain DOM code over the official Socket.IO browser client.
// URL parameters: ?transports=polling or ?transports=websocket (or both, comma-separated),
// ?nickname=alice. Everything users write is inserted with textContent, never as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const params = new URLSearchParams(location.search);
  let bannerTimer = null;

  function showBanner(text, seconds) {
    const banner = $("banner");
    banner.textContent = text;
    banner.hidden = false;
    clearTimeout(bannerTimer);
    if (seconds) bannerTimer = setTimeout(() => { banner.hidden = true; }, seconds * 1000);
  }

  if (typeof io === "undefined") {
    // The server answers a missing bundle with a plain-text explanation: show it.
    const url = body.dataset.clientScript;
    $("status").textContent = "no client";
    fetch(url)
      .then((response) => response.text())
      .then((text) => showBanner(text))
      .catch(() => showBanner(`The Socket.IO browser client could not be loaded from ${url}.`));
    return;
  }

  const options = { path: body.dataset.ioPath };
  const transports = (params.get("transports") || "")
    .split(",")
    .filter((name) => name === "polling" || name === "websocket");
  if (transports.length) options.transports = transports;

  let nickname = params.get("nickname") || localStorage.getItem("socketwire.nickname") || "";
  const socket = io({ ...options, auth: (send) => send({ nickname }) });
  const echo = io("/echo", options);

  const joined = new Map(); // room -> { entries: [...], unread: n }
  const typers = new Map(); // room -> Map(nickname -> expiry timer)
  let current = null;
  let roomList = [];

  // -- connection status ------------------------------------------------------------------

  function showStatus() {
    const status = $("status");
    if (socket.connected) {
      const transport = socket.io.engine.transport.name;
      status.dataset.state = "connected";
      status.dataset.transport = transport;
      status.textContent = `connected · ${transport}`;
    } else {
      status.dataset.state = "disconnected";
      status.dataset.transport = "";
      status.textContent = "disconnected";
    }
    const usable = socket.connected && current !== null;
    $("message-input").disabled = !usable;
    $("send-button").disabled = !usable;
  }

  socket.on("connect", () => {
    socket.io.engine.on("upgrade", showStatus);
    showStatus();
    socket.emit("hello", { nickname }, (reply) => {
      setNickname(reply.nickname);
      showOnline(reply.online);
      roomList = reply.rooms;
      // After a reconnection, rejoin where we were (history comes back with each join).
      const rooms = joined.size ? [...joined.keys()] : ["lobby"];
      for (const room of rooms) join(room, room === (current || "lobby"));
    });
  });
  socket.on("disconnect", showStatus);
  socket.on("connect_error", (error) => {
    showStatus();
    showBanner(`Cannot connect: ${error.message}`, 4);
  });

  // -- nickname, online count, rooms ------------------------------------------------------

  function setNickname(name) {
    nickname = name;
    $("nickname-input").value = name;
    localStorage.setItem("socketwire.nickname", name);
  }

  function showOnline(count) {
    $("online").textContent = `${count} online`;
    $("online").dataset.count = String(count);
  }

  // Why a request was refused: the chat's {ok: false, error: "..."}, or socketwire's error
  // acknowledgement {error: {code, message, ...}} when the payload did not validate.
  function failure(reply) {
    if (reply && reply.ok) return null;
    const error = reply && reply.error;
    if (typeof error === "string") return error;
    return (error && error.message) || "the server refused the request";
  }

  $("nickname-form").addEventListener("submit", (event) => {
    event.preventDefault();
    socket.emit("nickname", $("nickname-input").value, (reply) => {
      const why = failure(reply);
      if (why === null) setNickname(reply.nickname);
      else showBanner(why, 4);
    });
  });

  socket.on("online", showOnline);
  socket.on("rooms", (rooms) => {
    roomList = rooms;
    renderRooms();
  });

  function join(room, focus = true) {
    socket.emit("join", room, (reply) => {
      const why = failure(reply);
      if (why !== null) return showBanner(why, 4);
      const entry = joined.get(reply.room) || { entries: [], unread: 0 };
      entry.entries = reply.history.map((message) => ({ kind: "message", ...message }));
      joined.set(reply.room, entry);
      if (focus || current === null) switchTo(reply.room);
      else renderRooms();
    });
  }

  function switchTo(room) {
    stopTyping();
    current = room;
    const entry = joined.get(room);
    if (entry) entry.unread = 0;
    $("room-title").textContent = room === null ? "No room: join one" : `#${room}`;
    const list = $("messages");
    list.replaceChildren(...(entry ? entry.entries.map(entryItem) : []));
    list.scrollTop = list.scrollHeight;
    renderRooms();
    renderTyping();
    showStatus();
  }

  $("join-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("room-input");
    join(input.value.trim());
    input.value = "";
  });

  $("leave-button").addEventListener("click", () => {
    const room = current;
    if (room === null) return;
    socket.emit("leave", room, () => {
      joined.delete(room);
      typers.delete(room);
      switchTo(joined.size ? [...joined.keys()][0] : null);
    });
  });

  function renderRooms() {
    const counts = new Map(roomList.map((room) => [room.name, room.members]));
    for (const room of joined.keys()) if (!counts.has(room)) counts.set(room, 0);
    const items = [...counts.keys()].sort().map((room) => {
      const item = document.createElement("li");
      item.dataset.room = room;
      item.classList.toggle("joined", joined.has(room));
      item.classList.toggle("current", room === current);
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = `#${room}`;
      const unread = joined.get(room)?.unread || 0;
      if (unread) {
        const badge = document.createElement("span");
        badge.className = "unread";
        badge.textContent = String(unread);
        name.append(badge);
      }
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = String(counts.get(room));
      item.append(name, count);
      item.addEventListener("click", () => (joined.has(room) ? switchTo(room) : join(room)));
      return item;
    });
    $("rooms").replaceChildren(...items);
  }

  // -- messages ---------------------------------------------------------------------------

  function entryItem(entry) {
    const item = document.createElement("li");
    if (entry.kind === "notice") {
      item.className = "notice";
      item.textContent = entry.text;
      return item;
    }
    item.className = entry.nickname === nickname ? "msg mine" : "msg";
    const meta = document.createElement("div");
    meta.className = "meta";
    const nick = document.createElement("span");
    nick.className = "nick";
    nick.textContent = entry.nickname;
    const time = document.createElement("time");
    time.textContent = new Date(entry.time).toLocaleTimeString([], {
      hour: "2-digit",
      minute: "2-digit",
    });
    meta.append(nick, time);
    const text = document.createElement("p");
    text.className = "text";
    text.textContent = entry.text;
    item.append(meta, text);
    return item;
  }

  function addEntry(room, entry) {
    const state = joined.get(room);
    if (!state) return;
    state.entries.push(entry);
    if (state.entries.length > 200) state.entries.shift();
    if (room === current) {
      const list = $("messages");
      const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
      list.append(entryItem(entry));
      if (list.children.length > 200) list.firstElementChild.remove();
      if (atBottom) list.scrollTop = list.scrollHeight;
    } else {
      state.unread += 1;
      renderRooms();
    }
  }

  socket.on("message", (message) => {
    setTyping(message.room, message.nickname, false);
    addEntry(message.room, { kind: "message", ...message });
  });
  socket.on("notice", (notice) => addEntry(notice.room, { kind: "notice", ...notice }));

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("message-input");
    const text = input.value.trim();
    if (!text || current === null) return;
    stopTyping();
    socket.emit("message", { room: current, text }, (reply) => {
      const why = failure(reply);
      if (why !== null) showBanner(why, 4);
    });
    input.value = "";
  });

  // -- typing indicator -------------------------------------------------------------------

  let typingRoom = null;
  let typingTimer = null;

  function stopTyping() {
    clearTimeout(typingTimer);
    if (typingRoom !== null) socket.emit("typing", { room: typingRoom, typing: false });
    typingRoom = null;
  }

  $("message-input").addEventListener("input", () => {
    if (typingRoom !== current) {
      stopTyping();
      typingRoom = current;
      socket.emit("typing", { room: current, typing: true });
    }
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, 2000);
  });

  function setTyping(room, who, typing) {
    let people = typers.get(room);
    if (!people) typers.set(room, (people = new Map()));
    clearTimeout(people.get(who));
    people.delete(who);
    // A lost "stopped typing" (typing events are volatile) expires on its own.
    if (typing) people.set(who, setTimeout(() => setTyping(room, who, false), 6000));
    if (room === current) renderTyping();
  }

  function renderTyping() {
    const names = [...(typers.get(current)?.keys() || [])];
    $("typing").textContent =
      names.length === 0 ? "" :
      names.length === 1 ? `${names[0]} is typing…` :
      names.length === 2 ? `${names[0]} and ${names[1]} are typing…` :
      "several people are typing…";
  }

  socket.on("typing", ({ room, nickname: who, typing }) => setTyping(room, who, typing));

  // -- /echo ------------------------------------------------------------------------------

  $("echo-button").addEventListener("click", () => {
    const started = performance.now();
    echo.timeout(5000).emit("ping", { sent: Date.now() }, (error) => {
      $("echo-result").textContent = error
        ? "round trip: no answer"
        : `round trip: ${(performance.now() - started).toFixed(1)} ms`;
    });
  });

  window.socketwireDemo = { socket, echo };
})();
