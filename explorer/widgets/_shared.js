// Helpers shared by every Clip Explorer widget (prepended to each widget's module by the server).

function injectStyle(name, css) {
  const id = `clip-explorer-style-${name}`;
  if (!css || document.getElementById(id)) return;
  const style = document.createElement("style");
  style.id = id;
  style.textContent = css;
  document.head.appendChild(style);
}

/** Create an element: h("button", {class: "x", onclick: f}, "text", child) */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "style" && typeof value === "object") Object.assign(node.style, value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function jupyterBase() {
  const config = document.getElementById("jupyter-config-data");
  if (!config) return null;
  try { return JSON.parse(config.textContent).baseUrl || "/"; } catch { return null; }
}

const KIND_SUFFIX = { mp4: ".mp4", poster: ".poster.jpg", thumb: ".thumb.webp" };
const blobCache = new Map();

/** The server extension's URL for a clip's media (null where there is no Jupyter server page). */
function mediaUrl(model, sha, kind = "mp4") {
  const base = jupyterBase();
  if (!base || !sha) return null;
  const log = model.get("log_path");
  return `${base}explorer/media/${sha}${KIND_SUFFIX[kind]}${log ? `?log=${encodeURIComponent(log)}` : ""}`;
}

/** Ask the kernel for the bytes (fallback where no media route exists); resolves to a blob: URL. */
function mediaFromKernel(model, sha, kind = "mp4") {
  const key = `${sha}:${kind}`;
  if (!blobCache.has(key)) {
    blobCache.set(key, new Promise((resolve, reject) => {
      const onMessage = (msg, buffers) => {
        if (!msg || msg.type !== "media" || msg.sha256 !== sha || msg.kind !== kind) return;
        model.off("msg:custom", onMessage);
        if (msg.error || !buffers || !buffers.length) return reject(new Error(msg.error || "no bytes"));
        const type = kind === "mp4" ? "video/mp4" : kind === "poster" ? "image/jpeg" : "image/webp";
        resolve(URL.createObjectURL(new Blob([buffers[0]], { type })));
      };
      model.on("msg:custom", onMessage);
      model.send({ type: "media", sha256: sha, kind });
    }));
  }
  return blobCache.get(key);
}

/** Point a <video> or <img> at a clip's media: the server route first, the kernel if that fails. */
function setMedia(model, element, sha, kind = "mp4") {
  if (!sha) return;
  const url = mediaUrl(model, sha, kind);
  let triedKernel = false;
  const fallback = async () => {
    if (triedKernel) return;
    triedKernel = true;
    try { element.src = await mediaFromKernel(model, sha, kind); } catch (error) { element.title = `clip unavailable: ${error.message}`; }
  };
  element.addEventListener("error", fallback, { once: true });
  if (url) element.src = url;
  else fallback();
}

// Inline SVG icons: font glyphs such as ⏮ are missing from many fonts.
const ICONS = {
  play: "M4 2 L14 8 L4 14 Z",
  pause: "M3 2 H7 V14 H3 Z M9 2 H13 V14 H9 Z",
  back: "M2 2 H4 V14 H2 Z M14 2 L5 8 L14 14 Z",
  forward: "M12 2 H14 V14 H12 Z M2 2 L11 8 L2 14 Z",
  loop: "M3 7 A5 5 0 0 1 12 4 L10 6 H15 V1 L13 3 A7 7 0 0 0 1 7 Z M13 9 A5 5 0 0 1 4 12 L6 10 H1 V15 L3 13 A7 7 0 0 0 15 9 Z",
  sound: "M1 6 H4 L8 2 V14 L4 10 H1 Z M10 5 H11.5 V11 H10 Z M13 3 H14.5 V13 H13 Z",
  mute: "M1 6 H4 L8 2 V14 L4 10 H1 Z M10 6 L11 5 L12.5 6.5 L14 5 L15 6 L13.5 7.5 L15 9 L14 10 L12.5 8.5 L11 10 L10 9 L11.5 7.5 Z",
};
function icon(name) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("class", "cx-icon");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}

function fmtTime(seconds) {
  const s = Math.max(0, seconds);
  return `${Math.floor(s / 60)}:${(s % 60).toFixed(2).padStart(5, "0")}`;
}

/**
 * A frame-accurate clip player: play/pause, loop, scrub, step, speed, frame counter, keyboard
 * (space, ←/→ or ,/. to step, Home/End). Returns {root, video, seek(frame), frame(), onFrame(cb), destroy()}.
 */
function createPlayer(model, clip, options = {}) {
  const fps = clip.fps || 8;
  const frames = clip.frames || 1;
  const video = h("video", { class: "cx-video", muted: true, playsinline: true, loop: options.loop !== false, preload: "auto" });
  video.muted = true;
  setMedia(model, video, clip.sha256, "mp4");
  const poster = mediaUrl(model, clip.sha256, "poster");
  if (poster) video.poster = poster;
  const playButton = h("button", { class: "cx-play", title: "Play / pause (space)" }, icon("play"));
  const back = h("button", { class: "cx-step-back", title: "One frame back (← or ,)" }, icon("back"));
  const forward = h("button", { class: "cx-step-forward", title: "One frame forward (→ or .)" }, icon("forward"));
  const loop = h("button", { class: "cx-loop cx-on", title: "Loop" }, icon("loop"));
  const speed = h("select", { class: "cx-speed", title: "Playback speed" }, ...[0.25, 0.5, 1, 2].map((s) => h("option", { value: s, selected: s === 1 }, `${s}×`)));
  const scrub = h("input", { class: "cx-scrub", type: "range", min: 0, max: Math.max(0, frames - 1), step: 1, value: 0, title: "Scrub" });
  const counter = h("span", { class: "cx-counter" }, "");
  // A clip with sound (explorer.audio) plays it: one click on play is the gesture browsers ask for; the button mutes.
  const sound = clip.audio ? h("button", { class: "cx-sound cx-on", title: `Sound: ${clip.audio.name || "on"} (click to mute)` }, icon("sound")) : null;
  if (sound) {
    video.muted = false;
    sound.onclick = () => {
      video.muted = !video.muted;
      sound.classList.toggle("cx-on", !video.muted);
      sound.replaceChildren(icon(video.muted ? "mute" : "sound"));
    };
  }
  const root = h("div", { class: "cx-player", tabindex: 0 }, h("div", { class: "cx-stage" }, video),
    h("div", { class: "cx-controls" }, playButton, back, forward, scrub),
    h("div", { class: "cx-controls cx-controls-2" }, counter, loop, speed, ...(sound ? [sound] : [])));
  const listeners = new Set();
  const frame = () => Math.min(frames - 1, Math.max(0, Math.floor(video.currentTime * fps + 1e-3)));
  const update = () => {
    const f = frame();
    scrub.value = String(f);
    counter.textContent = `frame ${f + 1}/${frames} · ${fmtTime(video.currentTime)}`;
    root.dataset.frame = String(f);
    const want = video.paused ? "play" : "pause";
    if (playButton.dataset.icon !== want) { playButton.dataset.icon = want; playButton.replaceChildren(icon(want)); }
    for (const cb of listeners) cb(f);
  };
  // the middle of the frame's display interval: robust to rounding in the decoder's timestamps
  const seek = (f) => { video.currentTime = (Math.min(frames - 1, Math.max(0, f)) + 0.5) / fps; update(); };
  const toggle = () => (video.paused ? video.play().catch(() => {}) : video.pause());
  const step = (delta) => { video.pause(); seek(frame() + delta); };
  playButton.onclick = toggle;
  back.onclick = () => step(-1);
  forward.onclick = () => step(1);
  loop.onclick = () => { video.loop = !video.loop; loop.classList.toggle("cx-on", video.loop); };
  speed.onchange = () => { video.playbackRate = Number(speed.value); };
  scrub.oninput = () => { video.pause(); seek(Number(scrub.value)); };
  root.addEventListener("keydown", (event) => {
    const keys = { " ": toggle, ArrowLeft: () => step(-1), ",": () => step(-1), ArrowRight: () => step(1), ".": () => step(1),
      Home: () => seek(0), End: () => seek(frames - 1) };
    if (keys[event.key] && !["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName)) {
      event.preventDefault();
      event.stopPropagation(); // keep JupyterLab's own shortcuts out of it
      keys[event.key]();
    }
  });
  let raf = 0;
  const tick = () => { update(); raf = video.paused ? 0 : requestAnimationFrame(tick); };
  video.addEventListener("play", () => { if (!raf) raf = requestAnimationFrame(tick); });
  for (const name of ["pause", "seeked", "loadeddata", "ratechange"]) video.addEventListener(name, update);
  update();
  return {
    root, video, seek, frame, toggle,
    onFrame(cb) { listeners.add(cb); return () => listeners.delete(cb); },
    destroy() { cancelAnimationFrame(raf); video.pause(); video.removeAttribute("src"); video.load(); listeners.clear(); },
  };
}

function stars(score) {
  return score ? "★".repeat(Math.round(score)) + "☆".repeat(5 - Math.round(score)) : "☆☆☆☆☆";
}

/** A muted <video> for a clip, pointed at its media (for views whose transport is shared, see createSyncTransport). */
function clipVideo(model, clip, attrs = {}) {
  const video = h("video", { class: "cx-video", muted: true, playsinline: true, preload: "auto", ...attrs });
  video.muted = true;
  setMedia(model, video, clip.sha256, "mp4");
  const poster = mediaUrl(model, clip.sha256, "poster");
  if (poster) video.poster = poster;
  return video;
}

/**
 * One transport for several clips on one clock (Compare, the sweep grid, the gallery's compare):
 * play/pause, step, scrub, loop, speed and a frame counter in `bar`, driving every video at once.
 * The videos never play by themselves: every tick seeks each one to the shared frame, so they cannot
 * drift apart (a clip shorter than the longest holds its last frame). `root` gets data-frame, the
 * class cx-playing while playing, and the keys (space, ←/→ or ,/. to step, Home/End).
 * `setVideos([{video, clip}])` changes the set (cells that arrive later catch up at once).
 * Returns {bar, setVideos, show(f), frame(), isPlaying(), start(), stop(), toggle(), step(d), onFrame(cb), destroy()}.
 */
function createSyncTransport(root, options = {}) {
  let entries = [];
  let fps = 8;
  let frames = 1;
  let current = Math.max(0, options.frame || 0);
  let playing = false;
  let loop = true;
  let rate = 1;
  let raf = 0;
  let clock = null; // {t0, f0}: the frame shown at time t0, so speed changes and pauses restart from here
  const listeners = new Set();
  const playButton = h("button", { class: "cx-play", title: "Play / pause all (space)" }, icon("play"));
  const back = h("button", { class: "cx-step-back", title: "All one frame back (← or ,)" }, icon("back"));
  const forward = h("button", { class: "cx-step-forward", title: "All one frame forward (→ or .)" }, icon("forward"));
  const scrub = h("input", { class: "cx-scrub", type: "range", min: 0, max: 0, step: 1, value: 0, title: "Scrub all" });
  const counter = h("span", { class: "cx-counter" });
  const loopButton = h("button", { class: "cx-loop cx-on", title: "Loop" }, icon("loop"));
  const speed = h("select", { class: "cx-speed", title: "Playback speed" }, ...[0.25, 0.5, 1, 2].map((s) => h("option", { value: s, selected: s === 1 }, `${s}×`)));
  const bar = h("div", { class: "cx-controls cx-sync-bar" }, playButton, back, forward, scrub, counter, loopButton, speed, ...(options.extra || []));

  const seekVideo = ({ video, clip }, f) => {
    const t = (Math.min((clip.frames || frames) - 1, f) + 0.5) / (clip.fps || fps);
    if (Math.abs(video.currentTime - t) > 1e-4) video.currentTime = t;
  };
  const show = (f) => {
    current = Math.min(frames - 1, Math.max(0, f));
    for (const entry of entries) seekVideo(entry, current);
    scrub.value = String(current);
    counter.textContent = `frame ${current + 1}/${frames} · ${fmtTime(current / fps)}`;
    root.dataset.frame = String(current);
    for (const cb of listeners) cb(current, playing);
  };
  const tick = (now) => {
    if (!playing) return;
    let f = clock.f0 + Math.floor(((now - clock.t0) / 1000) * fps * rate);
    if (f >= frames) {
      if (loop) f %= frames;
      else { stop(); show(frames - 1); return; }
    }
    if (f !== current) show(f);
    raf = requestAnimationFrame(tick);
  };
  const start = () => {
    if (playing) return;
    if (!loop && current >= frames - 1) current = 0;
    playing = true;
    clock = { t0: performance.now(), f0: current };
    playButton.replaceChildren(icon("pause"));
    root.classList.add("cx-playing");
    raf = requestAnimationFrame(tick);
  };
  function stop() {
    if (!playing) return;
    playing = false;
    cancelAnimationFrame(raf);
    raf = 0;
    playButton.replaceChildren(icon("play"));
    root.classList.remove("cx-playing");
  }
  const toggle = () => { if (playing) { stop(); show(current); } else start(); };
  const step = (delta) => { stop(); show(current + delta); };
  playButton.onclick = toggle;
  back.onclick = () => step(-1);
  forward.onclick = () => step(1);
  scrub.oninput = () => { stop(); show(Number(scrub.value)); };
  loopButton.onclick = () => { loop = !loop; loopButton.classList.toggle("cx-on", loop); };
  speed.onchange = () => {
    rate = Number(speed.value);
    if (playing) clock = { t0: performance.now(), f0: current };
  };
  const onKey = (event) => {
    const keys = { " ": toggle, ArrowLeft: () => step(-1), ",": () => step(-1), ArrowRight: () => step(1), ".": () => step(1),
      Home: () => { stop(); show(0); }, End: () => { stop(); show(frames - 1); } };
    if (keys[event.key] && !["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName)) {
      event.preventDefault();
      event.stopPropagation(); // keep JupyterLab's own shortcuts out of it
      keys[event.key]();
    }
  };
  root.addEventListener("keydown", onKey);
  const catchUp = (event) => { const entry = entries.find((e) => e.video === event.target); if (entry) seekVideo(entry, current); };

  const setVideos = (list) => {
    for (const { video } of entries) video.removeEventListener("loadeddata", catchUp);
    entries = list.slice();
    // the clock runs at the first clip's rate; the longest clip sets the length
    fps = options.fps || entries[0]?.clip.fps || fps;
    frames = Math.max(1, ...entries.map((e) => e.clip.frames || 1));
    scrub.max = String(frames - 1);
    for (const entry of entries) entry.video.addEventListener("loadeddata", catchUp); // a video that loads late catches up
    if (playing) clock = { t0: performance.now(), f0: Math.min(current, frames - 1) };
    if (entries.length) show(current);
    else counter.textContent = "no clips yet"; // keep the wanted frame for the clips to come
  };
  setVideos(options.videos || []);
  return {
    bar, setVideos, show, start, stop, toggle, step,
    frame: () => current,
    isPlaying: () => playing,
    onFrame(cb) { listeners.add(cb); return () => listeners.delete(cb); },
    destroy() {
      stop();
      root.removeEventListener("keydown", onKey);
      for (const { video } of entries) { video.removeEventListener("loadeddata", catchUp); video.removeAttribute("src"); video.load(); }
      listeners.clear();
    },
  };
}

/** Stars that save on click: `onRate(score)`; `set(score)` shows the current one. Returns {root, set}. */
function starButtons(onRate, { className = "cx-star-row", title = "Your rating" } = {}) {
  const buttons = [1, 2, 3, 4, 5].map((n) => h("button", { class: "cx-star", dataset: { score: n }, title: `Rate ${n} star${n === 1 ? "" : "s"}`,
    onclick: (event) => { event.stopPropagation(); onRate(n); } }, "☆"));
  const root = h("div", { class: className, title }, ...buttons);
  const set = (score) => {
    root.dataset.score = String(score || 0);
    buttons.forEach((b, i) => { const on = i < (score || 0); b.classList.toggle("cx-on", on); b.textContent = on ? "★" : "☆"; });
  };
  set(0);
  return { root, set };
}

/** The pictures and clips a run was conditioned on (explorer.conditioning), as labelled thumbnails; null when none. */
function conditioningStrip(model, media) {
  if (!media || !media.length) return null;
  const label = (m) => `${m.field.replace("_", " ")}${m.at !== undefined ? ` @${m.at}` : ""}`;
  return h("div", { class: "cx-conditioning", title: "Conditioning media" }, ...media.map((m) => {
    const img = h("img", { class: "cx-conditioning-thumb", alt: label(m), draggable: "false" });
    setMedia(model, img, m.sha256, "thumb");
    return h("figure", { class: "cx-conditioning-item", "data-field": m.field, title: `${label(m)}: ${m.source || m.sha256.slice(0, 12)}` },
      img, h("figcaption", {}, label(m)));
  }));
}
