// Saved ESM of every Clip Explorer widget: loads the real code from the server extension, else from the kernel.
const M = new Map();
const base = () => { const c = document.getElementById("jupyter-config-data"); try { return c && (JSON.parse(c.textContent).baseUrl || "/"); } catch { return null; } };
const fromKernel = (m) => new Promise((ok, no) => {
  const t = setTimeout(() => no(new Error("no widget code from the kernel")), 30000);
  const f = (x) => { if (x && x.type === "esm") { clearTimeout(t); m.off("msg:custom", f); ok(x.code); } };
  m.on("msg:custom", f); m.send({ type: "esm" });
});
async function load(m) {
  const k = m.get("_module") + "@" + m.get("_version");
  if (!M.has(k)) M.set(k, (async () => {
    const b = base();
    if (b) { try { return await import(new URL(`${b}explorer/static/${m.get("_module")}.js?v=${encodeURIComponent(m.get("_version"))}`, location.href).href); } catch (e) { console.warn("Clip Explorer: asking the kernel for widget code", e); } }
    return import(URL.createObjectURL(new Blob([await fromKernel(m)], { type: "text/javascript" })));
  })().catch((e) => { M.delete(k); throw e; }));
  return M.get(k);
}
export default { async render({ model, el }) {
  el.classList.add("clip-explorer");
  try { return (await load(model)).default.render({ model, el }); } catch (e) { el.textContent = `Clip Explorer widget could not load: ${e}`; }
} };
