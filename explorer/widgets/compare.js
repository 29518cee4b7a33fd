// Compare: 2–9 clips driven by one clock. Every video stays paused and is seeked to the shared frame,
// so all tiles always show the same frame (no drift). Two clips add wipe and difference views.
export default {
  render({ model, el }) {
    const clips = model.get("clips") || [];
    const n = clips.length;
    const fps = clips[0]?.fps || 8;
    const frames = Math.max(1, ...clips.map((c) => c.frames || 1));
    const letters = "ABCDEFGHI";
    let current = Math.min(frames - 1, Math.max(0, model.get("frame") || 0));
    let playing = false;
    let loop = true;
    let raf = 0;
    let clock = null; // {t0, f0}

    // --- tiles: one video per clip, reused by every view --------------------------------------
    const tiles = clips.map((clip, i) => {
      const video = h("video", { class: "cx-video cx-compare-video", muted: true, playsinline: true, preload: "auto", dataset: { index: i } });
      video.muted = true;
      setMedia(model, video, clip.sha256, "mp4");
      const poster = mediaUrl(model, clip.sha256, "poster");
      if (poster) video.poster = poster;
      const meta = h("span", { class: "cx-compare-meta", title: `${clip.prompt}\nseed ${clip.seed} · ${clip.model || clip.backend} · ${clip.id}` },
        h("span", { class: "cx-compare-prompt" }, clip.prompt), h("span", { class: "cx-compare-detail" }, `seed ${clip.seed} · ${clip.model || clip.backend}`));
      const label = h("div", { class: "cx-compare-label" }, h("b", { class: "cx-compare-letter" }, letters[i]), meta);
      const stage = h("div", { class: "cx-stage cx-compare-stage" });
      const tile = h("div", { class: "cx-compare-tile", dataset: { index: i } }, stage, label);
      return { clip, video, label, stage, tile };
    });

    // --- shared control bar --------------------------------------------------------------------
    // the shared SVG icons where this build has them, text otherwise
    const glyph = (name, text) => (typeof icon === "function" ? icon(name) : text);
    const playButton = h("button", { class: "cx-play", title: "Play / pause all (space)" }, glyph("play", "▶"));
    const back = h("button", { class: "cx-step-back", title: "All one frame back (← or ,)" }, glyph("back", "|◀"));
    const forward = h("button", { class: "cx-step-forward", title: "All one frame forward (→ or .)" }, glyph("forward", "▶|"));
    const scrub = h("input", { class: "cx-scrub", type: "range", min: 0, max: frames - 1, step: 1, value: current, title: "Scrub all" });
    const counter = h("span", { class: "cx-counter" });
    const loopButton = h("button", { class: "cx-loop cx-on", title: "Loop" }, glyph("loop", "⟲"));
    const blindBox = h("input", { type: "checkbox", class: "cx-blind-toggle" });
    const blindLabel = h("label", { class: "cx-compare-blind", title: "Hide prompt, seed and model" }, blindBox, " blind");
    const views = { side: "side by side", wipe: "wipe", difference: "difference" };
    const viewButtons = Object.fromEntries(Object.entries(views).map(([key, text]) =>
      [key, h("button", { class: `cx-view cx-view-${key}`, dataset: { view: key }, onclick: () => { model.set("view", key); model.save_changes(); } }, text)]));
    const viewSwitch = n === 2 ? h("span", { class: "cx-compare-views", role: "group" }, ...Object.values(viewButtons)) : null;
    const bar = h("div", { class: "cx-controls cx-compare-bar" }, playButton, back, forward, scrub, counter, loopButton, viewSwitch, blindLabel);
    const main = h("div", { class: "cx-compare-main" });
    const root = h("div", { class: "cx-compare", tabindex: 0 }, main, bar);
    el.append(root);

    // --- frames ----------------------------------------------------------------------------------
    const seekVideo = (tile, f) => {
      const own = tile.clip.frames || frames;
      const t = (Math.min(own - 1, f) + 0.5) / (tile.clip.fps || fps);
      if (Math.abs(tile.video.currentTime - t) > 1e-4) tile.video.currentTime = t;
    };
    const show = (f, { sync = true } = {}) => {
      current = Math.min(frames - 1, Math.max(0, f));
      for (const tile of tiles) seekVideo(tile, current);
      scrub.value = String(current);
      counter.textContent = `frame ${current + 1}/${frames} · ${fmtTime(current / fps)}`;
      root.dataset.frame = String(current);
      if (sync && !playing && model.get("frame") !== current) { model.set("frame", current); model.save_changes(); }
      if (model.get("view") === "difference") scheduleDiff();
    };
    const tick = (now) => {
      if (!playing) return;
      let f = clock.f0 + Math.floor(((now - clock.t0) / 1000) * fps);
      if (f >= frames) {
        if (loop) f %= frames;
        else { f = frames - 1; stop(); show(f); return; }
      }
      if (f !== current) show(f, { sync: false });
      raf = requestAnimationFrame(tick);
    };
    const start = () => {
      if (playing) return;
      if (!loop && current >= frames - 1) current = 0;
      playing = true;
      clock = { t0: performance.now(), f0: current };
      playButton.replaceChildren(glyph("pause", "⏸"));
      root.classList.add("cx-playing");
      raf = requestAnimationFrame(tick);
    };
    function stop() {
      playing = false;
      cancelAnimationFrame(raf);
      raf = 0;
      playButton.replaceChildren(glyph("play", "▶"));
      root.classList.remove("cx-playing");
    }
    const toggle = () => { if (playing) { stop(); show(current); } else start(); };
    const step = (delta) => { stop(); show(current + delta); };
    playButton.onclick = toggle;
    back.onclick = () => step(-1);
    forward.onclick = () => step(1);
    scrub.oninput = () => { stop(); show(Number(scrub.value)); };
    loopButton.onclick = () => { loop = !loop; loopButton.classList.toggle("cx-on", loop); };
    blindBox.onchange = () => { model.set("blind", blindBox.checked); model.save_changes(); };
    root.addEventListener("keydown", (event) => {
      const keys = { " ": toggle, ArrowLeft: () => step(-1), ",": () => step(-1), ArrowRight: () => step(1), ".": () => step(1),
        Home: () => { stop(); show(0); }, End: () => { stop(); show(frames - 1); } };
      if (keys[event.key] && !["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName)) {
        event.preventDefault();
        event.stopPropagation();
        keys[event.key]();
      }
    });
    // a video that loads late (or was re-attached) catches up with the shared frame
    for (const tile of tiles) tile.video.addEventListener("loadeddata", () => seekVideo(tile, current));

    // --- difference (two clips) ------------------------------------------------------------------
    const diffCanvas = h("canvas", { class: "cx-compare-diff" });
    const scratch = [document.createElement("canvas"), document.createElement("canvas")];
    let diffPending = false;
    const drawDiff = () => {
      diffPending = false;
      if (model.get("view") !== "difference" || n !== 2) return;
      const [a, b] = tiles.map((t) => t.video);
      const w = a.videoWidth || tiles[0].clip.width, hgt = a.videoHeight || tiles[0].clip.height;
      if (!w || !hgt || a.readyState < 2 || b.readyState < 2) return;
      if (diffCanvas.width !== w || diffCanvas.height !== hgt) { diffCanvas.width = w; diffCanvas.height = hgt; }
      try {
        const data = [a, b].map((video, i) => {
          const c = scratch[i];
          c.width = w; c.height = hgt;
          const ctx = c.getContext("2d", { willReadFrequently: true });
          ctx.drawImage(video, 0, 0, w, hgt);
          return ctx.getImageData(0, 0, w, hgt).data;
        });
        const ctx = diffCanvas.getContext("2d");
        const out = ctx.createImageData(w, hgt);
        const [pa, pb] = data;
        for (let i = 0; i < out.data.length; i += 4) {
          out.data[i] = Math.min(255, Math.abs(pa[i] - pb[i]) * 4);
          out.data[i + 1] = Math.min(255, Math.abs(pa[i + 1] - pb[i + 1]) * 4);
          out.data[i + 2] = Math.min(255, Math.abs(pa[i + 2] - pb[i + 2]) * 4);
          out.data[i + 3] = 255;
        }
        ctx.putImageData(out, 0, 0);
        diffCanvas.title = `|A − B| ×4 at frame ${current + 1}`;
      } catch (error) {
        diffCanvas.title = `difference unavailable: ${error.message}`;
      }
    };
    function scheduleDiff() { if (!diffPending) { diffPending = true; requestAnimationFrame(drawDiff); } }
    for (const tile of tiles) tile.video.addEventListener("seeked", scheduleDiff);
    for (const tile of tiles) tile.video.addEventListener("loadeddata", scheduleDiff);

    // --- wipe (two clips) -------------------------------------------------------------------------
    let wipeAt = 50;
    const handle = h("div", { class: "cx-compare-handle", title: "Drag to wipe" });
    const wipeStage = h("div", { class: "cx-stage cx-compare-wipe" });
    const setWipe = (pct) => {
      wipeAt = Math.min(100, Math.max(0, pct));
      if (tiles[1]) tiles[1].video.style.clipPath = `inset(0 0 0 ${wipeAt}%)`;
      handle.style.left = `${wipeAt}%`;
    };
    let dragging = false;
    const wipeTo = (event) => {
      const rect = wipeStage.getBoundingClientRect();
      if (rect.width) setWipe(((event.clientX - rect.left) / rect.width) * 100);
    };
    wipeStage.addEventListener("pointerdown", (event) => { dragging = true; wipeStage.setPointerCapture(event.pointerId); wipeTo(event); event.preventDefault(); });
    wipeStage.addEventListener("pointermove", (event) => { if (dragging) wipeTo(event); });
    wipeStage.addEventListener("pointerup", () => { dragging = false; });
    wipeStage.addEventListener("pointercancel", () => { dragging = false; });

    // --- layout ----------------------------------------------------------------------------------
    const layout = () => {
      const view = n === 2 ? model.get("view") || "side" : "side";
      const width = model.get("width");
      main.replaceChildren();
      root.dataset.view = view;
      for (const [key, button] of Object.entries(viewButtons)) button.classList.toggle("cx-on", key === view);
      for (const tile of tiles) { tile.video.style.clipPath = ""; tile.stage.replaceChildren(tile.video); }
      if (view === "side") {
        const columns = model.get("columns") || Math.ceil(Math.sqrt(n));
        const grid = h("div", { class: "cx-compare-grid", style: { gridTemplateColumns: `repeat(${columns}, ${width}px)` } }, tiles.map((t) => t.tile));
        main.append(grid);
      } else {
        const [a, b] = tiles;
        const big = Math.min(2 * width, 720);
        const labels = h("div", { class: "cx-compare-pair-labels", style: { width: `${big}px` } }, a.label, b.label);
        if (view === "wipe") {
          b.video.classList.add("cx-compare-top");
          wipeStage.replaceChildren(a.video, b.video, handle);
          wipeStage.style.width = `${big}px`;
          setWipe(wipeAt);
          main.append(h("div", { class: "cx-compare-single" }, wipeStage, labels));
        } else {
          const diffStage = h("div", { class: "cx-stage cx-compare-diffstage", style: { width: `${big}px` } }, diffCanvas);
          // the videos stay in the document (hidden) so they keep decoding frames for the canvas
          const hidden = h("div", { class: "cx-compare-hidden" }, a.video, b.video);
          main.append(h("div", { class: "cx-compare-single" }, diffStage, hidden,
            h("div", { class: "cx-compare-diffnote", style: { width: `${big}px` } }, "|A − B| per pixel, ×4 (black = identical)"),
            h("div", { class: "cx-compare-pair-labels", style: { width: `${big}px` } }, a.label, b.label)));
        }
      }
      for (const tile of tiles) { if (view !== "wipe") tile.video.classList.remove("cx-compare-top"); seekVideo(tile, current); }
      if (view === "difference") scheduleDiff();
    };
    const applyBlind = () => { root.classList.toggle("cx-blind", !!model.get("blind")); blindBox.checked = !!model.get("blind"); };
    const fromPython = () => { const f = model.get("frame"); if (f !== current) { stop(); show(f); } };

    layout();
    applyBlind();
    show(current, { sync: false });
    model.on("change:view", layout);
    model.on("change:width", layout);
    model.on("change:blind", applyBlind);
    model.on("change:frame", fromPython);
    return () => {
      stop();
      model.off("change:view", layout);
      model.off("change:width", layout);
      model.off("change:blind", applyBlind);
      model.off("change:frame", fromPython);
      for (const tile of tiles) { tile.video.removeAttribute("src"); tile.video.load(); }
    };
  },
};
