// GeneratePanel: the form, Generate / Variations / Cancel, progress, live preview, and the strip of takes.
const FIELD_LABELS = { seed: "seed", frames: "frames", fps: "fps", width: "width", height: "height", steps: "steps", guidance: "guidance" };
// what a picked or dropped file can be (the request's field: its label); a dropped file goes by its type
const MEDIA_LABELS = { image: "first frame", last_image: "last frame", video: "video", mask: "mask", audio: "sound" };
const DROPPED = { image: "image", video: "video", audio: "audio" };
// the kernel's websocket takes messages up to 10 MiB: a bigger file is attached from Python (panel.attach)
const MOST_UPLOAD_BYTES = 8 * 2 ** 20;

// Preview latency (kernel produced → drawn here), kept for the benchmark that reads it from the page.
window.__explorerPreviewLatency = window.__explorerPreviewLatency || [];
// Live mode: milliseconds from an edit (the input event) to the first preview of the take it asked for, drawn here
// (bench/live_latency.py reads it).
window.__explorerLiveLatency = window.__explorerLiveLatency || [];

export default {
  render({ model, el }) {
    const sync = (name, value) => { model.set(name, value); model.save_changes(); };
    const prompt = h("textarea", { class: "cx-prompt", rows: 2, placeholder: "What should the clip show?" });
    const negative = h("input", { class: "cx-negative", type: "text", placeholder: "negative prompt (what to avoid)" });
    const backend = h("select", { class: "cx-backend", title: "Backend" });
    const modelInput = h("input", { class: "cx-model", type: "text", placeholder: "model (hub id or folder)" });
    const fieldsBox = h("div", { class: "cx-fields" });
    const paramsBox = h("div", { class: "cx-params" });
    const generateButton = h("button", { class: "cx-generate cx-primary", title: "Generate (Shift+Enter in the prompt)" }, "Generate");
    const variationsCount = h("input", { class: "cx-variations-n", type: "number", min: 2, max: 16, title: "How many variations" });
    const variationsButton = h("button", { class: "cx-variations",
      title: "The next n seeds after the current take (the newest, or the forked one), each recording it as parent" }, "Variations");
    const cancelButton = h("button", { class: "cx-cancel", title: "Stop at the next step (logged as cancelled)" }, "Cancel");
    const liveSwitch = h("input", { class: "cx-live", type: "checkbox" });
    const liveLabel = h("label", { class: "cx-live-label", title: "Regenerate as you edit the prompt or drag a slider (live takes are hidden from the gallery and review until kept)" },
      liveSwitch, "live");
    const keepButton = h("button", { class: "cx-keep", title: "Keep the live take on show: list it in the gallery and review" }, "Keep");
    const bar = h("div", { class: "cx-bar" }, h("div", { class: "cx-bar-fill" }));
    const progressText = h("span", { class: "cx-progress-text" });
    const message = h("div", { class: "cx-message" });
    const errorBox = h("div", { class: "cx-error" });
    // hidden until the first preview arrives: an <img> with no src shows a broken-image icon
    const preview = h("img", { class: "cx-preview", alt: "live preview", hidden: true });
    const previewEmpty = h("div", { class: "cx-preview cx-preview-empty" }, "the preview shows here while a clip is made");
    const previewStep = h("div", { class: "cx-preview-step" });
    const strip = h("div", { class: "cx-strip" });
    const mediaField = h("select", { class: "cx-media-field", title: "What the file is for" },
      ...Object.entries(MEDIA_LABELS).map(([value, label]) => h("option", { value }, label)));
    const filePicker = h("input", { class: "cx-media-file", type: "file", hidden: true, accept: "image/*,video/*,audio/*" });
    const attachButton = h("button", { class: "cx-attach", title: "Attach a picture, clip or sound to every run (or drop a file on the form)" }, "attach…");
    const mediaChips = h("span", { class: "cx-media" });
    el.append(h("div", { class: "cx-generate-panel" },
      h("div", { class: "cx-form" }, prompt, negative, h("div", { class: "cx-row" }, backend, modelInput), fieldsBox, paramsBox,
        h("div", { class: "cx-row cx-media-row" }, mediaField, attachButton, filePicker, mediaChips),
        h("div", { class: "cx-row" }, generateButton, variationsCount, variationsButton, cancelButton, liveLabel, keepButton),
        h("div", { class: "cx-row" }, bar, progressText), message, errorBox),
      h("div", { class: "cx-preview-box" }, previewEmpty, preview, previewStep),
      h("div", { class: "cx-strip-title" }, "Takes (newest first)"), strip));

    // In live mode every edit counts its number (live_seq) with the same sync, so the kernel's previews can name the
    // edit they answer; the time of the input event is kept to measure the latency to that edit's first preview.
    const editTimes = new Map();
    const edit = (name, value) => {
      if (!model.get("live")) { sync(name, value); return; }
      const seq = model.get("live_seq") + 1;
      editTimes.set(seq, performance.now());
      if (editTimes.size > 200) editTimes.delete(editTimes.keys().next().value);
      model.set(name, value);
      model.set("live_seq", seq);
      model.save_changes();
    };
    prompt.addEventListener("input", () => edit("prompt", prompt.value));
    prompt.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.shiftKey) { e.preventDefault(); e.stopPropagation(); model.send({ type: "generate" }); } });
    negative.addEventListener("input", () => edit("negative_prompt", negative.value));
    backend.addEventListener("change", () => sync("backend", backend.value));
    modelInput.addEventListener("change", () => sync("model", modelInput.value));
    variationsCount.addEventListener("change", () => sync("variations", Number(variationsCount.value)));
    generateButton.onclick = () => model.send({ type: "generate" });
    variationsButton.onclick = () => model.send({ type: "variations", n: Number(variationsCount.value) });
    cancelButton.onclick = () => model.send({ type: "cancel" });
    liveSwitch.addEventListener("change", () => sync("live", liveSwitch.checked));
    const attach = async (field, file) => {
      if (file.size > MOST_UPLOAD_BYTES) {
        errorBox.textContent = `${field}: ${file.name} is ${(file.size / 2 ** 20).toFixed(0)} MB, more than the browser can send the kernel (8 MB); in Python: panel.attach("${field}", "path/to/${file.name}")`;
        errorBox.hidden = false;
        return;
      }
      model.send({ type: "attach", field, name: file.name }, undefined, [await file.arrayBuffer()]);
    };
    attachButton.onclick = () => filePicker.click();
    filePicker.addEventListener("change", () => {
      if (filePicker.files.length) void attach(mediaField.value, filePicker.files[0]);
      filePicker.value = "";
    });
    const form = el.querySelector(".cx-form");
    form.addEventListener("dragover", (e) => { if (e.dataTransfer?.types.includes("Files")) { e.preventDefault(); form.dataset.drop = "yes"; } });
    form.addEventListener("dragleave", () => { delete form.dataset.drop; });
    form.addEventListener("drop", (e) => {
      delete form.dataset.drop;
      const file = e.dataTransfer?.files[0];
      if (!file) return;
      e.preventDefault();
      const type = file.type.split("/")[0];
      const picked = mediaField.value;
      // a picture dropped while "last frame" or "mask" is chosen goes there (a clip onto "mask" too); else its type decides
      const chosen = (type === "image" && ["image", "last_image", "mask"].includes(picked)) || (type === "video" && picked === "mask");
      void attach(chosen ? picked : DROPPED[type] || picked, file);
    });
    keepButton.onclick = () => model.send({ type: "keep" });

    // Built once per limits; the values are then set in place (never on the input being used), so typing or dragging
    // in live mode, where every input event changes "fields", keeps its focus.
    const fieldInputs = [];
    const buildFields = () => {
      const limits = model.get("limits");
      fieldInputs.length = 0;
      fieldsBox.replaceChildren(...Object.keys(FIELD_LABELS).map((name) => {
        const [min, max] = limits[name] || [];
        const input = h("input", { type: "number", name, min, max, step: name === "guidance" || name === "fps" ? "any" : 1 });
        const send = () => edit("fields", { ...model.get("fields"), [name]: Number(input.value) });
        input.addEventListener("change", send);
        input.addEventListener("input", () => { if (model.get("live") && input.value !== "" && input.checkValidity()) send(); });
        fieldInputs.push([name, input]);
        const label = h("label", { class: "cx-field" }, FIELD_LABELS[name], input);
        if (name !== "guidance") return label;
        // guidance also as a slider: the control to drag in live mode
        const slider = h("input", { type: "range", class: "cx-slider", name, min, max: Math.min(max, 20), step: 0.1, title: "guidance" });
        slider.addEventListener("input", () => { if (model.get("live")) edit("fields", { ...model.get("fields"), [name]: Number(slider.value) }); });
        slider.addEventListener("change", () => edit("fields", { ...model.get("fields"), [name]: Number(slider.value) }));
        fieldInputs.push([name, slider]);
        return h("span", { class: "cx-field-pair" }, label, slider);
      }));
      drawFields();
    };
    const drawFields = () => {
      const fields = model.get("fields");
      for (const [name, input] of fieldInputs) {
        if (input !== document.activeElement && String(input.value) !== String(fields[name])) input.value = fields[name];
      }
    };
    const drawParams = () => {
      const extra = model.get("extra");
      paramsBox.replaceChildren(...model.get("params").map((p) => {
        const current = p.name in extra ? extra[p.name] : p.default;
        let input;
        if (p.type === "bool") {
          input = h("input", { type: "checkbox", name: p.name, checked: Boolean(current) });
        } else if (p.type === "int" || p.type === "float") {
          input = h("input", { type: "number", name: p.name, value: current ?? "", min: p.min ?? undefined, max: p.max ?? undefined, step: p.type === "int" ? 1 : "any" });
        } else {
          input = h("input", { type: "text", name: p.name, value: current == null ? "" : typeof current === "string" ? current : JSON.stringify(current),
            placeholder: p.type === "image" || p.type === "video" ? "path to a file" : p.type });
        }
        input.addEventListener("change", () => {
          const next = { ...model.get("extra") };
          let value = p.type === "bool" ? input.checked : input.value;
          if ((p.type === "int" || p.type === "float") && value !== "") value = Number(value);
          if (p.type === "json" && value) { try { value = JSON.parse(value); } catch { /* keep the text */ } }
          if (value === "" || value === p.default) delete next[p.name]; else next[p.name] = value;
          sync("extra", next);
        });
        return h("label", { class: "cx-field", title: p.help || p.name }, p.name, input);
      }));
    };
    const drawState = () => {
      prompt.value = model.get("prompt");
      negative.value = model.get("negative_prompt");
      modelInput.value = model.get("model");
      variationsCount.value = String(model.get("variations"));
      backend.replaceChildren(...model.get("backends").map((b) => h("option", { value: b, selected: b === model.get("backend") }, b)));
      modelInput.style.display = model.get("backend") === "sketch" ? "none" : "";
    };
    const drawMedia = () => {
      const media = model.get("media") || {};
      mediaChips.replaceChildren(...Object.entries(media).map(([field, ref]) => {
        const remove = h("button", { class: "cx-media-remove", title: `Run without the ${MEDIA_LABELS[field] || field}` }, "✕");
        remove.onclick = () => model.send({ type: "detach", field });
        let thumb = null;
        if (field !== "audio" && ref.sha256) {  // a picture or clip: its stored thumbnail, so the chip shows what was picked
          thumb = h("img", { class: "cx-chip-thumb", alt: "", draggable: "false" });
          setMedia(model, thumb, ref.sha256, "thumb");
        }
        return h("span", { class: "cx-chip", dataset: { field }, title: ref.sha256 ? `stored as ${ref.sha256.slice(0, 12)}…` : "" },
          thumb, `${MEDIA_LABELS[field] || field}: ${ref.name || ref.source || "attached"}`, remove);
      }));
    };
    const drawLive = () => {
      const live = model.get("live");
      liveSwitch.checked = live;
      el.querySelector(".cx-generate-panel").dataset.live = live ? "yes" : "no";
      const onShow = model.get("strip").find((c) => c.live && !c.kept);
      keepButton.disabled = !onShow;
      keepButton.hidden = !live && !onShow;
    };
    const drawRunning = () => {
      const running = model.get("running");
      generateButton.disabled = running;
      variationsButton.disabled = running;
      cancelButton.disabled = !running;
      el.querySelector(".cx-generate-panel").dataset.running = running ? "yes" : "no";
      drawProgress();
    };
    const drawProgress = () => {
      const p = model.get("progress") || {};
      const share = p.total ? p.step / p.total : 0;
      bar.firstChild.style.width = `${Math.round(share * 100)}%`;
      const runs = p.runs > 1 ? ` · run ${p.run}/${p.runs}` : "";
      // an ETA only while a run is going; once it ends, how it ended (a frozen countdown would mislead)
      const eta = model.get("running") && !p.state && p.eta != null ? ` · eta ${p.eta.toFixed(1)} s` : "";
      const ended = p.state ? ` · ${p.state === "succeeded" ? "done" : p.state}` : "";
      progressText.textContent = p.total ? `step ${p.step}/${p.total} · ${(p.elapsed || 0).toFixed(1)} s${eta}${ended}${runs}` : "";
      progressText.dataset.state = p.state || (model.get("running") ? "running" : "idle");
    };
    // one line of news: Python never sets both, and an error wins here too
    const drawMessages = () => {
      const error = model.get("error");
      errorBox.textContent = error;
      errorBox.hidden = !error;
      message.textContent = error ? "" : model.get("message");
      message.hidden = Boolean(error);
    };
    const players = [];
    const drawStrip = () => {
      for (const p of players.splice(0)) p.destroy();
      strip.replaceChildren(...model.get("strip").map((clip) => {
        const player = createPlayer(model, clip);
        players.push(player);
        const fork = h("button", { class: "cx-fork", title: "Load this take into the form to change one thing" }, "fork");
        fork.onclick = () => model.send({ type: "fork", id: clip.id });
        const extras = [];
        if (clip.live && !clip.kept) {
          const keep = h("button", { class: "cx-keep-take", title: "List this live take in the gallery and review" }, "keep");
          keep.onclick = () => model.send({ type: "keep", id: clip.id });
          extras.push(keep);
        }
        const badge = clip.live ? (clip.kept ? " · live, kept" : " · live") : "";
        return h("div", { class: "cx-take", dataset: { id: clip.id, live: clip.live ? (clip.kept ? "kept" : "yes") : "no" } }, player.root,
          h("div", { class: "cx-meta", title: clip.prompt }, `${clip.id} · seed ${clip.seed}${clip.parent ? ` · from ${clip.parent}` : ""}${badge}`),
          h("div", { class: "cx-row" }, fork, ...extras));
      }));
      drawLive();
    };
    let previewUrl = null;
    const onCustom = (msg, buffers) => {
      if (!msg || msg.type !== "preview" || !buffers || !buffers.length) return;
      const url = URL.createObjectURL(new Blob([buffers[0]], { type: "image/jpeg" }));
      preview.onload = () => {
        window.__explorerPreviewLatency.push(Date.now() / 1000 - msg.t);
        // the first preview of the take an edit asked for: that edit's latency (a stale take's previews do not count)
        if (msg.seq != null && editTimes.has(msg.seq)) {
          window.__explorerLiveLatency.push(performance.now() - editTimes.get(msg.seq));
          editTimes.delete(msg.seq);
        }
        if (previewUrl) URL.revokeObjectURL(previewUrl);
        previewUrl = url;
        preview.hidden = false;
        previewEmpty.hidden = true;
      };
      preview.src = url; // latest wins: an older image still decoding is simply replaced
      preview.dataset.step = String(msg.step);
      preview.dataset.seq = msg.seq == null ? "" : String(msg.seq);
      previewStep.textContent = `preview · step ${msg.step}/${msg.total}`;
    };
    model.on("msg:custom", onCustom);
    const handlers = [["change:limits", buildFields], ["change:fields", drawFields], ["change:params change:extra", drawParams], ["change:live", drawLive],
      ["change:prompt change:negative_prompt change:model change:backend change:backends change:variations", drawState],
      ["change:running", drawRunning], ["change:progress", drawProgress], ["change:message change:error", drawMessages], ["change:strip", drawStrip], ["change:media", drawMedia]];
    for (const [events, fn] of handlers) model.on(events, fn);
    buildFields(); drawParams(); drawState(); drawRunning(); drawProgress(); drawMessages(); drawStrip(); drawLive(); drawMedia();
    return () => {
      model.off("msg:custom", onCustom);
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      for (const [events, fn] of handlers) model.off(events, fn);
      for (const p of players) p.destroy();
    };
  },
};
