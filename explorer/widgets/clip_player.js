// ClipPlayer: one clip with frame-accurate controls.
export default {
  render({ model, el }) {
    let player = null;
    const draw = () => {
      if (player) player.destroy();
      el.replaceChildren();
      const clip = model.get("clip");
      player = createPlayer(model, clip);
      player.root.style.width = `${model.get("width")}px`;
      const meta = h("div", { class: "cx-meta", title: clip.prompt }, `${clip.id} · seed ${clip.seed} · ${clip.backend} · ${clip.prompt}`);
      el.append(h("div", { class: "cx-clip-player" }, player.root, meta, conditioningStrip(model, clip.conditioning)));
      // sync only when still: no stream of messages while it plays
      player.onFrame((f) => { if (player.video.paused && model.get("frame") !== f) { model.set("frame", f); model.save_changes(); } });
    };
    const fromPython = () => { if (player && player.frame() !== model.get("frame")) player.seek(model.get("frame")); };
    draw();
    model.on("change:clip", draw);
    model.on("change:frame", fromPython);
    return () => { model.off("change:clip", draw); model.off("change:frame", fromPython); if (player) player.destroy(); };
  },
};
