// The omnisearch page: a search box, a file to search by (picked or dropped), a grid of hits; a click
// plays the hit's moment in place. /?q=... runs that search on load.
import { AuthError, fieldFor, health, mediaSrc, searchFile, searchText, setToken, token } from "./api.js";

const K = 24;
const $ = (id) => document.getElementById(id);

// seconds -> "01:23" (or "1:02:05" from an hour on), as the hits' citations write them
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = String(m).padStart(2, "0"), ss = String(r).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function basename(path) {
  return path.split(/[\\/]/).pop();
}

function say(text) {
  $("message").textContent = text;
}

function card(hit) {
  const el = document.createElement("article");
  el.className = "hit";
  el.tabIndex = 0;
  el.dataset.clipId = hit.clip_id;
  const frame = document.createElement("div");
  frame.className = "frame";
  const img = document.createElement("img");
  img.alt = `${basename(hit.file)} ${clock(hit.span_start)}`;
  img.loading = "lazy";
  mediaSrc(hit.thumbnail_url).then((src) => { img.src = src; }, () => img.classList.add("broken"));
  frame.append(img);
  const meta = document.createElement("div");
  meta.className = "meta";
  const name = document.createElement("span");
  name.className = "file";
  name.textContent = basename(hit.file);
  name.title = hit.file;
  const span = document.createElement("span");
  span.className = "span";
  span.textContent = hit.media_type === "image" ? "picture"
    : `${clock(hit.span_start)}-${clock(Math.ceil(hit.span_end))}`;
  const score = document.createElement("span");
  score.className = "score";
  score.textContent = hit.score.toFixed(3);
  meta.append(name, span, score);
  const words = document.createElement("p");
  words.className = "words";
  words.textContent = hit.transcript || hit.text || hit.ocr_text || "";
  el.append(frame, meta, words);
  const play = () => playIn(frame, hit);
  el.addEventListener("click", play, { once: true });
  el.addEventListener("keydown", (e) => { if (e.key === "Enter") play(); });
  return el;
}

// Replace the thumbnail by a player of the hit's moment (the server cuts the span); a picture is
// shown whole.
async function playIn(frame, hit) {
  if (frame.querySelector("video, audio, img.full")) return;
  if (hit.media_type === "image") {
    const img = document.createElement("img");
    img.className = "full";
    img.alt = basename(hit.file);
    img.src = await mediaSrc(hit.media_url);
    frame.replaceChildren(img);
    return;
  }
  const player = document.createElement(hit.media_type === "audio" ? "audio" : "video");
  player.controls = true;
  player.autoplay = true;
  player.muted = false;
  player.className = "player";
  try {
    player.src = await mediaSrc(hit.media_url);
  } catch (e) {
    say(`cannot play ${basename(hit.file)}: ${e.message}`);
    return;
  }
  frame.replaceChildren(player);
  player.play().catch(() => { player.muted = true; player.play().catch(() => {}); });
}

function show(result, what) {
  const grid = $("results");
  grid.replaceChildren(...result.hits.map(card));
  say(result.hits.length ? `${result.hits.length} moments for ${what} (${Math.round(result.took_ms)} ms)`
    : `nothing found for ${what}`);
}

async function run(job, what) {
  say(`searching ${what}…`);
  try {
    show(await job(), what);
  } catch (e) {
    if (e instanceof AuthError) {
      $("token-form").hidden = false;
      say("this server needs a bearer token: enter it above");
    } else {
      say(`error: ${e.message}`);
    }
  }
}

function searchWords(q) {
  const url = new URL(location.href);
  url.searchParams.set("q", q);
  history.replaceState(null, "", url);
  run(() => searchText(q, K), `"${q}"`);
}

function searchBy(file) {
  const q = $("q").value.trim();
  if (!fieldFor(file)) {
    say(`${file.name}: not a sound, a clip or a picture`);
    return;
  }
  $("query-file").hidden = false;
  $("query-file").textContent = `query file: ${file.name}`;
  run(() => searchFile(file, q, K), file.name + (q ? ` + "${q}"` : ""));
}

function wire() {
  $("search").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = $("q").value.trim();
    const file = $("file").files[0];
    if (file) searchBy(file);
    else if (q) searchWords(q);
  });
  $("file").addEventListener("change", () => { if ($("file").files[0]) searchBy($("file").files[0]); });
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    setToken($("token").value.trim());
    $("token-form").hidden = true;
    status();
    const q = $("q").value.trim();
    if (q) searchWords(q);
  });
  const drop = $("drop");
  let depth = 0;
  window.addEventListener("dragenter", (e) => { e.preventDefault(); depth++; drop.hidden = false; });
  window.addEventListener("dragleave", () => { if (--depth <= 0) { depth = 0; drop.hidden = true; } });
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    drop.hidden = true;
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) searchBy(file);
  });
}

async function status() {
  try {
    const h = await health();
    const enc = h.encoder ? ` · ${h.encoder.name}` : "";
    $("status").textContent = `${h.clips} clips${enc}${token() ? " · token set" : ""}`;
  } catch (e) {
    $("status").textContent = `server not answering (${e.message})`;
  }
}

wire();
status();
const q0 = new URLSearchParams(location.search).get("q");
if (q0) {
  $("q").value = q0;
  searchWords(q0);
}
