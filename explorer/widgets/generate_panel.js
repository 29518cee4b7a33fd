// GeneratePanel: the form, Generate / Variations / Cancel, progress, live preview, and the strip of takes.
const FIELD_LABELS = { seed: "seed", frames: "frames", fps: "fps", width: "width", height: "height", steps: "steps", guidance: "guidance" };

// Preview latency (kernel produced → drawn here), kept for the benchmark that reads it from the page.
window.__explorerPreviewLatency = window.__explorerPreviewLatency || [];

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
    const bar = h("div", { class: "cx-bar" }, h("div", { class: "cx-bar-fill" }));
    const progressText = h("span", { class: "cx-progress-text" });
    const message = h("div", { class: "cx-message" });
    const errorBox = h("div", { class: "cx-error" });
    // hidden until the first preview arrives: an <img> with no src shows a broken-image icon
    const preview = h("img", { class: "cx-preview", alt: "live preview", hidden: true });
    const previewEmpty = h("div", { class: "cx-preview cx-preview-empty" }, "the preview shows here while a clip is made");
    const previewStep = h("div", { class: "cx-preview-step" });
    const strip = h("div", { class: "cx-strip" });
    el.append(h("div", { class: "cx-generate-panel" },
      h("div", { class: "cx-form" }, prompt, negative, h("div", { class: "cx-row" }, backend, modelInput), fieldsBox, paramsBox,
        h("div", { class: "cx-row" }, generateButton, variationsCount, variationsButton, cancelButton),
        h("div", { class: "cx-row" }, bar, progressText), message, errorBox),
      h("div", { class: "cx-preview-box" }, previewEmpty, preview, previewStep),
      h("div", { class: "cx-strip-title" }, "Takes (newest first)"), strip));

    prompt.addEventListener("input", () => sync("prompt", prompt.value));
    prompt.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.shiftKey) { e.preventDefault(); e.stopPropagation(); model.send({ type: "generate" }); } });
    negative.addEventListener("input", () => sync("negative_prompt", negative.value));
    backend.addEventListener("change", () => sync("backend", backend.value));
    modelInput.addEventListener("change", () => sync("model", modelInput.value));
    variationsCount.addEventListener("change", () => sync("variations", Number(variationsCount.value)));
    generateButton.onclick = () => model.send({ type: "generate" });
    variationsButton.onclick = () => model.send({ type: "variations", n: Number(variationsCount.value) });
    cancelButton.onclick = () => model.send({ type: "cancel" });

    const drawFields = () => {
      const fields = model.get("fields");
      const limits = model.get("limits");
      fieldsBox.replaceChildren(...Object.keys(FIELD_LABELS).map((name) => {
        const [min, max] = limits[name] || [];
        const input = h("input", { type: "number", name, min, max, step: name === "guidance" || name === "fps" ? "any" : 1, value: fields[name] });
        input.addEventListener("change", () => sync("fields", { ...model.get("fields"), [name]: Number(input.value) }));
        return h("label", { class: "cx-field" }, FIELD_LABELS[name], input);
      }));
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
        return h("div", { class: "cx-take", dataset: { id: clip.id } }, player.root,
          h("div", { class: "cx-meta", title: clip.prompt }, `${clip.id} · seed ${clip.seed}${clip.parent ? ` · from ${clip.parent}` : ""}`), fork);
      }));
    };
    let previewUrl = null;
    const onCustom = (msg, buffers) => {
      if (!msg || msg.type !== "preview" || !buffers || !buffers.length) return;
      const url = URL.createObjectURL(new Blob([buffers[0]], { type: "image/jpeg" }));
      preview.onload = () => {
        window.__explorerPreviewLatency.push(Date.now() / 1000 - msg.t);
        if (previewUrl) URL.revokeObjectURL(previewUrl);
        previewUrl = url;
        preview.hidden = false;
        previewEmpty.hidden = true;
      };
      preview.src = url; // latest wins: an older image still decoding is simply replaced
      preview.dataset.step = String(msg.step);
      previewStep.textContent = `preview · step ${msg.step}/${msg.total}`;
    };
    model.on("msg:custom", onCustom);
    const handlers = [["change:fields change:limits", drawFields], ["change:params change:extra", drawParams],
      ["change:prompt change:negative_prompt change:model change:backend change:backends change:variations", drawState],
      ["change:running", drawRunning], ["change:progress", drawProgress], ["change:message change:error", drawMessages], ["change:strip", drawStrip]];
    for (const [events, fn] of handlers) model.on(events, fn);
    drawFields(); drawParams(); drawState(); drawRunning(); drawProgress(); drawMessages(); drawStrip();
    return () => {
      model.off("msg:custom", onCustom);
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      for (const [events, fn] of handlers) model.off(events, fn);
      for (const p of players) p.destroy();
    };
  },
};
