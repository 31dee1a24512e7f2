// JSON calls to the console API: the CSRF token from the page's <meta> goes in a header on
// every state-changing call; a lost session sends the browser to the sign-in page.
import { has, t } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.code = this.body.code || "error";
  }
}

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content || "";
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["Content-Type"] = "application/json";
    headers["X-CSRF-Token"] = csrfToken();
  }
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: method === "GET" ? undefined : JSON.stringify(body ?? {}),
    });
  } catch {
    throw new ApiError(0, { error: t("error.network"), code: "network" });
  }
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (response.status === 401 && data?.code === "signin") {
    location.href = `${data.signin || "/console/login"}?next=${encodeURIComponent(location.pathname)}`;
  }
  if (!response.ok) throw new ApiError(response.status, data || { error: response.statusText });
  return data;
}

// The message a person reads: translated when the code is known, else the server's words.
export function errorText(err) {
  if (err instanceof ApiError) {
    const key = `api.${err.code}`;
    return has(key) ? t(key, err.body) : t("common.failed", { message: err.message });
  }
  return t("common.failed", { message: String(err?.message || err) });
}

// Run a page action that changes what the page lists, reload the list, and only then say how
// the action went: "deleted" never shows above a list that still has the row. `action` returns
// the message (or throws); a reload that fails adds its own error after it.
export async function act(status, action, reload) {
  let said;
  try {
    said = await action();
  } catch (err) {
    said = errorText(err);
  }
  status.textContent = "";
  await reload();
  status.textContent = [said, status.textContent].filter(Boolean).join(" ");
}
