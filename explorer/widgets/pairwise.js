// Pairwise: blind battles. Two clips play in sync, looping; ←/a left, →/l right, ↓/t tie, s skip (when focused).
export default {
  render({ model, el }) {
    let players = [];
    const status = h("div", { class: "cx-pw-status" });
    const message = h("div", { class: "cx-pw-message" });
    const notice = h("div", { class: "cx-pw-notice cx-pw-hint", role: "note" }); // "this pair is unrelated"
    const stages = h("div", { class: "cx-pw-stages" });
    const send = (choice) => {
      const left = model.get("left"), right = model.get("right");
      if (!left.id || !right.id) return;
      root.classList.add("cx-pw-busy");
      model.send({ type: "choose", choice, left: left.id, right: right.id });
    };
    const button = (choice, label, keys, cls) =>
      h("button", { class: `cx-pw-choice cx-pw-${choice} ${cls || ""}`, title: keys, "data-choice": choice,
        onclick: (e) => { e.stopPropagation(); root.focus(); send(choice); } }, label, h("kbd", {}, keys));
    const buttons = h("div", { class: "cx-pw-buttons" },
      button("left", "Left wins", "← a", "cx-primary"), button("tie", "Tie", "↓ t"),
      button("skip", "Skip", "s"), button("right", "Right wins", "→ l", "cx-primary"));
    const playAll = h("button", { class: "cx-pw-play", title: "Play / pause both (space)" }, "Pause");
    const root = h("div", { class: "cx-pairwise", tabindex: 0, "data-lm-suppress-shortcuts": "true" },
      h("div", { class: "cx-pw-head" }, h("strong", {}, "Which is better?"), status, playAll),
      notice, stages, buttons, message,
      h("div", { class: "cx-pw-hint" }, "Click here, then ← / a left wins · → / l right wins · ↓ / t tie · s skip"));

    const syncPlay = () => {
      const [a, b] = players;
      if (!a) return;
      const paused = a.video.paused;
      for (const p of players) { if (paused) p.video.play().catch(() => {}); else p.video.pause(); }
      playAll.textContent = paused ? "Pause" : "Play";
    };
    playAll.onclick = (e) => { e.stopPropagation(); root.focus(); syncPlay(); };

    let syncTimer = 0;
    const draw = () => {
      for (const p of players) p.destroy();
      players = [];
      clearInterval(syncTimer);
      root.classList.remove("cx-pw-busy");
      const left = model.get("left"), right = model.get("right");
      stages.replaceChildren();
      const has = Boolean(left.id && right.id);
      root.classList.toggle("cx-pw-empty", !has);
      for (const b of buttons.querySelectorAll("button")) b.disabled = !has;
      playAll.disabled = !has;
      if (has) {
        for (const [side, clip] of [["left", left], ["right", right]]) {
          const p = createPlayer(model, clip, { loop: true });
          p.root.removeAttribute("tabindex"); // keys go to the battle, not to one player
          players.push(p);
          stages.append(h("div", { class: `cx-pw-side cx-pw-side-${side}`, "data-side": side, "data-id": clip.id,
            onclick: () => root.focus() }, h("div", { class: "cx-pw-label" }, side === "left" ? "A · left" : "B · right"), p.root));
        }
        // start together; keep the right one on the left one's clock
        const [a, b] = players;
        let ready = 0;
        const start = () => { if (++ready === 2) { for (const p of players) { p.video.currentTime = 0; p.video.play().catch(() => {}); } } };
        for (const p of players) p.video.addEventListener("canplay", start, { once: true });
        syncTimer = setInterval(() => {
          if (a.video.paused || b.video.paused) return;
          if (Math.abs(a.video.currentTime - b.video.currentTime) > 0.5 / (left.fps || 8)) b.video.currentTime = a.video.currentTime;
        }, 250);
        playAll.textContent = "Pause";
      }
      status.textContent = `${model.get("votes")} vote${model.get("votes") === 1 ? "" : "s"} this session`;
      onNotice();
      message.textContent = model.get("message");
      message.classList.toggle("cx-pw-error", model.get("message").startsWith("Error"));
    };
    const onNotice = () => {
      notice.textContent = model.get("left").id ? model.get("notice") : "";
      notice.hidden = !notice.textContent;
    };
    const onCount = () => { status.textContent = `${model.get("votes")} vote${model.get("votes") === 1 ? "" : "s"} this session`; };
    const onMessage = () => {
      message.textContent = model.get("message");
      message.classList.toggle("cx-pw-error", model.get("message").startsWith("Error"));
      root.classList.remove("cx-pw-busy");
    };

    const KEYS = { ArrowLeft: "left", a: "left", A: "left", ArrowRight: "right", l: "right", L: "right",
      ArrowDown: "tie", t: "tie", T: "tie", s: "skip", S: "skip" };
    root.addEventListener("keydown", (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (KEYS[event.key]) {
        event.preventDefault();
        event.stopPropagation(); // keep JupyterLab's own shortcuts (a, l, s, arrows) out of it
        if (!event.repeat) send(KEYS[event.key]);
      } else if (event.key === " ") {
        event.preventDefault();
        event.stopPropagation();
        syncPlay();
      }
    });

    // left and right change together: redraw once per pair
    let pending = false;
    const schedule = () => { if (!pending) { pending = true; queueMicrotask(() => { pending = false; draw(); }); } };
    model.on("change:left", schedule);
    model.on("change:right", schedule);
    model.on("change:votes", onCount);
    model.on("change:message", onMessage);
    model.on("change:notice", onNotice);
    draw();
    el.append(root);
    return () => {
      model.off("change:left", schedule); model.off("change:right", schedule);
      model.off("change:votes", onCount); model.off("change:message", onMessage); model.off("change:notice", onNotice);
      clearInterval(syncTimer);
      for (const p of players) p.destroy();
    };
  },
};
