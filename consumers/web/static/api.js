// The API: requests with the token (asked once per tab), JSON answers and downloads.
import { $, element } from "./format.js";

let tokenAsked = null;

// What report answers warned of (X-Cdrflow-Warning: a customer without traffic, say) since the
// page last cleared them.
export const warned = new Set();

function askToken() {
  tokenAsked ??= new Promise((resolve) => {
    const dialog = $("#token-dialog");
    dialog.addEventListener("close", () => {
      sessionStorage.setItem("cdrflow-token", $("input", dialog).value);
      tokenAsked = null;
      resolve();
    }, { once: true });
    dialog.showModal();
  });
  return tokenAsked;
}

async function request(path, { params = {}, method = "GET", body } = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    for (const one of [value].flat()) query.append(name, one);
  }
  const url = query.size ? `${path}?${query}` : path;
  for (;;) {
    const token = sessionStorage.getItem("cdrflow-token");
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    // The API takes no POST that is not JSON: a form on another site cannot send one.
    if (method !== "GET") headers["Content-Type"] = "application/json";
    const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (response.status === 401) {
      await askToken();
      continue;
    }
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try { message = (await response.json()).error ?? message; } catch { /* not JSON */ }
      throw new Error(message);
    }
    const warning = response.headers.get("X-Cdrflow-Warning");
    if (warning) for (const one of warning.split("; ")) warned.add(one);
    return response;
  }
}

export const api = async (path, options) => (await request(path, options)).json();

// A page of a paged answer: its rows, and the `after` of the next page (null on the last).
export async function apiPage(path, options) {
  const response = await request(path, options);
  return { rows: await response.json(), next: response.headers.get("X-Cdrflow-Next") };
}

export async function download(path, params, filename, body) {
  const blob = await (await request(path, { params, body, method: body === undefined ? "GET" : "POST" })).blob();
  const link = element("a", { href: URL.createObjectURL(blob), download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}
