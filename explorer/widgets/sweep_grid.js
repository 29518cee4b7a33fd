// SweepGrid: column headers and row labels at once; each cell fills in when its run finishes.
// A grid is for comparing, so one transport (createSyncTransport in _shared.js) drives every cell on one
// clock; a cell's own controls show only on hover, and the stars under it rate that cell's run.
export default {
  render({ model, el }) {
    const cellViews = new Map(); // "row:col" -> {clipId, node, video, clip, stars}
    const table = h("div", { class: "cx-sweep-table" });
    const message = h("div", { class: "cx-message" });
    // cells done of total (workers busy and the ETA are in the message beside it)
    const bar = h("progress", { class: "cx-sweep-progress", max: 1, value: 0, title: "Cells done of total" });
    const shared = h("div", { class: "cx-sweep-shared", title: "What every cell has in common; the headers say what differs" });
    const tasteNote = h("div", { class: "cx-sweep-taste-note", title: "The cells' taste ranks come from this model; it never stands in for your stars" });
    const cancel = h("button", { class: "cx-cancel", title: "Stop the sweep after the current step" }, "Cancel sweep");
    cancel.onclick = () => model.send({ type: "cancel" });
    const detail = h("div", { class: "cx-sweep-detail" });
    const root = h("div", { class: "cx-sweep", tabindex: 0 });
    const transport = createSyncTransport(root);
    root.append(h("div", { class: "cx-row" }, h("b", {}, "Sweep"), bar, message, cancel), shared, table, tasteNote, transport.bar, detail);
    el.append(root);

    // -- one cell closer: its own full player below the grid (steps, speed, keys) --------------------------
    let detailPlayer = null;
    const closeDetail = () => { if (detailPlayer) detailPlayer.destroy(); detailPlayer = null; detail.replaceChildren(); };
    const openDetail = (cell) => {
      closeDetail();
      transport.stop();
      detailPlayer = createPlayer(model, cell.clip);
      detailPlayer.seek(transport.frame());
      const where = Object.entries(cell.cell).map(([k, v]) => `${k} = ${typeof v === "string" ? v : JSON.stringify(v)}`).join(", ");
      detail.replaceChildren(h("div", { class: "cx-row" }, h("strong", {}, where), h("span", { class: "cx-meta" }, cell.clip.id),
        h("button", { class: "cx-sweep-close", title: "Close", onclick: closeDetail }, "✕")), detailPlayer.root);
      detailPlayer.root.focus();
    };

    const cellView = (cell) => {
      const video = clipVideo(model, cell.clip);
      video.title = "Click to play or pause every cell";
      video.addEventListener("click", () => { transport.toggle(); root.focus(); });
      const open = h("button", { class: "cx-sweep-open", title: "Look closer: this cell alone, with its own player" }, "open");
      open.onclick = (event) => { event.stopPropagation(); openDetail(cell); };
      // per-cell controls: shown on hover (or keyboard focus), so the grid itself stays a grid of clips
      const tools = h("div", { class: "cx-sweep-tools" }, h("span", { class: "cx-sweep-id" }, cell.clip.id.slice(0, 8)), open);
      const stars = starButtons((score) => model.send({ type: "rate", id: cell.clip.id, score }),
        { className: "cx-star-row cx-sweep-stars", title: "Rate this cell's run (saved at once)" });
      // which Ray worker made it (name · host · device); nothing for a cell made in the kernel
      const worker = cell.worker ? h("div", { class: "cx-sweep-worker", title: `made by worker ${cell.worker}` }, cell.worker) : null;
      // its rank by the team's taste model (1 = the model's best guess), once the model is ready
      const taste = h("span", { class: "cx-sweep-taste" });
      const node = h("div", { class: "cx-sweep-cell cx-sweep-clip", dataset: { status: cell.status, id: cell.clip.id } },
        h("div", { class: "cx-stage cx-sweep-stage" }, video, tools), h("div", { class: "cx-row cx-sweep-under" }, stars.root, taste), worker);
      return { clipId: cell.clip.id, node, video, clip: cell.clip, stars, taste };
    };

    let videoKey = "";
    const draw = () => {
      const cols = model.get("col_labels");
      const rows = model.get("row_labels");
      table.style.gridTemplateColumns = `max-content repeat(${cols.length}, minmax(120px, 180px))`;
      const grid = Array.from({ length: rows.length }, () => Array(cols.length).fill(null));
      for (const cell of model.get("cells")) grid[cell.row][cell.col] = cell;
      const nodes = [h("div", { class: "cx-sweep-corner" }), ...cols.map((c) => h("div", { class: "cx-sweep-head" }, c))];
      const keep = new Set();
      rows.forEach((label, r) => {
        nodes.push(h("div", { class: "cx-sweep-rowhead" }, label));
        grid[r].forEach((cell) => {
          if (!cell) { nodes.push(h("div", { class: "cx-sweep-cell cx-empty" })); return; }
          const key = `${cell.row}:${cell.col}`;
          if (cell.clip && cell.status === "succeeded") {
            keep.add(key);
            if (!cellViews.has(key) || cellViews.get(key).clipId !== cell.clip.id) cellViews.set(key, cellView(cell));
            const view = cellViews.get(key);
            view.stars.set(cell.my_rating || 0);
            const rank = (model.get("taste").ranks || {})[cell.clip.id];
            view.taste.textContent = rank ? `taste #${rank}` : "";
            view.taste.title = rank ? `predicted by the team's taste model: #${rank} of this sweep\n${model.get("taste").note}` : "";
            nodes.push(view.node);
          } else {
            const who = cell.worker ? cell.worker.split(" · ")[0] : "";
            const title = [cell.worker ? `worker ${cell.worker}` : "", cell.error || ""].filter(Boolean).join("\n");
            nodes.push(h("div", { class: `cx-sweep-cell cx-${cell.status}`, dataset: { status: cell.status, worker: cell.worker || "" }, title },
              who ? `${cell.status} · ${who}` : cell.status));
          }
        });
      });
      for (const [key, view] of cellViews) if (!keep.has(key)) { view.video.removeAttribute("src"); view.video.load(); cellViews.delete(key); }
      table.replaceChildren(...nodes);
      // hand the transport the cells' videos only when the set changed, so a rating does not restart its clock
      const entries = [...cellViews.values()];
      const key = entries.map((v) => v.clipId).join(",");
      if (key !== videoKey) { videoKey = key; transport.setVideos(entries.map(({ video, clip }) => ({ video, clip }))); }
      cancel.disabled = !model.get("running");
      message.textContent = model.get("message");
      const progress = model.get("progress") || {};
      bar.hidden = !progress.total;
      bar.value = progress.total ? progress.done / progress.total : 0;
      shared.textContent = model.get("shared") ? `shared: ${model.get("shared")}` : "";
      tasteNote.textContent = model.get("taste").note || "";
    };
    const events = "change:cells change:row_labels change:col_labels change:running change:message change:shared change:progress change:taste";
    model.on(events, draw);
    draw();
    return () => { model.off(events, draw); closeDetail(); transport.destroy(); };
  },
};
