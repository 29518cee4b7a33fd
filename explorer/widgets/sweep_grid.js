// SweepGrid: column headers and row labels at once; each cell fills in when its run finishes.
export default {
  render({ model, el }) {
    const players = new Map();
    const table = h("div", { class: "cx-sweep-table" });
    const message = h("div", { class: "cx-message" });
    const cancel = h("button", { class: "cx-cancel", title: "Stop the sweep after the current step" }, "Cancel sweep");
    cancel.onclick = () => model.send({ type: "cancel" });
    el.append(h("div", { class: "cx-sweep" }, h("div", { class: "cx-row" }, h("b", {}, "Sweep"), message, cancel), table));
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
            if (!players.has(key) || players.get(key).clipId !== cell.clip.id) {
              if (players.has(key)) players.get(key).player.destroy();
              players.set(key, { clipId: cell.clip.id, player: createPlayer(model, cell.clip) });
            }
            const { player } = players.get(key);
            nodes.push(h("div", { class: "cx-sweep-cell", dataset: { status: cell.status, id: cell.clip.id } }, player.root));
          } else {
            nodes.push(h("div", { class: `cx-sweep-cell cx-${cell.status}`, dataset: { status: cell.status }, title: cell.error || "" }, cell.status));
          }
        });
      });
      for (const [key, value] of players) if (!keep.has(key)) { value.player.destroy(); players.delete(key); }
      table.replaceChildren(...nodes);
      cancel.disabled = !model.get("running");
      message.textContent = model.get("message");
    };
    model.on("change:cells change:row_labels change:col_labels change:running change:message", draw);
    draw();
    return () => { model.off("change:cells change:row_labels change:col_labels change:running change:message", draw); for (const v of players.values()) v.player.destroy(); };
  },
};
