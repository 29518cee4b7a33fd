// MotionBrush: paint up to five regions on the first frame (click points and close the polygon, or drag a freehand
// outline), give the selected one its four amounts, set a camera pan/zoom, see arrows and end outlines; Generate.
const MB_SVG = "http://www.w3.org/2000/svg";
const MB_AMOUNTS = [["horizontal", "→ horizontal"], ["vertical", "↑ vertical"], ["proximity", "⇱ proximity"], ["ambient", "≈ ambient"]];
const MB_CAMERA = [["pan_x", "camera → pan"], ["pan_y", "camera ↑ tilt"], ["zoom", "camera zoom"]];
const MB_COLOURS = ["#ff5252", "#40c4ff", "#ffd740", "#69f0ae", "#e040fb"];
const MB_MOST_POINTS = 64; // a freehand outline is thinned to this many points
const MB_CLOSE = 0.03;     // a click this near the first point closes the polygon (fraction of the frame)

function mbSvg(tag, attrs = {}) {
  const node = document.createElementNS(MB_SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

function mbCentre(points) {
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  return [(Math.min(...xs) + Math.max(...xs)) / 2, (Math.min(...ys) + Math.max(...ys)) / 2];
}

function mbArea(points) {
  let sum = 0;
  for (let i = 0; i < points.length; i++) {
    const [x1, y1] = points[i], [x2, y2] = points[(i + 1) % points.length];
    sum += x1 * y2 - x2 * y1;
  }
  return Math.abs(sum) / 2;
}

// Keep every n-th point so an outline has at most `most` points (the shape stays; the request stays small).
function mbThin(points, most) {
  if (points.length <= most) return points;
  const step = points.length / most;
  return Array.from({ length: most }, (_, i) => points[Math.floor(i * step)]);
}

export default {
  render({ model, el }) {
    const limits = model.get("limits");
    const most = limits.regions || 5;
    let regions = (model.get("regions") || []).map((r) => ({ ...r }));
    let selected = regions.length ? 0 : -1;
    let draft = []; // the polygon being clicked out
    let stroke = null; // {start, points, moved} while the pointer is down

    const picture = h("img", { class: "cx-mb-picture", src: model.get("picture"), alt: "first frame", draggable: "false" });
    const overlay = mbSvg("svg", { class: "cx-mb-overlay", viewBox: "0 0 1 1", preserveAspectRatio: "none" });
    const defs = mbSvg("defs");
    MB_COLOURS.concat(["#ffffff"]).forEach((colour, i) => {
      const marker = mbSvg("marker", { id: `cx-mb-arrow-${i}`, viewBox: "0 0 10 10", refX: 8, refY: 5, markerWidth: 5, markerHeight: 5, orient: "auto-start-reverse" });
      marker.append(mbSvg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: colour }));
      defs.append(marker);
    });
    const shapes = mbSvg("g");
    overlay.append(defs, shapes);
    const stage = h("div", { class: "cx-mb-stage", title: "Click points and close the polygon (click the first point, double-click or Enter), or drag a freehand outline", tabindex: 0 },
      picture, overlay);
    stage.style.aspectRatio = String(model.get("aspect") || 1);

    const chips = h("div", { class: "cx-mb-chips" });
    const removeButton = h("button", { class: "cx-mb-delete", title: "Remove the selected region (Delete)" }, "Remove region");
    const clearButton = h("button", { class: "cx-mb-clear", title: "Remove every region and reset the camera" }, "Clear");
    const hint = h("div", { class: "cx-mb-hint" });
    const slider = (name, label, [low, high]) => {
      const input = h("input", { type: "range", name, min: low, max: high, step: 0.05, value: 0 });
      input.addEventListener("keydown", (event) => event.stopPropagation()); // arrow keys move the slider, not JupyterLab's cursor
      const shown = h("span", { class: "cx-mb-value" }, "0");
      return { input, shown, row: h("label", { class: "cx-mb-slider" }, h("span", { class: "cx-mb-label" }, label), input, shown) };
    };
    const amountSliders = Object.fromEntries(MB_AMOUNTS.map(([name, label]) => [name, slider(name, label, limits.amounts[name])]));
    const cameraSliders = Object.fromEntries(MB_CAMERA.map(([name, label]) => [name, slider(name, label, limits.camera[name])]));
    const amountsBox = h("fieldset", { class: "cx-mb-amounts" }, h("legend", {}, "selected region"), ...Object.values(amountSliders).map((s) => s.row));
    const cameraBox = h("fieldset", { class: "cx-mb-camera" }, h("legend", {}, "camera"), ...Object.values(cameraSliders).map((s) => s.row));
    const generateButton = h("button", { class: "cx-primary cx-mb-generate" }, "Generate");
    const message = h("div", { class: "cx-message", role: "status", "aria-live": "polite" });
    const error = h("div", { class: "cx-error", role: "alert" });
    const take = h("div", { class: "cx-mb-take" });
    const source = h("div", { class: "cx-meta cx-mb-source" });
    const root = h("div", { class: "clip-explorer cx-motion-brush" },
      h("div", { class: "cx-mb-left" }, stage, source, h("div", { class: "cx-row" }, chips, removeButton, clearButton), hint),
      h("div", { class: "cx-mb-right" }, amountsBox, cameraBox, h("div", { class: "cx-row" }, generateButton), message, error, take));
    el.append(root);

    // --- state -> Python -------------------------------------------------------------------------
    const save = () => {
      model.set("regions", regions.map((r) => ({ ...r, region: r.region.map((p) => [...p]) })));
      model.save_changes();
    };
    const saveCamera = (camera) => { model.set("camera", camera); model.save_changes(); };

    // --- drawing ---------------------------------------------------------------------------------
    const point = (event) => {
      const rect = overlay.getBoundingClientRect();
      const clamp = (v) => Math.min(1, Math.max(0, v));
      return [clamp((event.clientX - rect.left) / rect.width), clamp((event.clientY - rect.top) / rect.height)];
    };
    const far = (a, b, d) => Math.hypot(a[0] - b[0], a[1] - b[1]) > d;
    const addRegion = (points) => {
      const clean = points.filter((p, i) => i === 0 || far(p, points[i - 1], 0.004));
      if (clean.length < 3 || mbArea(clean) < 1e-4) { say("", "a region needs at least 3 points around some area"); return; }
      if (regions.length >= most) { say("", `at most ${most} regions: remove one first`); return; }
      regions.push({ region: mbThin(clean, MB_MOST_POINTS).map(([x, y]) => [Number(x.toFixed(4)), Number(y.toFixed(4))]),
        horizontal: 0, vertical: 0, proximity: 0, ambient: 0 });
      selected = regions.length - 1;
      say(`region ${selected + 1} added: set its sliders`, "");
      save();
      draw();
    };
    const closeDraft = () => { if (draft.length >= 3) { const points = draft; draft = []; addRegion(points); } };
    overlay.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      event.preventDefault();
      stage.focus({ preventScroll: true });
      overlay.setPointerCapture(event.pointerId);
      const p = point(event);
      stroke = { start: p, points: [p], moved: false, target: event.target };
    });
    overlay.addEventListener("pointermove", (event) => {
      if (!stroke) return;
      const p = point(event);
      if (!stroke.moved && far(p, stroke.start, 0.02)) stroke.moved = true;
      if (stroke.moved && far(p, stroke.points[stroke.points.length - 1], 0.005)) { stroke.points.push(p); drawDraft(stroke.points); }
    });
    overlay.addEventListener("pointerup", (event) => {
      if (!stroke) return;
      const { moved, points, target } = stroke;
      stroke = null;
      if (moved) { draft = []; addRegion(points); return; } // a freehand outline
      const p = point(event);
      const hit = target && target.dataset ? target.dataset.index : undefined;
      if (!draft.length && hit !== undefined) { selected = Number(hit); draw(); return; } // a click on a region selects it
      if (draft.length >= 3 && !far(p, draft[0], MB_CLOSE)) { closeDraft(); return; }
      if (regions.length >= most) { say("", `at most ${most} regions: remove one first`); return; }
      draft.push(p);
      say(draft.length < 3 ? `point ${draft.length}: keep clicking` : "click the first point, double-click or press Enter to close", "");
      draw();
    });
    overlay.addEventListener("pointercancel", () => { stroke = null; draw(); });
    overlay.addEventListener("dblclick", (event) => { event.preventDefault(); closeDraft(); });
    stage.addEventListener("keydown", (event) => {
      if (event.key === "Enter") closeDraft();
      else if (event.key === "Escape") { draft = []; draw(); }
      else if ((event.key === "Delete" || event.key === "Backspace") && !draft.length) removeSelected();
      else return;
      event.preventDefault();
      event.stopPropagation(); // not a JupyterLab shortcut
    });

    // --- controls --------------------------------------------------------------------------------
    const fmt = (v) => (v > 0 ? "+" : "") + Number(v).toFixed(2);
    for (const [name, s] of Object.entries(amountSliders)) {
      s.input.addEventListener("input", () => {
        if (selected < 0) return;
        regions[selected][name] = Number(s.input.value);
        s.shown.textContent = fmt(s.input.value);
        drawShapes();
      });
      s.input.addEventListener("change", save);
    }
    for (const [name, s] of Object.entries(cameraSliders)) {
      s.input.addEventListener("input", () => { s.shown.textContent = fmt(s.input.value); drawShapes(cameraFromSliders()); });
      s.input.addEventListener("change", () => saveCamera(cameraFromSliders()));
    }
    const cameraFromSliders = () => Object.fromEntries(Object.entries(cameraSliders).map(([name, s]) => [name, Number(s.input.value)]));
    const removeSelected = () => {
      if (selected < 0) return;
      regions.splice(selected, 1);
      selected = Math.min(selected, regions.length - 1);
      save();
      draw();
    };
    removeButton.onclick = removeSelected;
    clearButton.onclick = () => {
      regions = []; selected = -1; draft = [];
      save();
      saveCamera(Object.fromEntries(MB_CAMERA.map(([name]) => [name, 0])));
      draw();
    };
    generateButton.onclick = () => { save(); saveCamera(cameraFromSliders()); model.send({ type: "generate" }); };

    const say = (text, problem) => {
      message.textContent = text; message.hidden = !text;
      error.textContent = problem; error.hidden = !problem;
    };

    // --- drawing the plan --------------------------------------------------------------------------
    const drawDraft = (points) => {
      const old = shapes.querySelector(".cx-mb-draft");
      if (old) old.remove();
      if (!points.length) return;
      shapes.append(mbSvg("polyline", { class: "cx-mb-draft", points: points.map((p) => p.join(",")).join(" ") }));
    };
    const drawShapes = (camera = model.get("camera") || {}) => {
      shapes.replaceChildren();
      regions.forEach((r, i) => {
        const colour = MB_COLOURS[i % MB_COLOURS.length];
        const [cx, cy] = mbCentre(r.region);
        const scale = Math.pow(2, r.proximity || 0);
        const dx = r.horizontal || 0, dy = -(r.vertical || 0);
        const polygon = mbSvg("polygon", { class: `cx-mb-region${i === selected ? " cx-mb-selected" : ""}`, points: r.region.map((p) => p.join(",")).join(" "),
          stroke: colour, fill: colour, "data-index": i });
        polygon.dataset.index = String(i);
        shapes.append(polygon);
        if (dx || dy || r.proximity) { // where it ends: the outline moved and scaled, and an arrow to it
          const end = r.region.map(([x, y]) => [cx + dx + (x - cx) * scale, cy + dy + (y - cy) * scale].join(",")).join(" ");
          shapes.append(mbSvg("polygon", { class: "cx-mb-end", points: end, stroke: colour }));
        }
        if (dx || dy) {
          shapes.append(mbSvg("line", { class: "cx-mb-arrow", x1: cx, y1: cy, x2: cx + dx, y2: cy + dy, stroke: colour, "marker-end": `url(#cx-mb-arrow-${i % MB_COLOURS.length})` }));
        }
        if (r.ambient) shapes.append(mbSvg("circle", { class: "cx-mb-ambient", cx, cy, r: 0.01 + 0.04 * r.ambient, stroke: colour }));
      });
      const pan = [camera.pan_x || 0, -(camera.pan_y || 0)];
      if (pan[0] || pan[1]) {
        shapes.append(mbSvg("line", { class: "cx-mb-arrow cx-mb-camera-arrow", x1: 0.5, y1: 0.5, x2: 0.5 + pan[0], y2: 0.5 + pan[1], stroke: "#ffffff",
          "marker-end": `url(#cx-mb-arrow-${MB_COLOURS.length})` }));
      }
      if (camera.zoom) { // the part of the frame the camera sees at the end
        const side = Math.pow(2, -camera.zoom);
        shapes.append(mbSvg("rect", { class: "cx-mb-view", x: 0.5 - side / 2 + pan[0], y: 0.5 - side / 2 + pan[1], width: side, height: side }));
      }
      if (draft.length) {
        shapes.append(mbSvg("polyline", { class: "cx-mb-draft", points: draft.map((p) => p.join(",")).join(" ") }));
        shapes.append(mbSvg("circle", { class: "cx-mb-first", cx: draft[0][0], cy: draft[0][1], r: 0.012 }));
      }
    };
    const draw = () => {
      chips.replaceChildren(...regions.map((r, i) => {
        const chip = h("button", { class: `cx-mb-chip${i === selected ? " cx-on" : ""}`, title: `Select region ${i + 1}`, "data-index": i }, String(i + 1));
        chip.style.borderColor = MB_COLOURS[i % MB_COLOURS.length];
        chip.onclick = () => { selected = i; draw(); };
        return chip;
      }));
      const region = regions[selected];
      for (const [name, s] of Object.entries(amountSliders)) {
        s.input.disabled = !region;
        s.input.value = String(region ? region[name] || 0 : 0);
        s.shown.textContent = fmt(s.input.value);
      }
      amountsBox.querySelector("legend").textContent = region ? `region ${selected + 1}` : "no region selected";
      removeButton.disabled = !region;
      hint.textContent = regions.length >= most ? `${most} regions: the most a plan holds`
        : "click points, then the first one to close · or drag a freehand outline · click a region to select it";
      root.dataset.regions = String(regions.length);
      root.dataset.selected = String(selected);
      drawShapes();
    };
    const fromPython = () => {
      regions = (model.get("regions") || []).map((r) => ({ ...r }));
      if (selected >= regions.length) selected = regions.length - 1;
      const camera = model.get("camera") || {};
      for (const [name, s] of Object.entries(cameraSliders)) { s.input.value = String(camera[name] || 0); s.shown.textContent = fmt(s.input.value); }
      draw();
    };

    // --- the take ------------------------------------------------------------------------------------
    let player = null;
    const showTake = () => {
      const clip = model.get("clip");
      if (player) player.destroy();
      player = null;
      take.replaceChildren();
      if (!clip || !clip.sha256) return;
      player = createPlayer(model, clip);
      take.append(player.root, h("div", { class: "cx-meta", title: clip.prompt }, `${clip.id} · seed ${clip.seed} · ${clip.backend}`));
      take.dataset.id = clip.id;
      player.video.addEventListener("loadeddata", () => player.video.play().catch(() => {}), { once: true });
    };
    const news = () => {
      say(model.get("message"), model.get("error"));
      root.dataset.running = model.get("running") ? "yes" : "no";
      generateButton.disabled = model.get("running");
    };
    source.textContent = `painting on ${model.get("source")}`;
    model.on("change:regions", fromPython);
    model.on("change:camera", fromPython);
    model.on("change:clip", showTake);
    model.on("change:message change:error change:running", news);
    fromPython();
    showTake();
    news();
    return () => {
      model.off("change:regions", fromPython);
      model.off("change:camera", fromPython);
      model.off("change:clip", showTake);
      model.off("change:message change:error change:running", news);
      if (player) player.destroy();
    };
  },
};
