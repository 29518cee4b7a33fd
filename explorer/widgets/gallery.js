// Gallery: pages of thumbnails (poster; the animated thumb on hover), a filter bar, a detail pane, compare selected.
export default {
  render({ model, el }) {
    let detailPlayer = null;

    const stop = (e) => e.stopPropagation(); // typing in the filter bar must not trigger notebook shortcuts
    const field = (name, attrs) => h("input", { class: `cx-g-${name}`, name, onkeydown: stop, ...attrs });
    const text = field("text", { type: "search", placeholder: "Prompt text…", title: "Show clips whose prompt contains this" });
    const tagList = h("datalist", { id: `cx-g-tags-${Math.random().toString(36).slice(2)}` });
    const tag = field("tag", { type: "search", placeholder: "Tag", list: tagList.id, size: 10 });
    const author = h("select", { class: "cx-g-author", title: "Author" });
    const backend = h("select", { class: "cx-g-backend", title: "Backend / model" });
    const minRating = h("select", { class: "cx-g-min-rating", title: "Minimum rating" },
      h("option", { value: 0 }, "Any rating"), ...[1, 2, 3, 4, 5].map((n) => h("option", { value: n }, `≥ ${"★".repeat(n)}`)));
    const sort = h("select", { class: "cx-g-sort", title: "Sort" },
      h("option", { value: "newest" }, "Newest"), h("option", { value: "rating" }, "Top rated"), h("option", { value: "oldest" }, "Oldest"));
    const bar = h("div", { class: "cx-g-bar" }, text, tag, tagList, author, backend, minRating, sort);

    const grid = h("div", { class: "cx-g-grid" });
    const prev = h("button", { class: "cx-g-prev", title: "Previous page" }, "‹ Prev");
    const next = h("button", { class: "cx-g-next", title: "Next page" }, "Next ›");
    const pageInfo = h("span", { class: "cx-g-pageinfo" });
    const compareButton = h("button", { class: "cx-g-compare cx-primary", title: "Show the ticked clips side by side" }, "Compare selected");
    const clearButton = h("button", { class: "cx-g-clear", title: "Untick all" }, "Clear");
    const footer = h("div", { class: "cx-g-footer" }, prev, pageInfo, next, h("span", { class: "cx-g-spacer" }), clearButton, compareButton);
    const message = h("div", { class: "cx-g-message" });
    const detail = h("div", { class: "cx-g-detail" });
    const compareRow = h("div", { class: "cx-g-comparerow" });
    const root = h("div", { class: "cx-gallery" }, bar, h("div", { class: "cx-g-main" }, h("div", { class: "cx-g-left" }, grid, footer), detail), compareRow, message);

    // -- filters: Python runs the query ------------------------------------------------
    const query = (page = 0) => model.send({ type: "query", text: text.value, tag: tag.value,
      author: author.value, ...splitBackend(backend.value), min_rating: Number(minRating.value), sort: sort.value, page });
    const splitBackend = (v) => { const [b, ...m] = v ? v.split("\u0000") : ["", ""]; return { backend: b || "", model: m.join("") || "" }; };
    let typing = 0;
    text.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => query(0), 250); });
    tag.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => query(0), 250); });
    for (const s of [author, backend, minRating, sort]) s.addEventListener("change", () => query(0));
    prev.onclick = () => query(model.get("page") - 1);
    next.onclick = () => query(model.get("page") + 1);

    const fillSelect = (select, first, values, current) => {
      select.replaceChildren(h("option", { value: "" }, first), ...values.map(([v, label]) => h("option", { value: v, selected: v === current }, label)));
      select.value = current;
    };
    const drawOptions = () => {
      const o = model.get("options") || {};
      tagList.replaceChildren(...(o.tags || []).map((t) => h("option", { value: t })));
      fillSelect(author, "All authors", (o.authors || []).map((a) => [a, a]), model.get("author"));
      const backs = [...(o.backends || []).map((b) => [`${b}\u0000`, b]), ...(o.models || []).map((m) => [`\u0000${m}`, `model: ${m}`])];
      fillSelect(backend, "All backends", backs, `${model.get("backend")}\u0000${model.get("model")}` === "\u0000" ? "" : `${model.get("backend")}\u0000${model.get("model")}`);
    };
    const drawFilters = () => {
      if (document.activeElement !== text) text.value = model.get("text");
      if (document.activeElement !== tag) tag.value = model.get("tag");
      minRating.value = String(model.get("min_rating"));
      sort.value = model.get("sort");
      drawOptions();
    };

    // -- tiles ---------------------------------------------------------------------------
    const tile = (item) => {
      const img = h("img", { class: "cx-g-thumb", alt: item.prompt, loading: "lazy", draggable: "false" });
      setMedia(model, img, item.sha256, "poster");
      const box = h("input", { type: "checkbox", class: "cx-g-select", title: "Select for compare",
        checked: model.get("selected").includes(item.id), onclick: stop });
      box.addEventListener("change", () => {
        const sel = model.get("selected").filter((id) => id !== item.id);
        if (box.checked) sel.push(item.id);
        model.set("selected", sel);
        model.save_changes();
      });
      const node = h("div", { class: "cx-g-tile", "data-id": item.id, title: item.prompt, tabindex: 0 },
        h("div", { class: "cx-g-imgbox", style: { aspectRatio: `${item.width} / ${item.height}` } }, img, h("label", { class: "cx-g-check", onclick: stop }, box),
          ...startedFrom(item)),
        h("div", { class: "cx-g-caption" }, item.prompt),
        h("div", { class: "cx-g-info" }, h("span", { class: "cx-stars", title: item.rating ? `${item.rating} (${item.ratings})` : "not rated" }, stars(item.rating)),
          h("span", { class: "cx-g-seed" }, `seed ${item.seed}`)),
        h("div", { class: "cx-g-tags" }, ...(item.tags || []).map((t) => h("span", { class: "cx-tag" }, t))));
      node.addEventListener("mouseenter", () => setMedia(model, img, item.sha256, "thumb"));
      node.addEventListener("mouseleave", () => setMedia(model, img, item.sha256, "poster"));
      node.addEventListener("click", () => model.send({ type: "open", id: item.id }));
      node.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.stopPropagation(); model.send({ type: "open", id: item.id }); } });
      node.classList.toggle("cx-g-open", model.get("detail").id === item.id);
      return node;
    };
    // A tile's first conditioning picture, inset in a corner (the detail pane shows them all).
    const startedFrom = (item) => {
      const first = (item.conditioning || [])[0];
      if (!first) return [];
      const inset = h("img", { class: "cx-g-cond", alt: first.field, draggable: "false",
        title: `${first.field.replace("_", " ")}: ${first.source || first.sha256.slice(0, 12)}${item.conditioning.length > 1 ? ` (+${item.conditioning.length - 1} more)` : ""}` });
      setMedia(model, inset, first.sha256, "thumb");
      return [inset];
    };
    const drawGrid = () => {
      const items = model.get("page_items");
      grid.replaceChildren(...items.map(tile));
      if (!items.length) grid.append(h("div", { class: "cx-g-none" }, "No clips match these filters."));
      const total = model.get("total"), size = model.get("page_size"), page = model.get("page");
      const pages = Math.max(1, Math.ceil(total / size));
      pageInfo.textContent = `${total} clip${total === 1 ? "" : "s"} · page ${page + 1} of ${pages}`;
      prev.disabled = page <= 0;
      next.disabled = page >= pages - 1;
      drawSelection();
    };
    const drawSelection = () => {
      const n = model.get("selected").length;
      compareButton.textContent = `Compare selected (${n})`;
      compareButton.disabled = n < 2;
      clearButton.disabled = n === 0;
      for (const box of grid.querySelectorAll(".cx-g-tile")) {
        const on = model.get("selected").includes(box.dataset.id);
        box.classList.toggle("cx-g-selected", on);
        box.querySelector(".cx-g-select").checked = on;
      }
    };
    clearButton.onclick = () => { model.set("selected", []); model.save_changes(); };

    // -- detail pane -------------------------------------------------------------------------
    let detailId = null;
    const drawDetail = () => {
      const clip = model.get("detail") || {};
      for (const t of grid.querySelectorAll(".cx-g-tile")) t.classList.toggle("cx-g-open", t.dataset.id === clip.id);
      if (!clip.id) {
        if (detailPlayer) detailPlayer.destroy();
        detailPlayer = null; detailId = null;
        detail.replaceChildren();
        root.classList.remove("cx-g-has-detail");
        return;
      }
      root.classList.add("cx-g-has-detail");
      if (clip.id !== detailId) {
        if (detailPlayer) detailPlayer.destroy();
        detailPlayer = createPlayer(model, clip);
        detailId = clip.id;
        detailPlayer.video.play().catch(() => {});
      }
      const starButtons = [1, 2, 3, 4, 5].map((n) => h("button", { class: `cx-g-star${n <= clip.my_rating ? " cx-on" : ""}`, "data-score": n,
        title: `Rate ${n} star${n === 1 ? "" : "s"}`, onclick: () => model.send({ type: "rate", id: clip.id, score: n }) }, n <= clip.my_rating ? "★" : "☆"));
      detail.replaceChildren(
        h("div", { class: "cx-g-detail-head" }, h("strong", {}, clip.id), h("button", { class: "cx-g-close", title: "Close",
          onclick: () => model.send({ type: "open", id: null }) }, "✕")),
        detailPlayer.root,
        h("div", { class: "cx-g-rate" }, h("span", {}, "Your rating:"), ...starButtons),
        h("div", { class: "cx-g-avg" }, clip.ratings ? `${stars(clip.rating)} ${clip.rating} from ${clip.ratings} rating${clip.ratings === 1 ? "" : "s"}` : "Not rated yet"),
        h("div", { class: "cx-g-prompt" }, clip.prompt),
        h("div", { class: "cx-meta" }, `seed ${clip.seed} · ${clip.backend}${clip.model ? ` · ${clip.model}` : ""} · ${clip.author} · ${clip.width}×${clip.height}, ${clip.frames} frames`),
        h("div", { class: "cx-g-tags" }, ...(clip.tags || []).map((t) => h("span", { class: "cx-tag" }, t))),
        conditioningStrip(model, clip.conditioning),
        h("div", { class: "cx-meta cx-g-metrics", title: "Clip metrics (explorer.metrics)" },
          Object.entries(clip.metrics || {}).map(([name, value]) => `${name} ${value}`).join(" · ")));
    };

    // -- compare row: the selected clips on one clock (the transport Compare uses), labelled by what differs --
    let compareTransport = null;
    const closeCompare = () => { if (compareTransport) compareTransport.destroy(); compareTransport = null; compareRow.replaceChildren(); };
    const drawCompare = () => {
      closeCompare();
      const { clips = [], shared = "" } = model.get("comparing") || {};
      if (!clips.length) return;
      const tiles = clips.map((clip) => ({ clip, video: clipVideo(model, clip) }));
      const view = h("div", { class: "cx-g-compare-view", tabindex: 0 });
      compareTransport = createSyncTransport(view, { videos: tiles });
      view.append(
        h("div", { class: "cx-g-compare-clips" }, ...tiles.map(({ clip, video }) => h("div", { class: "cx-g-compare-cell", "data-id": clip.id },
          h("div", { class: "cx-stage" }, video),
          h("div", { class: "cx-g-compare-label", title: `${clip.id} · seed ${clip.seed}\n${clip.prompt}` }, clip.label || "same settings")))),
        compareTransport.bar);
      compareRow.append(
        h("div", { class: "cx-g-compare-head" }, h("strong", {}, `Comparing ${clips.length} clips`),
          h("span", { class: "cx-g-compare-shared" }, shared ? `shared: ${shared}` : ""),
          h("button", { class: "cx-g-closecompare", onclick: () => model.send({ type: "compare", ids: [] }) }, "✕ Close")),
        view);
      compareTransport.start();
    };
    compareButton.onclick = () => model.send({ type: "compare", ids: model.get("selected") });

    const drawMessage = () => {
      const m = model.get("message");
      message.textContent = m;
      message.classList.toggle("cx-g-error", m.startsWith("Error"));
    };

    const handlers = {
      "change:page_items": drawGrid, "change:total": drawGrid, "change:page": drawGrid, "change:selected": drawSelection,
      "change:detail": drawDetail, "change:message": drawMessage, "change:comparing": drawCompare, "change:options": drawOptions,
      "change:text": drawFilters, "change:tag": drawFilters, "change:author": drawFilters, "change:backend": drawFilters,
      "change:model": drawFilters, "change:min_rating": drawFilters, "change:sort": drawFilters,
    };
    for (const [event, fn] of Object.entries(handlers)) model.on(event, fn);
    drawFilters(); drawGrid(); drawDetail(); drawMessage(); drawCompare();
    el.append(root);
    return () => {
      for (const [event, fn] of Object.entries(handlers)) model.off(event, fn);
      clearTimeout(typing);
      if (detailPlayer) detailPlayer.destroy();
      closeCompare();
    };
  },
};
