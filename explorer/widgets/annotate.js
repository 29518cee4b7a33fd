// Annotator: pause, drag a box over the video, write a note, "Add note". The kernel logs it and
// answers with the refreshed `notes`; clicking a note seeks to its frame and shows its box.
let annotNonce = 0;

export default {
  render({ model, el }) {
    const clip = model.get("clip");
    const player = createPlayer(model, clip);
    player.root.classList.add("cx-annot-player");
    const stage = player.root.querySelector(".cx-stage");
    const overlay = h("div", { class: "cx-annot-overlay", title: "Pause, then drag to mark a region" });
    const draft = h("div", { class: "cx-annot-box cx-annot-draft", hidden: true });
    overlay.append(draft);
    stage.append(overlay);

    let box = null; // {x, y, w, h} fractions of the frame
    let selected = null; // id of the note whose box is highlighted

    const pct = (v) => `${(v * 100).toFixed(2)}%`;
    const place = (node, r) => Object.assign(node.style, { left: pct(r.x), top: pct(r.y), width: pct(r.w), height: pct(r.h) });
    const drawDraft = () => {
      draft.hidden = !box;
      if (box) place(draft, box);
      clearBox.disabled = !box;
      boxInfo.textContent = box ? `box ${describe(box)}` : "no box (pause and drag on the video to mark one)";
    };

    // --- drawing --------------------------------------------------------------------------------
    let origin = null;
    const point = (event) => {
      const rect = overlay.getBoundingClientRect();
      return { x: Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width)), y: Math.min(1, Math.max(0, (event.clientY - rect.top) / rect.height)) };
    };
    const spanBox = (a, b) => ({ x: Math.min(a.x, b.x), y: Math.min(a.y, b.y), w: Math.abs(a.x - b.x), h: Math.abs(a.y - b.y) });
    overlay.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      event.preventDefault();
      player.root.focus({ preventScroll: true });
      if (!player.video.paused) { player.video.pause(); return; } // first click pauses; then draw
      origin = point(event);
      overlay.setPointerCapture(event.pointerId);
      box = { ...origin, w: 0, h: 0 };
      drawDraft();
    });
    overlay.addEventListener("pointermove", (event) => { if (origin) { box = spanBox(origin, point(event)); drawDraft(); } });
    const finish = (event) => {
      if (!origin) return;
      box = spanBox(origin, point(event));
      origin = null;
      if (box.w < 0.01 || box.h < 0.01) box = null; // a click, not a drag
      drawDraft();
      if (box) text.focus();
    };
    overlay.addEventListener("pointerup", finish);
    overlay.addEventListener("pointercancel", () => { origin = null; box = null; drawDraft(); });
    player.video.addEventListener("play", () => { selected = null; drawSaved(); });

    // --- form -----------------------------------------------------------------------------------
    const text = h("input", { class: "cx-annot-text", type: "text", placeholder: "note on this frame" });
    const addButton = h("button", { class: "cx-primary cx-annot-add" }, "Add note");
    const clearBox = h("button", { class: "cx-annot-clear", title: "Forget the box" }, "Clear box");
    const boxInfo = h("span", { class: "cx-annot-boxinfo" });
    const status = h("div", { class: "cx-annot-status", role: "status", "aria-live": "polite" });
    let waiting = null;
    const add = () => {
      const frame = player.frame();
      if (!text.value.trim()) { status.textContent = "write a note first"; status.className = "cx-annot-status cx-error"; text.focus(); return; }
      player.video.pause();
      waiting = `n${++annotNonce}`;
      addButton.disabled = true;
      status.textContent = "saving…";
      status.className = "cx-annot-status cx-hint";
      model.send({ type: "annotate", text: text.value.trim(), frame, region: box, nonce: waiting });
    };
    addButton.onclick = add;
    clearBox.onclick = () => { box = null; drawDraft(); };
    text.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); add(); }
      event.stopPropagation(); // typing is not a player or JupyterLab shortcut
    });
    const onAnswer = (msg) => {
      if (!msg || msg.type !== "annotated" || msg.nonce !== waiting) return;
      waiting = null;
      addButton.disabled = false;
      if (msg.ok) { text.value = ""; box = null; selected = msg.id; drawDraft(); drawSaved(); }
    };
    model.on("msg:custom", onAnswer);
    const drawStatus = () => {
      const error = model.get("error");
      if (!error && !model.get("status")) return;
      status.textContent = error || model.get("status");
      status.className = `cx-annot-status ${error ? "cx-error" : "cx-saved"}`;
    };

    // --- saved notes ------------------------------------------------------------------------------
    const savedBoxes = h("div", { class: "cx-annot-saved-layer" });
    overlay.prepend(savedBoxes);
    const drawSaved = () => {
      const f = player.frame();
      const here = player.video.paused ? (model.get("notes") || []).filter((n) => n.region && n.frame === f) : [];
      savedBoxes.replaceChildren(...here.map((n) => {
        const node = h("div", { class: `cx-annot-box cx-annot-saved${n.id === selected ? " cx-selected" : ""}`, title: `${n.author}: ${n.text}`, dataset: { id: n.id } },
          h("span", { class: "cx-annot-box-label" }, n.text));
        place(node, n.region);
        return node;
      }));
    };
    const list = h("div", { class: "cx-annot-list" });
    const drawList = () => {
      const notes = model.get("notes") || [];
      list.replaceChildren(
        h("div", { class: "cx-annot-list-title" }, notes.length ? `${notes.length} note${notes.length > 1 ? "s" : ""}` : "No notes yet"),
        ...notes.map((n) => h("button", {
          class: `cx-annot-note${n.id === selected ? " cx-selected" : ""}`, dataset: { id: n.id, frame: n.frame }, title: "Show this frame and box",
          onclick: () => { selected = n.id; player.video.pause(); player.seek(n.frame); box = null; drawDraft(); drawSaved(); drawList(); },
        }, h("span", { class: "cx-annot-when" }, `frame ${n.frame + 1} · ${fmtTime(n.time_s)}`),
        h("span", { class: "cx-annot-author" }, n.author),
        h("span", { class: "cx-annot-note-text" }, n.text),
        h("span", { class: "cx-annot-note-box" }, n.region ? `▭ ${describe(n.region)}` : ""))));
    };

    const root = h("div", { class: "cx-annot", tabindex: -1 },
      h("div", { class: "cx-annot-top" }, player.root,
        h("div", { class: "cx-annot-form" },
          h("div", { class: "cx-meta", title: clip.prompt }, `${clip.prompt} · seed ${clip.seed}`),
          h("div", { class: "cx-annot-row" }, text, addButton),
          h("div", { class: "cx-annot-row" }, boxInfo, clearBox),
          status,
          h("div", { class: "cx-annot-who" }, `notes as ${model.get("author")}`))),
      list);
    el.append(root);

    // frame sync (only when still: no stream of messages while it plays)
    player.onFrame((f) => {
      drawSaved();
      text.placeholder = `note on frame ${f + 1}`;
      if (player.video.paused && model.get("frame") !== f) { model.set("frame", f); model.save_changes(); }
    });
    const fromPython = () => { if (player.frame() !== model.get("frame")) { player.video.pause(); player.seek(model.get("frame")); } };
    const onNotes = () => { drawList(); drawSaved(); };
    model.on("change:frame", fromPython);
    model.on("change:notes", onNotes);
    model.on("change:status", drawStatus);
    model.on("change:error", drawStatus);
    drawDraft(); onNotes(); drawStatus();
    if (model.get("frame")) player.seek(model.get("frame"));
    return () => {
      model.off("change:frame", fromPython);
      model.off("change:notes", onNotes);
      model.off("change:status", drawStatus);
      model.off("change:error", drawStatus);
      model.off("msg:custom", onAnswer);
      player.destroy();
    };
  },
};

function describe(r) {
  const p = (v) => Math.round(v * 100);
  return `at ${p(r.x)}%,${p(r.y)}% · ${p(r.w)}×${p(r.h)}%`;
}
