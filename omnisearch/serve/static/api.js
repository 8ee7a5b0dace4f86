// Talking to the omnisearch HTTP API: searches, and media URLs that carry the bearer token.
// A token comes from the page's #token=... fragment (never sent to the server in the URL) or the
// token form, and is kept in sessionStorage. Without a token, media URLs are used as they are.

const KEY = "omnisearch-token";

export function token() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
  return sessionStorage.getItem(KEY) || "";
}

export function setToken(t) {
  sessionStorage.setItem(KEY, t);
}

export class AuthError extends Error {}

function headers() {
  const t = token();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

async function answer(resp) {
  if (resp.status === 401) throw new AuthError("this server needs a bearer token");
  let body = null;
  try { body = await resp.json(); } catch { /* not JSON */ }
  if (!resp.ok) {
    const d = body && body.detail;
    const msg = Array.isArray(d) ? d.map((e) => `${(e.loc || []).slice(-1)[0]}: ${e.msg}`).join("; ") : d;
    throw new Error(msg || `HTTP ${resp.status}`);
  }
  return body;
}

export async function health() {
  return answer(await fetch("/api/health"));
}

// A text search: GET /api/search?q=...
export async function searchText(q, k) {
  const url = `/api/search?${new URLSearchParams({ q, k: String(k) })}`;
  return answer(await fetch(url, { headers: headers() }));
}

// The form field a file goes in: by its MIME type, else by its extension.
export function fieldFor(file) {
  const kind = (file.type || "").split("/")[0];
  if (["audio", "video", "image"].includes(kind)) return kind;
  const ext = (file.name.split(".").pop() || "").toLowerCase();
  if (["wav", "flac", "ogg", "oga", "mp3", "m4a", "opus"].includes(ext)) return "audio";
  if (["mp4", "mkv", "webm", "mov", "avi"].includes(ext)) return "video";
  if (["png", "jpg", "jpeg"].includes(ext)) return "image";
  return null;
}

// A search by a file (and the text, if any): POST /api/search as multipart.
export async function searchFile(file, q, k) {
  const field = fieldFor(file);
  if (!field) throw new Error(`${file.name}: not a sound, a clip or a picture`);
  const form = new FormData();
  form.append(field, file, file.name);
  if (q) form.append("q", q);
  form.append("k", String(k));
  return answer(await fetch("/api/search", { method: "POST", body: form, headers: headers() }));
}

// A URL an <img> / <video> can load: the URL itself, or with a token a blob fetched with it.
export async function mediaSrc(url) {
  if (!token()) return url;
  const resp = await fetch(url, { headers: headers() });
  if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
  return URL.createObjectURL(await resp.blob());
}
