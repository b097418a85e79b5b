// "Start execution": a dialog with a name and an input editor that checks
// the JSON as it is typed, then StartExecution and off to the new one.
import { call } from "./api.js";
import { h } from "./dom.js";

/** Opens the dialog for a machine, the editor holding `input`. */
export function startDialog(stateMachineArn, input = "{}") {
  const text = h("textarea", { id: "start-input", rows: 12, spellcheck: "false", "aria-label": "Execution input (JSON)" });
  text.value = input;
  const name = h("input", { id: "start-name", placeholder: "generated when empty", "aria-label": "Execution name" });
  const problem = h("p", { class: "error", role: "alert", id: "start-error" });
  const go = h("button", { class: "primary", type: "submit", id: "start-submit" }, "Start execution");
  const check = () => {
    try { JSON.parse(text.value); problem.textContent = ""; go.disabled = false; return true; }
    catch (e) { problem.textContent = `The input is not JSON: ${e.message}`; go.disabled = true; return false; }
  };
  text.addEventListener("input", check);
  const form = h("form", { method: "dialog", class: "start" },
    h("h2", {}, "Start execution"),
    h("label", {}, "Name ", name),
    h("label", {}, "Input", text),
    problem,
    h("div", { class: "actions" }, go, h("button", { type: "button", onclick: () => dlg.close() }, "Cancel")));
  const dlg = h("dialog", { id: "start-dialog" }, form);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!check()) return;
    go.disabled = true;
    try {
      const body = { stateMachineArn, input: text.value };
      if (name.value.trim()) body.name = name.value.trim();
      const r = await call("StartExecution", body);
      location.assign(`/executions/${r.executionArn}`);
    } catch (e) {
      problem.textContent = e.message;
      go.disabled = false;
    }
  });
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  check();
}
