// The login page, and the page a new user opens from an activation link to set a password.

import { h, replace } from "../dom.js";
import { ApiError, errorMessage, fetchWithTimeout } from "../http.js";
import { homePath } from "../layout.js";
import { navigate } from "../router.js";
import * as session from "../session.js";
import { field } from "../ui.js";

/** Only paths of this site: `next` comes from the address, which anyone can write. */
function safeNext(next) {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/login") ? next : null;
}

function card(title, ...children) {
  return h("div", { class: "login-screen" },
    h("section", { class: "login-card", "aria-labelledby": "login-title" },
      h("div", { class: "login-brand" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), "thingport"),
      h("h1", { id: "login-title" }, title),
      children));
}

/** `/login`: Email, Password, Log in; the server's message when it fails. */
export function loginPage({ main, query, user }) {
  if (user) {
    navigate(safeNext(query.get("next")) || homePath(user), { replace: true });
    return;
  }
  const email = h("input", { type: "email", name: "username", autocomplete: "username", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "button primary wide" }, "Log in");
  const notice = query.get("expired")
    ? h("p", { class: "notice", role: "status" }, "Your session has expired. Please log in again.")
    : query.get("activated")
      ? h("p", { class: "notice", role: "status" }, "Your password is set. Log in with it.")
      : null;
  const form = h("form", { class: "form" },
    notice,
    field("Email", email),
    field("Password", password),
    error,
    submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.hidden = true;
    try {
      const loggedIn = await session.login(email.value.trim(), password.value);
      navigate(safeNext(query.get("next")) || homePath(loggedIn), { replace: true });
    } catch (failure) {
      replace(error, failure.message);
      error.hidden = false;
      password.select();
    } finally {
      submit.disabled = false;
    }
  });
  replace(main, card("Log in", form));
  email.focus();
}

/** `/activate?activateToken=`: choose the password of a new account. */
export function activatePage({ main, query }) {
  const token = query.get("activateToken") || "";
  const password = h("input", { type: "password", autocomplete: "new-password", required: true, minLength: 6 });
  const repeat = h("input", { type: "password", autocomplete: "new-password", required: true });
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "button primary wide" }, "Create password");
  const form = h("form", { class: "form" },
    field("Password", password), field("Repeat password", repeat), error, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    if (password.value !== repeat.value) {
      replace(error, "The passwords differ.");
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    try {
      const response = await fetchWithTimeout("/api/noauth/activate", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ activateToken: token, password: password.value }),
      });
      if (!response.ok) throw new ApiError(response.status, await errorMessage(response));
      navigate("/login?activated=1", { replace: true });
    } catch (failure) {
      replace(error, failure.message);
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  replace(main, card("Create your password",
    token ? form : h("p", { class: "form-error", role: "alert" }, "This link has no activation token.")));
}
