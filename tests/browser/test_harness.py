"""The harness itself: auth is on, and an anywidget round-trips both ways through a real JupyterLab."""

from __future__ import annotations

from lab import (
    add_cell,
    cell_output,
    open_notebook,
    output_text,
    run_all,
    run_cell,
    shot,
    wait_for_output,
    wait_for_widget,
    write_notebook,
)

COUNTER = '''
import anywidget, traitlets

class Counter(anywidget.AnyWidget):
    _esm = """
    function render({ model, el }) {
      const btn = document.createElement("button");
      btn.className = "counter-button";
      const draw = () => { btn.textContent = `count is ${model.get("value")}`; };
      btn.addEventListener("click", () => {
        model.set("value", model.get("value") + 1);
        model.save_changes();
      });
      model.on("change:value", draw);
      draw();
      el.appendChild(btn);
    }
    export default { render };
    """
    value = traitlets.Int(0).tag(sync=True)

w = Counter()
'''


def test_auth_is_on(jupyter_server):
    status, _ = jupyter_server.api("api/contents", token=False)
    assert status == 403
    status, body = jupyter_server.api("api/contents")
    assert status == 200 and body["type"] == "directory"


def test_anywidget_round_trip(page, jupyter_server, notebook_dir):
    from playwright.sync_api import expect

    nb = write_notebook(notebook_dir, "counter", [COUNTER, "w", "print('value =', w.value)", "w.value = 41"])
    open_notebook(page, jupyter_server, nb)
    run_all(page)

    button = wait_for_widget(page, 1, "button.counter-button")
    assert button.inner_text() == "count is 41"  # run_all already ran "w.value = 41": Python -> browser
    shot(page, "harness-01-after-run-all")

    button.click()
    button.click()
    expect(button).to_have_text("count is 43")
    run_cell(page, 2)  # browser -> Python
    wait_for_output(page, 2, "value = 43")
    assert cell_output(page, 2).inner_text().strip() == "value = 43"
    shot(page, "harness-02-clicked-and-printed")

    run_cell(page, 3)  # Python -> browser again, on an already rendered view
    expect(button).to_have_text("count is 41")
    shot(page, "harness-03-set-from-python")

    # Multi-line code typed into a new cell keeps its indentation.
    i = add_cell(page, "for k in range(2):\n    print('k', k)\nprint('now', w.value)")
    run_cell(page, i)
    wait_for_output(page, i, "now 41")
    assert output_text(page, i).split() == ["k", "0", "k", "1", "now", "41"]
