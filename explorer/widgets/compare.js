// Compare: 2–9 clips driven by one clock (createSyncTransport in _shared.js: every video stays paused and is
// seeked to the shared frame, so all tiles always show the same frame). Each tile is labelled by what differs
// between the clips, with what they share above. Two clips add wipe and difference views.
export default {
  render({ model, el }) {
    const clips = model.get("clips") || [];
    const n = clips.length;
    const fps = clips[0]?.fps || 8;
    const frames = Math.max(1, ...clips.map((c) => c.frames || 1));
    const letters = "ABCDEFGHI";
    let current = Math.min(frames - 1, Math.max(0, model.get("frame") || 0));

    // --- tiles: one video per clip, reused by every view; labelled by what differs between the clips ----
    const tiles = clips.map((clip, i) => {
      const video = clipVideo(model, clip, { class: "cx-video cx-compare-video", dataset: { index: i } });
      const meta = h("span", { class: "cx-compare-meta", title: `${clip.prompt}\nseed ${clip.seed} · ${clip.model || clip.backend} · ${clip.id}` },
        h("span", { class: "cx-compare-prompt cx-compare-difflabel" }, clip.label || "same settings"));
      const label = h("div", { class: "cx-compare-label" }, h("b", { class: "cx-compare-letter" }, letters[i]), meta);
      const stage = h("div", { class: "cx-stage cx-compare-stage" });
      const tile = h("div", { class: "cx-compare-tile", dataset: { index: i } }, stage, label);
      return { clip, video, label, stage, tile };
    });

    // --- the shared transport (_shared.js), plus the view switch and blind ----------------------------
    const blindBox = h("input", { type: "checkbox", class: "cx-blind-toggle" });
    const blindLabel = h("label", { class: "cx-compare-blind", title: "Hide what differs (prompt, seed, model…)" }, blindBox, " blind");
    const views = { side: "side by side", wipe: "wipe", difference: "difference" };
    const viewButtons = Object.fromEntries(Object.entries(views).map(([key, text]) =>
      [key, h("button", { class: `cx-view cx-view-${key}`, dataset: { view: key }, onclick: () => { model.set("view", key); model.save_changes(); } }, text)]));
    const viewSwitch = n === 2 ? h("span", { class: "cx-compare-views", role: "group" }, ...Object.values(viewButtons)) : null;
    const shared = h("div", { class: "cx-compare-shared", title: "What every clip here has in common" });
    const main = h("div", { class: "cx-compare-main" });
    const root = h("div", { class: "cx-compare", tabindex: 0 }, shared, main);
    // Sound: muted by default; "sound: A" plays clip A's track on the shared clock (the videos themselves are only
    // ever seeked, so one hidden <audio> plays, nudged back in step when it drifts more than a few frames).
    const voiced = tiles.map((t, i) => [t, letters[i]]).filter(([t]) => t.clip.audio);
    const soundPick = voiced.length ? h("select", { class: "cx-compare-sound", title: "Whose sound plays (muted by default)" },
      h("option", { value: "" }, "muted"), ...voiced.map(([t, letter]) => h("option", { value: t.clip.sha256 }, `sound: ${letter}`))) : null;
    const track = h("audio", { class: "cx-compare-audio", preload: "auto" });
    const transport = createSyncTransport(root, { frame: current, fps, extra: [viewSwitch, blindLabel, soundPick],
      videos: tiles.map(({ video, clip }) => ({ video, clip })) });
    transport.bar.classList.add("cx-compare-bar");
    root.append(transport.bar, track);
    el.append(root);
    const show = (f) => transport.show(f);
    const speedOf = () => Number(transport.bar.querySelector(".cx-speed")?.value || 1);
    const follow = (f, playing) => {
      if (!soundPick || !soundPick.value) { if (!track.paused) track.pause(); return; }
      const t = f / fps;
      if (!playing) { track.pause(); track.currentTime = t; return; }
      track.playbackRate = speedOf();
      if (Math.abs(track.currentTime - t) > 3 / fps) track.currentTime = t;
      if (track.paused) track.play().catch(() => {});
    };
    if (soundPick) {
      soundPick.onchange = () => {
        track.pause();
        if (soundPick.value) setMedia(model, track, soundPick.value, "mp4");
        root.dataset.sound = soundPick.value ? voiced.find(([t]) => t.clip.sha256 === soundPick.value)[1] : "";
        follow(current, transport.isPlaying());
      };
      root.dataset.sound = "";
    }
    transport.onFrame((f, playing) => {
      current = f;
      follow(f, playing);
      // Python hears of the frame only when it is still: no stream of messages while playing
      if (!playing && model.get("frame") !== f) { model.set("frame", f); model.save_changes(); }
      if (model.get("view") === "difference") scheduleDiff();
    });
    blindBox.onchange = () => { model.set("blind", blindBox.checked); model.save_changes(); };
    const seekVideo = (tile, f) => {
      const t = (Math.min((tile.clip.frames || frames) - 1, f) + 0.5) / (tile.clip.fps || fps);
      if (Math.abs(tile.video.currentTime - t) > 1e-4) tile.video.currentTime = t;
    };

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
    const drawShared = () => { shared.textContent = model.get("shared") ? `shared: ${model.get("shared")}` : ""; };
    const fromPython = () => { const f = model.get("frame"); if (f !== transport.frame()) { transport.stop(); show(f); } };

    layout();
    applyBlind();
    drawShared();
    model.on("change:view", layout);
    model.on("change:width", layout);
    model.on("change:blind", applyBlind);
    model.on("change:shared", drawShared);
    model.on("change:frame", fromPython);
    return () => {
      model.off("change:view", layout);
      model.off("change:width", layout);
      model.off("change:blind", applyBlind);
      model.off("change:shared", drawShared);
      model.off("change:frame", fromPython);
      track.pause();
      track.removeAttribute("src");
      transport.destroy();
    };
  },
};
