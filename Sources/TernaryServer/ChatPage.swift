/// The chat page served at `/`: one self-contained HTML file (no external scripts, styles or
/// fonts) that streams replies from /v1/chat/completions.
enum ChatPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ternary chat</title>
<style>
  :root { color-scheme: light dark; --accent: #3b6ea5; }
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; display: flex; flex-direction: column; height: 100vh; }
  header { padding: .6rem 1rem; border-bottom: 1px solid #8884; display: flex; gap: 1rem; align-items: center; }
  header h1 { font-size: 1.1rem; margin: 0; }
  header span { opacity: .7; font-size: .9rem; }
  #messages { flex: 1; overflow-y: auto; padding: 1rem; }
  .message { max-width: 46rem; margin: 0 auto .8rem; white-space: pre-wrap; }
  .message.user { font-weight: 600; }
  .message.user::before { content: "You: "; color: var(--accent); }
  .message.assistant::before { content: "Model: "; color: var(--accent); font-weight: 600; }
  .message.error { color: #c33; }
  .stats { opacity: .6; font-size: .8rem; max-width: 46rem; margin: -.6rem auto .8rem; }
  form { display: flex; gap: .5rem; padding: .8rem 1rem; border-top: 1px solid #8884; }
  textarea { flex: 1; font: inherit; resize: none; padding: .4rem; }
  button { font: inherit; padding: .4rem 1rem; }
</style>
</head>
<body>
<header><h1>Ternary chat</h1><span id="model">loading…</span>
  <label><input id="temperature" type="number" min="0" max="2" step="0.1" value="0.8"> temperature</label></header>
<div id="messages"></div>
<form id="form">
  <textarea id="input" rows="2" placeholder="Say something (Enter sends, Shift+Enter for a new line)"></textarea>
  <button id="send" type="submit">Send</button>
  <button id="stop" type="button" disabled>Stop</button>
</form>
<script>
"use strict";
const messages = [];
const list = document.getElementById("messages"), input = document.getElementById("input");
const send = document.getElementById("send"), stop = document.getElementById("stop");
let controller = null;

fetch("/v1/models").then(r => r.json()).then(j => {
  document.getElementById("model").textContent = j.data ? j.data[0].id : (j.error ? j.error.message : "");
}).catch(() => {});

function add(role, text) {
  const div = document.createElement("div");
  div.className = "message " + role;
  div.textContent = text;
  list.appendChild(div);
  list.scrollTop = list.scrollHeight;
  return div;
}

async function ask(text) {
  messages.push({ role: "user", content: text });
  add("user", text);
  const reply = add("assistant", "");
  reply.dataset.state = "streaming";
  send.disabled = true; stop.disabled = false;
  controller = new AbortController();
  let content = "";
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST", headers: { "Content-Type": "application/json" }, signal: controller.signal,
      body: JSON.stringify({ messages, stream: true, max_tokens: 256,
                             temperature: Number(document.getElementById("temperature").value) })
    });
    if (!response.ok) {
      const j = await response.json().catch(() => ({}));
      throw new Error(j.error ? j.error.message : response.statusText);
    }
    const reader = response.body.getReader(), decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const line = buffer.slice(0, end).trim();
        buffer = buffer.slice(end + 2);
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        const choice = chunk.choices && chunk.choices[0];
        if (choice && choice.delta && choice.delta.content) {
          content += choice.delta.content;
          reply.textContent = content;
          list.scrollTop = list.scrollHeight;
        }
        if (chunk.timings) {
          const stats = document.createElement("div");
          stats.className = "stats";
          stats.textContent = chunk.timings.predicted_n + " tokens, " + chunk.timings.predicted_per_second.toFixed(1) + " tok/s";
          list.appendChild(stats);
        }
      }
    }
    messages.push({ role: "assistant", content });
  } catch (error) {
    if (error.name !== "AbortError") { reply.classList.add("error"); reply.textContent = content + " [" + error.message + "]"; }
    messages.push({ role: "assistant", content });
  } finally {
    reply.dataset.state = "done";
    send.disabled = false; stop.disabled = true; controller = null;
    input.focus();
  }
}

document.getElementById("form").addEventListener("submit", e => {
  e.preventDefault();
  const text = input.value.trim();
  if (!text || send.disabled) return;
  input.value = "";
  ask(text);
});
input.addEventListener("keydown", e => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); document.getElementById("form").requestSubmit(); }
});
stop.addEventListener("click", () => controller && controller.abort());
</script>
</body>
</html>
"""#
}
