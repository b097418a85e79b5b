// The console's entry: picks the view from the path.
//   /                          state machines and their executions (home.js)
//   /executions/<executionArn> one execution, its graph, live (execution.js)
import { h, replace } from "./dom.js";
import { home } from "./home.js";
import { execution } from "./execution.js";

async function main() {
  const app = document.getElementById("app");
  const logout = document.getElementById("logout");
  logout.addEventListener("click", async () => {
    await fetch("/console/logout", { method: "POST", credentials: "same-origin" });
    location.assign("/");
  });
  // The button shows when the server uses sessions (credentials are set).
  fetch("/console/session", { credentials: "same-origin" })
    .then((r) => r.json())
    .then((s) => { logout.hidden = !s.login; })
    .catch(() => {});
  const path = decodeURIComponent(location.pathname);
  try {
    if (path.startsWith("/executions/")) await execution(app, path.slice("/executions/".length));
    else await home(app, new URLSearchParams(location.search));
  } catch (e) {
    replace(app, h("p", { class: "error", role: "alert" }, e.message));
    document.body.dataset.ready = "error";
  }
}

main();
