// The login page: posts the token or the key pair, then reloads the page
// the browser asked for, which the session cookie now opens.
const form = document.getElementById("login-form");
form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = {
    token: document.getElementById("token").value.trim(),
    accessKeyId: document.getElementById("access-key-id").value.trim(),
    secretAccessKey: document.getElementById("secret-access-key").value,
  };
  const r = await fetch("/console/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  if (r.ok) {
    location.reload();
  } else {
    let message = `login failed (${r.status})`;
    try { message = (await r.json()).message || message; } catch (_) { /* not JSON */ }
    document.getElementById("login-error").textContent = message;
  }
});
