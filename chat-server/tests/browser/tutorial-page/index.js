//! Test fixture: the behaviour of the Cloud Run chat tutorial's browser script (public/index.js),
//! written from its description (chat-tutorial.md §4) in plain DOM code instead of jQuery. It
//! uses exactly the socket.io-client API subset the tutorial uses, so it proves that page would
//! work unchanged against chat-server (which serves the official socket.io-client there).
/* global io */
"use strict";

// WebSocket only, never long-polling: no sticky sessions needed.
const socket = io("", { transports: ["websocket"] });
let user;
let room;

function log(name, text) {
  // The tutorial concatenates raw HTML here; the fixture keeps its "name: text" shape as text.
  const li = document.createElement("li");
  li.textContent = name + ": " + text;
  document.getElementById("messages").appendChild(li);
}

document.getElementById("signin").addEventListener("submit", (event) => {
  event.preventDefault();
  user = document.getElementById("name").value;
  room = document.getElementById("room").value;
  socket.emit("signin", { user, room }, (error, history) => {
    if (error) {
      console.error(error);
      return;
    }
    if (history && history.messages) {
      for (const message of history.messages) log(message.user, message.text);
    }
    document.querySelector("#chatroom h1").textContent = room;
    document.getElementById("signin").hidden = true;
    document.getElementById("chatroom").hidden = false;
  });
});

document.getElementById("chat").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("msg");
  socket.emit("sendMessage", input.value, (error) => {
    if (error) console.error(error);
    else input.value = "";
  });
});

socket.on("message", (message) => log(message.user, message.text));
socket.on("notification", (note) => log(note.title, note.description));

// After an automatic reconnection, map the new socket id to the user again.
socket.io.on("reconnect", () => {
  socket.emit("updateSocketId", { user, room }, () => {});
});

// A server-side disconnect is not retried automatically by socket.io-client.
socket.on("disconnect", (reason) => {
  if (reason === "io server disconnect") socket.connect();
});
