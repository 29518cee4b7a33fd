// Lineage: one row of thumbnails per depth (ancestors above, the run highlighted, descendants below),
// lines from each parent to its children; click a node to play it in the pane beside the tree.
export default {
  render({ model, el }) {
    let player = null;
    const svgNS = "http://www.w3.org/2000/svg";
    const lines = document.createElementNS(svgNS, "svg");
    lines.setAttribute("class", "cx-ln-lines");
    const rows = h("div", { class: "cx-ln-rows" });
    const tree = h("div", { class: "cx-ln-tree" }, lines, rows);
    const pane = h("div", { class: "cx-ln-pane" });
    const message = h("div", { class: "cx-ln-message" });
    const title = h("div", { class: "cx-ln-title" });
    const shared = h("div", { class: "cx-ln-shared", title: "What every run in this family has in common" });
    const root = h("div", { class: "cx-lineage" }, title, shared, h("div", { class: "cx-ln-main" }, tree, pane), message);

    const label = (depth) => (depth < 0 ? `${-depth} up` : depth === 0 ? "this run" : `${depth} down`);
    const drawTree = () => {
      const nodes = model.get("nodes");
      const runId = model.get("run_id");
      const depths = [...new Set(nodes.map((n) => n.depth))].sort((a, b) => a - b);
      title.replaceChildren(h("strong", {}, `Lineage of ${runId}`),
        ` · ${nodes.length} run${nodes.length === 1 ? "" : "s"} over ${depths.length} generation${depths.length === 1 ? "" : "s"} · click one to play it`);
      rows.replaceChildren(...depths.map((depth) => h("div", { class: "cx-ln-row", "data-depth": depth },
        h("div", { class: "cx-ln-depth" }, label(depth)),
        h("div", { class: "cx-ln-nodes" }, ...nodes.filter((n) => n.depth === depth).map((n) => {
          const img = h("img", { class: "cx-ln-thumb", alt: n.prompt, draggable: "false", style: { aspectRatio: `${n.width} / ${n.height}` } });
          if (n.sha256) setMedia(model, img, n.sha256, "poster");
          const node = h("div", { class: `cx-ln-node${n.id === runId ? " cx-ln-self" : ""}`, tabindex: 0, "data-id": n.id,
            "data-parent": n.parent_id || "", title: `${n.id} · seed ${n.seed}\n${n.prompt}` },
            n.sha256 ? img : h("div", { class: "cx-ln-nomedia" }, n.status),
            // what sets this run apart from the rest of its family; the seed only when nothing else does
            h("div", { class: "cx-ln-caption" }, n.label || `seed ${n.seed}`));
          node.addEventListener("click", () => model.send({ type: "play", id: n.id }));
          node.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); e.stopPropagation(); model.send({ type: "play", id: n.id }); } });
          if (n.sha256) {
            node.addEventListener("mouseenter", () => setMedia(model, img, n.sha256, "thumb"));
            node.addEventListener("mouseleave", () => setMedia(model, img, n.sha256, "poster"));
          }
          return node;
        })))));
      shared.textContent = model.get("shared") ? `shared: ${model.get("shared")}` : "";
      markPlaying();
      requestAnimationFrame(drawLines);
    };
    const drawLines = () => {
      const box = tree.getBoundingClientRect();
      lines.setAttribute("width", box.width);
      lines.setAttribute("height", box.height);
      lines.replaceChildren();
      for (const node of rows.querySelectorAll(".cx-ln-node[data-parent]")) {
        const parent = node.dataset.parent && rows.querySelector(`.cx-ln-node[data-id="${CSS.escape(node.dataset.parent)}"]`);
        if (!parent) continue;
        const a = parent.getBoundingClientRect(), b = node.getBoundingClientRect();
        const x1 = a.left + a.width / 2 - box.left, y1 = a.bottom - box.top, x2 = b.left + b.width / 2 - box.left, y2 = b.top - box.top;
        const path = document.createElementNS(svgNS, "path");
        const my = (y1 + y2) / 2;
        path.setAttribute("d", `M${x1},${y1} C${x1},${my} ${x2},${my} ${x2},${y2}`);
        lines.append(path);
      }
    };
    const markPlaying = () => {
      for (const n of rows.querySelectorAll(".cx-ln-node")) n.classList.toggle("cx-ln-playing", n.dataset.id === model.get("playing"));
    };
    const drawPlayer = () => {
      if (player) player.destroy();
      player = null;
      const clip = model.get("clip");
      if (!clip || !clip.id) { pane.replaceChildren(); return; }
      player = createPlayer(model, clip);
      pane.replaceChildren(player.root,
        h("div", { class: "cx-ln-meta" }, h("strong", {}, clip.id), ` · seed ${clip.seed} · ${clip.backend}${clip.model ? ` · ${clip.model}` : ""}`),
        h("div", { class: "cx-ln-prompt" }, clip.prompt));
      player.video.play().catch(() => {});
      markPlaying();
    };
    const drawMessage = () => { message.textContent = model.get("message"); };
    const resize = new ResizeObserver(() => drawLines());
    resize.observe(tree);
    model.on("change:nodes change:shared", drawTree);
    model.on("change:clip", drawPlayer);
    model.on("change:playing", markPlaying);
    model.on("change:message", drawMessage);
    el.append(root);
    drawTree(); drawPlayer(); drawMessage();
    return () => {
      resize.disconnect();
      model.off("change:nodes change:shared", drawTree); model.off("change:clip", drawPlayer);
      model.off("change:playing", markPlaying); model.off("change:message", drawMessage);
      if (player) player.destroy();
    };
  },
};
