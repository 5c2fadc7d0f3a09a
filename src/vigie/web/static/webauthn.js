// Security keys in the portal: the browser side of /auth/webauthn/* (no inline script: CSP).
(function () {
  "use strict";
  const b64 = (buffer) =>
    btoa(String.fromCharCode(...new Uint8Array(buffer)))
      .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const bytes = (text) =>
    Uint8Array.from(
      atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4)),
      (c) => c.charCodeAt(0));
  const post = (url, csrf, body) => fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: {"X-CSRF-Token": csrf, "Content-Type": "application/json"},
    body: body || "{}",
  });
  const say = (text) => {
    const status = document.getElementById("webauthn-status");
    if (status) { status.textContent = text; }
  };
  const descriptors = (list) => (list || []).map((d) => ({...d, id: bytes(d.id)}));

  async function signIn(button) {
    const csrf = button.dataset.csrf;
    const asked = await post("/auth/webauthn/authenticate/options", csrf);
    if (!asked.ok) { say("Aucune clé de sécurité enregistrée pour ce compte."); return; }
    const options = await asked.json();
    options.challenge = bytes(options.challenge);
    options.allowCredentials = descriptors(options.allowCredentials);
    const credential = await navigator.credentials.get({publicKey: options});
    const r = credential.response;
    const answer = await post("/auth/webauthn/authenticate", csrf, JSON.stringify({
      id: credential.id, rawId: b64(credential.rawId), type: credential.type,
      response: {
        clientDataJSON: b64(r.clientDataJSON), authenticatorData: b64(r.authenticatorData),
        signature: b64(r.signature), userHandle: r.userHandle ? b64(r.userHandle) : null,
      },
    }));
    if (answer.ok) { window.location.assign((await answer.json()).redirect); }
    else { say("Clé de sécurité refusée."); }
  }

  async function register(button) {
    const csrf = button.dataset.csrf;
    const asked = await post("/auth/webauthn/register/options", csrf);
    if (!asked.ok) { say("Confirmez d'abord votre identité (code TOTP) puis réessayez."); return; }
    const options = await asked.json();
    options.challenge = bytes(options.challenge);
    options.user.id = bytes(options.user.id);
    options.excludeCredentials = descriptors(options.excludeCredentials);
    const credential = await navigator.credentials.create({publicKey: options});
    const r = credential.response;
    const answer = await post("/auth/webauthn/register", csrf, JSON.stringify({
      id: credential.id, rawId: b64(credential.rawId), type: credential.type,
      response: {clientDataJSON: b64(r.clientDataJSON), attestationObject: b64(r.attestationObject)},
    }));
    say(answer.ok ? "Clé de sécurité enregistrée." : "Enregistrement refusé.");
  }

  // The buttons are served disabled and enabled here: a click before this script ran would
  // otherwise do nothing at all. One operation at a time: the button is off while it runs.
  for (const [id, action] of [["webauthn-login", signIn], ["webauthn-register", register]]) {
    const button = document.getElementById(id);
    if (button) {
      button.addEventListener("click", () => {
        button.disabled = true;
        action(button)
          .catch(() => say("Opération annulée."))
          .finally(() => { button.disabled = false; });
      });
      button.disabled = false;
    }
  }
})();
