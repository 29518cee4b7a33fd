// Atlas: the clips as points on a <canvas> (10k draw in a few ms), hover plays a clip in a floating player,
// drag a freehand loop to select, then Compare or Battle. Hover is hit-tested on a grid of buckets, not a scan.
export default {
  render({ model, el }) {
    const WIDTH = 640, HEIGHT = 440, PAD = 12, CELL = 16, HOVER_PX = 6;
    let radius = 4; // smaller when there are thousands of points, so they overlap less
    const stop = (e) => e.stopPropagation(); // typing in the filter bar must not trigger notebook shortcuts

    // -- filter bar (as the gallery's) ----------------------------------------------------
    const field = (name, attrs) => h("input", { class: `cx-a-${name}`, name, onkeydown: stop, ...attrs });
    const text = field("text", { type: "search", placeholder: "Prompt text…", title: "Show clips whose prompt contains this" });
    const tagList = h("datalist", { id: `cx-a-tags-${Math.random().toString(36).slice(2)}` });
    const tag = field("tag", { type: "search", placeholder: "Tag", list: tagList.id, size: 10 });
    const author = h("select", { class: "cx-a-author", title: "Author" });
    const backend = h("select", { class: "cx-a-backend", title: "Backend / model" });
    const minRating = h("select", { class: "cx-a-min-rating", title: "Minimum rating" },
      h("option", { value: 0 }, "Any rating"), ...[1, 2, 3, 4, 5].map((n) => h("option", { value: n }, `≥ ${"★".repeat(n)}`)));
    const colourBy = h("select", { class: "cx-a-colour-by", title: "Colour the points by" });
    const bar = h("div", { class: "cx-a-bar" }, text, tag, tagList, author, backend, minRating, h("label", { class: "cx-a-colour-label" }, "Colour: ", colourBy));

    const canvas = h("canvas", { class: "cx-a-canvas", width: WIDTH, height: HEIGHT, tabindex: 0 });
    const overlay = h("canvas", { class: "cx-a-overlay", width: WIDTH, height: HEIGHT });
    const floating = h("div", { class: "cx-a-float" });
    const stage = h("div", { class: "cx-a-stage", style: { width: `${WIDTH}px`, height: `${HEIGHT}px` } }, canvas, overlay, floating);
    const legend = h("div", { class: "cx-a-legend" });
    const info = h("div", { class: "cx-a-info" });
    const compareButton = h("button", { class: "cx-a-compare cx-primary", title: "Show the selected clips side by side" }, "Compare");
    const battleButton = h("button", { class: "cx-a-battle", title: "Blind battles among the selected clips; each choice is a vote" }, "Battle");
    const clearButton = h("button", { class: "cx-a-clear", title: "Clear the selection" }, "Clear");
    const selInfo = h("span", { class: "cx-a-selinfo" });
    const footer = h("div", { class: "cx-a-footer" }, info, h("span", { class: "cx-a-spacer" }), selInfo, clearButton, battleButton, compareButton);
    const message = h("div", { class: "cx-a-message" });
    const compareRow = h("div", { class: "cx-a-comparerow" });
    const battleRow = h("div", { class: "cx-a-battlerow" });
    const root = h("div", { class: "cx-atlas" }, bar, h("div", { class: "cx-a-main" }, stage, legend), footer, message, compareRow, battleRow);

    const query = () => model.send({ type: "query", text: text.value, tag: tag.value, author: author.value, ...splitBackend(backend.value),
      min_rating: Number(minRating.value), colour_by: colourBy.value });
    const splitBackend = (v) => { const [b, ...m] = v ? v.split("\u0000") : ["", ""]; return { backend: b || "", model: m.join("") || "" }; };
    let typing = 0;
    for (const input of [text, tag]) input.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(query, 250); });
    for (const s of [author, backend, minRating, colourBy]) s.addEventListener("change", query);
    const fillSelect = (select, first, values, current) => {
      select.replaceChildren(...(first === null ? [] : [h("option", { value: "" }, first)]), ...values.map(([v, label]) => h("option", { value: v }, label)));
      select.value = current;
    };
    const drawFilters = () => {
      const o = model.get("options") || {};
      if (document.activeElement !== text) text.value = model.get("text");
      if (document.activeElement !== tag) tag.value = model.get("tag");
      minRating.value = String(model.get("min_rating"));
      tagList.replaceChildren(...(o.tags || []).map((t) => h("option", { value: t })));
      fillSelect(author, "All authors", (o.authors || []).map((a) => [a, a]), model.get("author"));
      const backs = [...(o.backends || []).map((b) => [`${b}\u0000`, b]), ...(o.models || []).map((m) => [`\u0000${m}`, `model: ${m}`])];
      const current = `${model.get("backend")}\u0000${model.get("model")}`;
      fillSelect(backend, "All backends", backs, current === "\u0000" ? "" : current);
      fillSelect(colourBy, null, o.colour_by || [["stars", "mean stars"]], model.get("colour_by"));
    };

    // -- points: screen positions, colours, hit-test grid ------------------------------------
    let ids = [], px = new Float32Array(0), py = new Float32Array(0), colour = [], low = 0, high = 1;
    let index = new Map(); // id -> point number
    let buckets = new Map(); // cell key -> [point numbers]
    const ramp = (t) => { // a perceptual-ish blue → yellow ramp (viridis stops), t in 0..1
      const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
      const s = Math.min(0.9999, Math.max(0, t)) * (stops.length - 1), i = Math.floor(s), f = s - i;
      const c = stops[i].map((v, k) => Math.round(v + (stops[i + 1][k] - v) * f));
      return `rgb(${c[0]},${c[1]},${c[2]})`;
    };
    const NONE = "rgba(150,150,150,0.55)";
    const LEVELS = 24; // colours are binned so the canvas switches fillStyle at most LEVELS + 1 times per draw
    const colourOf = (k) => { const c = colour[k]; return c === null || c === undefined ? -1 : high > low ? Math.round(((c - low) / (high - low)) * (LEVELS - 1)) : LEVELS - 1; };
    const load = () => {
      const p = model.get("points") || {};
      ids = p.ids || [];
      const grid = p.grid || 65535, n = ids.length;
      px = new Float32Array(n); py = new Float32Array(n);
      const w = WIDTH - 2 * PAD, hgt = HEIGHT - 2 * PAD, side = Math.min(w, hgt);
      const ox = PAD + (w - side) / 2, oy = PAD + (hgt - side) / 2;
      for (let k = 0; k < n; k++) { px[k] = ox + (p.x[k] / grid) * side; py[k] = oy + (1 - p.y[k] / grid) * side; }
      colour = p.colour || [];
      radius = n > 2000 ? 2.5 : 4;
      const lg = model.get("legend") || {};
      low = lg.low ?? 0; high = lg.high ?? 1;
      index = new Map(ids.map((id, k) => [id, k]));
      buckets = new Map();
      for (let k = 0; k < n; k++) {
        const key = `${Math.floor(px[k] / CELL)},${Math.floor(py[k] / CELL)}`;
        if (!buckets.has(key)) buckets.set(key, []);
        buckets.get(key).push(k);
      }
      draw();
    };
    const draw = () => {
      const t0 = performance.now();
      const ctx = canvas.getContext("2d");
      ctx.clearRect(0, 0, WIDTH, HEIGHT);
      const byLevel = Array.from({ length: LEVELS + 1 }, () => []);
      for (let k = 0; k < ids.length; k++) byLevel[colourOf(k) + 1].push(k);
      byLevel.forEach((points, level) => { // grey (no value) first, so the coloured points sit on top
        if (!points.length) return;
        ctx.fillStyle = level === 0 ? NONE : ramp((level - 1) / (LEVELS - 1));
        ctx.beginPath();
        for (const k of points) { ctx.moveTo(px[k] + radius, py[k]); ctx.arc(px[k], py[k], radius, 0, 2 * Math.PI); }
        ctx.fill();
      });
      drawOverlay();
      root.dataset.drawMs = (performance.now() - t0).toFixed(2);
      root.dataset.points = String(ids.length);
    };
    let hovered = -1, lasso = null;
    const drawOverlay = () => {
      const ctx = overlay.getContext("2d");
      ctx.clearRect(0, 0, WIDTH, HEIGHT);
      const sel = model.get("selected");
      ctx.strokeStyle = "#d32f2f"; ctx.lineWidth = 1.5;
      ctx.beginPath();
      for (const id of sel) { const k = index.get(id); if (k === undefined) continue; ctx.moveTo(px[k] + radius + 2, py[k]); ctx.arc(px[k], py[k], radius + 2, 0, 2 * Math.PI); }
      ctx.stroke();
      if (hovered >= 0) { ctx.strokeStyle = "#000"; ctx.beginPath(); ctx.arc(px[hovered], py[hovered], radius + 3, 0, 2 * Math.PI); ctx.stroke(); }
      if (lasso && lasso.length > 1) {
        ctx.strokeStyle = "#1976d2"; ctx.fillStyle = "rgba(25,118,210,0.08)"; ctx.setLineDash([4, 3]);
        ctx.beginPath(); ctx.moveTo(lasso[0][0], lasso[0][1]);
        for (const [x, y] of lasso) ctx.lineTo(x, y);
        ctx.closePath(); ctx.fill(); ctx.stroke(); ctx.setLineDash([]);
      }
    };
    const nearest = (x, y) => { // the closest point within HOVER_PX, looking only in the 3×3 cells around
      let best = -1, bestD = HOVER_PX * HOVER_PX;
      const cx = Math.floor(x / CELL), cy = Math.floor(y / CELL);
      for (let i = cx - 1; i <= cx + 1; i++) for (let j = cy - 1; j <= cy + 1; j++) {
        for (const k of buckets.get(`${i},${j}`) || []) {
          const d = (px[k] - x) ** 2 + (py[k] - y) ** 2;
          if (d <= bestD) { bestD = d; best = k; }
        }
      }
      return best;
    };
    const inside = (poly, x, y) => { // even-odd rule
      let hit = false;
      for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
        const [xi, yi] = poly[i], [xj, yj] = poly[j];
        if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) hit = !hit;
      }
      return hit;
    };

    // -- hover: a small floating player --------------------------------------------------------
    const clips = new Map(); // id -> clip (asked of the kernel once)
    const waiting = new Map(); // id -> [resolve]
    const onCustom = (msg) => {
      if (!msg || msg.type !== "clip" || !msg.clip) return;
      clips.set(msg.clip.id, msg.clip);
      for (const resolve of waiting.get(msg.clip.id) || []) resolve(msg.clip);
      waiting.delete(msg.clip.id);
    };
    model.on("msg:custom", onCustom);
    const clipOf = (id) => clips.has(id) ? Promise.resolve(clips.get(id)) : new Promise((resolve) => {
      if (!waiting.has(id)) { waiting.set(id, []); model.send({ type: "clip", id }); }
      waiting.get(id).push(resolve);
    });
    let floatVideo = null, floatId = null;
    const hideFloat = () => {
      if (floatVideo) { floatVideo.pause(); floatVideo.removeAttribute("src"); floatVideo.load(); }
      floatVideo = null; floatId = null;
      floating.replaceChildren();
      floating.classList.remove("cx-a-on");
      delete floating.dataset.id;
    };
    const showFloat = async (k) => {
      const id = ids[k];
      if (floatId === id) return;
      floatId = id;
      const clip = await clipOf(id);
      if (floatId !== id) return; // the pointer moved on while the kernel answered
      if (floatVideo) { floatVideo.pause(); floatVideo.removeAttribute("src"); floatVideo.load(); }
      floatVideo = clipVideo(model, clip, { loop: true, autoplay: true, width: 160 });
      floatVideo.play().catch(() => {});
      const c = colour[k];
      floating.replaceChildren(floatVideo, h("div", { class: "cx-a-float-prompt" }, clip.prompt),
        h("div", { class: "cx-meta" }, `seed ${clip.seed}${clip.model ? ` · ${clip.model}` : ""}${c === null || c === undefined ? "" : ` · ${model.get("legend").label}: ${c}`}`));
      floating.dataset.id = id;
      const left = px[k] + 14 + 170 > WIDTH ? px[k] - 14 - 170 : px[k] + 14;
      floating.style.left = `${Math.max(0, left)}px`;
      floating.style.top = `${Math.max(0, Math.min(HEIGHT - 150, py[k] - 40))}px`;
      floating.classList.add("cx-a-on");
    };

    // -- pointer: hover, click to toggle one, drag a loop to select -----------------------------
    const at = (e) => { const r = canvas.getBoundingClientRect(); return [(e.clientX - r.left) * (WIDTH / r.width), (e.clientY - r.top) * (HEIGHT / r.height)]; };
    const setSelected = (list) => model.send({ type: "select", ids: list });
    canvas.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      lasso = [at(e)];
      canvas.setPointerCapture(e.pointerId);
      hideFloat();
    });
    canvas.addEventListener("pointermove", (e) => {
      const [x, y] = at(e);
      if (lasso) { lasso.push([x, y]); drawOverlay(); return; }
      const k = nearest(x, y);
      if (k !== hovered) {
        hovered = k;
        canvas.style.cursor = k >= 0 ? "pointer" : "crosshair";
        drawOverlay();
        if (k >= 0) showFloat(k); else hideFloat();
      }
    });
    canvas.addEventListener("pointerup", (e) => {
      if (!lasso) return;
      const path = lasso;
      lasso = null;
      const [x, y] = at(e);
      const span = Math.max(...path.map(([a, b]) => Math.hypot(a - path[0][0], b - path[0][1])));
      if (path.length < 4 || span < 6) { // a click: toggle the point under it
        const k = nearest(x, y);
        const sel = model.get("selected");
        if (k >= 0) setSelected(sel.includes(ids[k]) ? sel.filter((i) => i !== ids[k]) : [...sel, ids[k]]);
        drawOverlay();
        return;
      }
      const chosen = [];
      const xs = path.map((q) => q[0]), ys = path.map((q) => q[1]);
      const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
      for (let k = 0; k < ids.length; k++) { // the loop's bounding box first: most points never reach the polygon test
        if (px[k] >= x0 && px[k] <= x1 && py[k] >= y0 && py[k] <= y1 && inside(path, px[k], py[k])) chosen.push(ids[k]);
      }
      setSelected(e.shiftKey ? [...new Set([...model.get("selected"), ...chosen])] : chosen); // shift adds to the selection
      drawOverlay();
    });
    canvas.addEventListener("pointerleave", () => { if (!lasso) { hovered = -1; hideFloat(); drawOverlay(); } });

    // -- legend, info, selection -----------------------------------------------------------------
    const fmt = (v) => (v === null || v === undefined ? "–" : Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3));
    const drawLegend = () => {
      const lg = model.get("legend") || {};
      const gradient = h("div", { class: "cx-a-ramp", style: { background: `linear-gradient(to top, ${[0, 0.25, 0.5, 0.75, 1].map(ramp).join(", ")})` } });
      const axes = (lg.axes || []).map((loadings, i) => {
        const top = Object.entries(loadings).sort((a, b) => Math.abs(b[1]) - Math.abs(a[1])).slice(0, 2);
        return h("div", { class: "cx-meta" }, `${i ? "↑" : "→"} ${top.map(([n, w]) => `${w < 0 ? "−" : "+"}${n}`).join(" ")} (${Math.round((lg.explained[i] || 0) * 100)} %)`);
      });
      legend.replaceChildren(
        h("div", { class: "cx-a-legend-title" }, lg.label || ""),
        h("div", { class: "cx-a-legend-scale" }, gradient, h("div", { class: "cx-a-legend-ticks" }, h("span", { class: "cx-a-high" }, fmt(lg.high)), h("span", { class: "cx-a-low" }, fmt(lg.low)))),
        h("div", { class: "cx-a-legend-none" }, h("span", { class: "cx-a-dot" }), ` no value (${lg.unknown || 0})`),
        ...(lg.note ? [h("div", { class: "cx-meta cx-a-note" }, lg.note)] : []), // replaceChildren would print a null
        h("div", { class: "cx-a-legend-axes", title: "What each axis follows (the metrics that load it most) and its share of the variance" }, ...axes));
    };
    const drawInfo = () => {
      const n = (model.get("points").ids || []).length, un = model.get("unmeasured");
      info.replaceChildren(h("span", { class: "cx-a-placed" }, `${n} clip${n === 1 ? "" : "s"} placed`),
        h("span", { class: "cx-a-unmeasured", title: (model.get("unmeasured_ids") || []).join("\n") }, un ? ` · ${un} unmeasured (not placed; explorer metrics --backfill)` : ""));
    };
    const drawSelection = () => {
      const n = model.get("selected").length;
      selInfo.textContent = n ? `${n} selected` : "Drag a loop to select";
      compareButton.disabled = n < 2 || n > 9;
      compareButton.title = n > 9 ? "Compare shows at most 9 clips" : "Show the selected clips side by side";
      battleButton.disabled = n < 2;
      clearButton.disabled = n === 0;
      drawOverlay();
    };
    clearButton.onclick = () => setSelected([]);
    compareButton.onclick = () => model.send({ type: "compare", ids: model.get("selected") });
    battleButton.onclick = () => model.send({ type: "battle", ids: model.get("selected") });

    // -- compare row (as the gallery's) ---------------------------------------------------------------
    let compareTransport = null;
    const closeCompare = () => { if (compareTransport) compareTransport.destroy(); compareTransport = null; compareRow.replaceChildren(); };
    const drawCompare = () => {
      closeCompare();
      const { clips: list = [], shared = "" } = model.get("comparing") || {};
      if (!list.length) return;
      const tiles = list.map((clip) => ({ clip, video: clipVideo(model, clip) }));
      const view = h("div", { class: "cx-a-compare-view", tabindex: 0 });
      compareTransport = createSyncTransport(view, { videos: tiles });
      view.append(
        h("div", { class: "cx-a-compare-clips" }, ...tiles.map(({ clip, video }) => h("div", { class: "cx-a-compare-cell", "data-id": clip.id },
          h("div", { class: "cx-stage" }, video),
          h("div", { class: "cx-a-compare-label", title: `${clip.id} · seed ${clip.seed}\n${clip.prompt}` }, clip.label || "same settings")))),
        compareTransport.bar);
      compareRow.append(
        h("div", { class: "cx-a-compare-head" }, h("strong", {}, `Comparing ${list.length} clips`),
          h("span", { class: "cx-a-compare-shared" }, shared ? `shared: ${shared}` : ""),
          h("button", { class: "cx-a-closecompare", onclick: () => model.send({ type: "compare", ids: [] }) }, "✕ Close")),
        view);
      compareTransport.start();
    };

    // -- battle row (blind, as pairwise) -------------------------------------------------------------------
    let battleVideos = [];
    const drawBattle = () => {
      for (const v of battleVideos) { v.pause(); v.removeAttribute("src"); v.load(); }
      battleVideos = [];
      const b = model.get("battle") || {};
      battleRow.replaceChildren();
      if (!b.left) return;
      const close = h("button", { class: "cx-a-closebattle", onclick: () => model.send({ type: "battle", ids: [] }) }, "✕ Close");
      const head = h("div", { class: "cx-a-battle-head" }, h("strong", {}, `Battle · ${b.votes || 0} vote${b.votes === 1 ? "" : "s"}`),
        h("span", { class: "cx-meta" }, b.notice || ""), close);
      if (!b.left.id) { battleRow.append(head); return; }
      const choose = (choice) => model.send({ type: "choose", choice, left: b.left.id, right: b.right.id });
      const side = (clip, name) => {
        const video = clipVideo(model, clip, { loop: true, autoplay: true });
        video.play().catch(() => {});
        battleVideos.push(video);
        return h("div", { class: `cx-a-battle-side cx-a-${name}`, "data-id": clip.id }, h("div", { class: "cx-stage" }, video),
          h("button", { class: `cx-a-choose-${name}`, onclick: () => choose(name) }, name === "left" ? "◀ Left is better" : "Right is better ▶"));
      };
      battleRow.append(head, h("div", { class: "cx-a-battle-pair" }, side(b.left, "left"), side(b.right, "right")),
        h("div", { class: "cx-a-battle-more" }, h("button", { class: "cx-a-choose-tie", onclick: () => choose("tie") }, "Tie"),
          h("button", { class: "cx-a-choose-skip", onclick: () => choose("skip") }, "Skip")));
    };

    const drawMessage = () => { const m = model.get("message"); message.textContent = m; message.classList.toggle("cx-a-error", m.startsWith("Error")); };
    const onPoints = () => { load(); drawInfo(); drawLegend(); drawSelection(); };
    const handlers = {
      "change:points": onPoints, "change:legend": () => { drawLegend(); load(); }, "change:unmeasured": drawInfo, "change:selected": drawSelection,
      "change:comparing": drawCompare, "change:battle": drawBattle, "change:message": drawMessage, "change:options": drawFilters,
      "change:text": drawFilters, "change:tag": drawFilters, "change:author": drawFilters, "change:backend": drawFilters,
      "change:model": drawFilters, "change:min_rating": drawFilters, "change:colour_by": drawFilters,
    };
    for (const [event, fn] of Object.entries(handlers)) model.on(event, fn);
    el.append(root);
    drawFilters(); onPoints(); drawMessage(); drawCompare(); drawBattle();
    // where each point is drawn, in canvas pixels (the canvas is shown at its own size): for tests and the bench
    root.cxPoints = () => ids.map((id, k) => ({ id, x: px[k], y: py[k] }));
    return () => {
      for (const [event, fn] of Object.entries(handlers)) model.off(event, fn);
      model.off("msg:custom", onCustom);
      clearTimeout(typing);
      hideFloat(); closeCompare();
      for (const v of battleVideos) { v.pause(); v.removeAttribute("src"); v.load(); }
    };
  },
};
