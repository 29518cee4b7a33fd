// Rater: stars, tags and a note; each change goes to the kernel at once as {type: "rate", ...} and is
// logged there as a rating row. The kernel answers through the traits (score, tags, note, status, error, others).
let raterCount = 0;

export default {
  render({ model, el }) {
    const clip = model.get("clip");
    const listId = `cx-rate-tags-${++raterCount}`;
    const player = createPlayer(model, clip);
    player.root.classList.add("cx-rate-player");
    const meta = h("div", { class: "cx-meta cx-rate-meta", title: clip.prompt }, `${clip.prompt} · seed ${clip.seed} · ${clip.model || clip.backend}`);

    const send = (change) => model.send({ type: "rate", ...change });
    const pending = () => { status.textContent = "saving…"; status.className = "cx-rate-status cx-pending"; };

    // stars
    let hover = 0;
    const starButtons = [1, 2, 3, 4, 5].map((s) => h("button", {
      class: "cx-rate-star", title: `${s} star${s > 1 ? "s" : ""} (key ${s})`, dataset: { score: s }, "aria-label": `${s} stars`,
      onclick: () => setScore(s), onmouseenter: () => { hover = s; drawStars(); }, onmouseleave: () => { hover = 0; drawStars(); },
    }, "☆"));
    const starRow = h("div", { class: "cx-rate-stars", role: "radiogroup", "aria-label": "Stars" }, starButtons);
    let shownScore = model.get("score");
    const drawStars = () => {
      const s = hover || shownScore;
      starButtons.forEach((b, i) => {
        b.textContent = i < s ? "★" : "☆";
        b.classList.toggle("cx-on", i < s);
        b.setAttribute("aria-checked", String(i + 1 === shownScore));
      });
    };
    const setScore = (s) => { shownScore = s; drawStars(); pending(); send({ score: s }); };

    // tags
    const datalist = h("datalist", { id: listId });
    const chips = h("span", { class: "cx-rate-chips" });
    const tagInput = h("input", { class: "cx-rate-tag-input", type: "text", list: listId, placeholder: "add a tag ⏎", size: 12 });
    const addTag = () => {
      const tag = tagInput.value.trim().toLowerCase();
      tagInput.value = "";
      if (!tag) return;
      const tags = model.get("tags") || [];
      if (tags.includes(tag)) return;
      pending();
      send({ tags: [...tags, tag] });
    };
    const removeTag = (tag) => { pending(); send({ tags: (model.get("tags") || []).filter((t) => t !== tag) }); };
    tagInput.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); event.stopPropagation(); addTag(); }
    });
    const drawTags = () => {
      chips.replaceChildren(...(model.get("tags") || []).map((tag) => h("span", { class: "cx-tag cx-rate-chip", dataset: { tag } }, tag,
        h("button", { class: "cx-rate-chip-x", title: `remove ${tag}`, "aria-label": `remove ${tag}`, onclick: () => removeTag(tag) }, "×"))));
      const taken = new Set(model.get("tags") || []);
      datalist.replaceChildren(...(model.get("suggestions") || []).filter((t) => !taken.has(t)).map((t) => h("option", { value: t })));
    };

    // note
    const noteInput = h("input", { class: "cx-rate-note", type: "text", placeholder: "note (saved on ⏎ or when you leave the field)" });
    const saveNote = () => { if (noteInput.value.trim() !== (model.get("note") || "")) { pending(); send({ note: noteInput.value.trim() }); } };
    noteInput.addEventListener("keydown", (event) => {
      if (event.key === "Enter") { event.preventDefault(); event.stopPropagation(); saveNote(); }
    });
    noteInput.addEventListener("blur", saveNote);
    const drawNote = () => { if (document.activeElement !== noteInput) noteInput.value = model.get("note") || ""; };

    // status, teammates
    const status = h("div", { class: "cx-rate-status", role: "status", "aria-live": "polite" });
    const drawStatus = () => {
      const error = model.get("error");
      status.textContent = error || model.get("status") || "";
      status.className = `cx-rate-status ${error ? "cx-error" : (model.get("status") || "").startsWith("saved") ? "cx-saved" : "cx-hint"}`;
    };
    const others = h("div", { class: "cx-rate-others" });
    const drawOthers = () => {
      const rows = model.get("blind") ? [] : model.get("others") || [];
      others.hidden = model.get("blind");
      others.replaceChildren(
        h("div", { class: "cx-rate-others-title" }, rows.length ? "Teammates" : "No ratings from teammates yet"),
        ...rows.map((r) => h("div", { class: "cx-rate-other", dataset: { author: r.author } },
          h("span", { class: "cx-rate-author" }, r.author), h("span", { class: "cx-stars" }, stars(r.score)),
          h("span", { class: "cx-rate-other-tags" }, (r.tags || []).map((t) => h("span", { class: "cx-tag" }, t))),
          r.note ? h("span", { class: "cx-rate-other-note", title: r.note }, r.note) : null)));
    };
    const drawMeta = () => { meta.hidden = !!model.get("blind"); };

    const form = h("div", { class: "cx-rate-form" },
      starRow,
      h("div", { class: "cx-rate-row" }, h("span", { class: "cx-rate-key" }, "Tags"), chips, tagInput, datalist),
      h("div", { class: "cx-rate-row" }, h("span", { class: "cx-rate-key" }, "Note"), noteInput),
      status,
      h("div", { class: "cx-rate-who" }, `rating as ${model.get("author")}`));
    const root = h("div", { class: "cx-rate", tabindex: 0 },
      h("div", { class: "cx-rate-top" }, h("div", { class: "cx-rate-left" }, player.root, meta), form), others);
    el.append(root);

    root.addEventListener("keydown", (event) => {
      if (["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName)) return;
      if (/^[1-5]$/.test(event.key) && !event.ctrlKey && !event.metaKey && !event.altKey) {
        event.preventDefault();
        event.stopPropagation(); // 1–5 are JupyterLab shortcuts (heading cells) otherwise
        setScore(Number(event.key));
      }
    });

    const onScore = () => { shownScore = model.get("score"); drawStars(); };
    const handlers = { "change:score": onScore, "change:tags change:suggestions": drawTags, "change:note": drawNote,
      "change:status change:error change:saves": drawStatus, "change:others change:blind": drawOthers, "change:blind": drawMeta };
    const each = (method) => { for (const [events, fn] of Object.entries(handlers)) for (const event of events.split(" ")) model[method](event, fn); };
    each("on");
    onScore(); drawTags(); drawNote(); drawStatus(); drawOthers(); drawMeta();
    return () => {
      each("off");
      player.destroy();
    };
  },
};
