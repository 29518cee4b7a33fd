// Every Clip Explorer widget's saved ESM: a small loader. The widget's real code comes from the
// server extension (/explorer/static/<name>.js, cached by the browser) or, with no such server,
// from the kernel over the widget's comm. Keeps notebooks small: no code or media in saved state.
const modules = new Map();

function jupyterBaseUrl() {
  const config = document.getElementById("jupyter-config-data");
  if (!config) return null;
  try { return JSON.parse(config.textContent).baseUrl || "/"; } catch { return null; }
}

function codeFromKernel(model) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the kernel did not send the widget code")), 30000);
    const onMessage = (msg) => {
      if (msg && msg.type === "esm") {
        clearTimeout(timer);
        model.off("msg:custom", onMessage);
        resolve(msg.code);
      }
    };
    model.on("msg:custom", onMessage);
    model.send({ type: "esm" });
  });
}

async function load(model) {
  const name = model.get("_module");
  const key = `${name}@${model.get("_version")}`;
  if (!modules.has(key)) {
    modules.set(key, (async () => {
      const base = jupyterBaseUrl();
      if (base) {
        try {
          const url = new URL(`${base}explorer/static/${name}.js?v=${encodeURIComponent(model.get("_version"))}`, location.href);
          return await import(/* webpackIgnore: true */ url.href);
        } catch (error) {
          console.warn("Clip Explorer: widget code not served here, asking the kernel", error);
        }
      }
      const code = await codeFromKernel(model);
      return import(/* webpackIgnore: true */ URL.createObjectURL(new Blob([code], { type: "text/javascript" })));
    })());
  }
  try {
    return await modules.get(key);
  } catch (error) {
    modules.delete(key);
    throw error;
  }
}

export default {
  async render({ model, el }) {
    el.classList.add("clip-explorer");
    let module;
    try {
      module = await load(model);
    } catch (error) {
      el.textContent = `Clip Explorer widget could not load: ${error}`;
      return;
    }
    return module.default.render({ model, el });
  },
};
