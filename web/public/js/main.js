// The Wild Rydes support app: log in, list your tickets (newest first,
// paged with the API's cursor), open one, file a new one. Hash routes
// (#/tickets, #/new, #/tickets/<id>, #/login) so the S3 website's one
// index.html serves every page. A badge names the region that served the
// last response; a notice says when that changes.
import { ApiClient, ApiError, Unreachable } from "./api.js";
import { Auth, LoginRequired } from "./auth.js";
import { h, show, when } from "./dom.js";
import { CATEGORIES, DESCRIPTION_MAX_CHARS, DESCRIPTION_MIN_CHARS, PRIORITIES, cleanDescription, countChars, validateTicket } from "./validate.js";

const config = window.WILDRYDES_CONFIG;
const main = document.getElementById("main");
const badge = document.getElementById("region");
const notice = document.getElementById("notice");
const retrying = document.getElementById("retrying");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
const logoutButton = document.getElementById("logout");

/** Each navigation gets a number; a page still loading for an older one gives up. */
let generation = 0;

function served(region) {
  if (!region) return;
  const previous = badge.dataset.region;
  badge.dataset.region = region;
  badge.textContent = region;
  badge.hidden = false;
  if (previous && previous !== region) {
    notice.textContent = `Now served from ${region}`;
    notice.hidden = false;
  }
}

function retryingNote(attempt, attempts, reason) {
  retrying.textContent = `The service is not answering (${reason}); trying again, ${attempt} of ${attempts}…`;
  retrying.hidden = false;
}

function settled() {
  retrying.hidden = true;
  retrying.textContent = "";
}

const auth = config ? new Auth(config) : null;
const api = config
  ? new ApiClient({
      apiUrl: config.apiUrl,
      region: config.regions.primary,
      credentials: () => auth.credentials(),
      onServed: served,
      onRetry: retryingNote,
    })
  : null;

/** Runs an API call with the retry notice cleared once it settles. */
async function request(call) {
  try {
    return await call();
  } finally {
    settled();
  }
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function title(text) {
  document.title = `${text} · Wild Rydes support`;
  return h("h1", {}, text);
}

function loading(what) {
  main.setAttribute("aria-busy", "true");
  show(main, h("p", { class: "loading" }, `Loading ${what}…`));
}

function done() {
  main.removeAttribute("aria-busy");
}

/** An error the user can act on, with a way to try again. */
function failure(error, again) {
  done();
  if (error instanceof LoginRequired) {
    auth.logout();
    sessionStorage.setItem("wildrydes.loginMessage", error.message);
    go("#/login");
    return;
  }
  const text =
    error instanceof Unreachable
      ? `${error.message}. Your data is safe; try again in a moment.`
      : error instanceof ApiError
        ? `The service said: ${error.message}`
        : `Something went wrong: ${error.message}`;
  show(
    main,
    h("div", { class: "error", role: "alert" }, h("p", {}, text), again ? h("button", { type: "button", class: "secondary", onclick: again }, "Try again") : null),
  );
}

function header() {
  const s = auth?.session;
  nav.hidden = !s;
  logoutButton.hidden = !s;
  who.textContent = s ? (s.userId ? `Facebook user ${s.userId}` : "Logged in") : "";
}

// --- pages -----------------------------------------------------------

function loginPage() {
  done();
  const message = sessionStorage.getItem("wildrydes.loginMessage");
  sessionStorage.removeItem("wildrydes.loginMessage");
  const button = h("button", { type: "button", class: "primary", id: "login" }, "Log in with Facebook");
  const status = h("p", { role: "status", "aria-live": "polite" });
  const standIn = Object.values(config.identity ?? {}).some((i) => i.facebookLoginUrl);
  // Log in where the service is served from (the primary, unless it is
  // down): `/health` says which region that is. Asked now, so the click
  // can open Facebook's popup at once (browsers block it after a wait).
  let region = config.regions.primary;
  const serving = api.servingRegion().then((r) => (region = r ?? region));
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.textContent = "Logging in…";
    if (standIn) {
      // The sandbox's stand-in: a dialog that comes back with a token in
      // the fragment.
      location.assign(auth.dialogUrl(location.origin + location.pathname, await serving));
      return;
    }
    try {
      await auth.loginWithFacebookSdk(region);
      header();
      go("#/tickets");
    } catch (e) {
      button.disabled = false;
      status.textContent = e.message;
    }
  });
  if (!standIn) loadFacebookSdk();
  show(
    main,
    title("Log in"),
    h(
      "div",
      { class: "card" },
      message ? h("p", { class: "error", role: "alert" }, message) : null,
      h("p", {}, "Log in with your Facebook account to file support tickets and follow the ones you filed."),
      button,
      status,
    ),
  );
}

/** The Facebook SDK, loaded before the click so FB.login may open its popup. */
function loadFacebookSdk() {
  if (document.getElementById("facebook-jssdk")) return;
  window.fbAsyncInit = () => window.FB.init({ appId: config.facebookAppId, version: "v19.0", cookie: false, xfbml: false });
  document.head.append(h("script", { id: "facebook-jssdk", src: "https://connect.facebook.net/en_US/sdk.js", async: true, crossorigin: "anonymous" }));
}

function ticketItem(t) {
  return h(
    "li",
    {},
    h(
      "a",
      { class: "ticket card", href: `#/tickets/${encodeURIComponent(t.id)}` },
      h("p", { class: "description" }, t.description),
      h(
        "p",
        { class: "meta" },
        h("span", { class: `priority-${t.priority}` }, `${t.priority} priority`),
        t.category ? h("span", {}, t.category) : null,
        h("span", {}, t.status),
        when(t.createdAt),
      ),
    ),
  );
}

async function ticketsPage(mine) {
  loading("your tickets");
  const list = h("ol", { class: "tickets", id: "tickets" });
  const more = h("button", { type: "button", class: "secondary", id: "more", hidden: true }, "Show older tickets");
  const refresh = h("button", { type: "button", class: "secondary", id: "refresh", onclick: () => ticketsPage(++generation) }, "Refresh");
  let cursor = null;
  const page = async () => {
    more.disabled = true;
    const out = await request(() => api.listTickets(cursor, config.pageSize ?? 20));
    if (mine !== generation) return;
    for (const t of out.tickets ?? []) list.append(ticketItem(t));
    cursor = out.nextCursor ?? null;
    more.hidden = !cursor;
    more.disabled = false;
  };
  more.addEventListener("click", () => page().catch((e) => failure(e, () => ticketsPage(++generation))));
  try {
    await page();
  } catch (e) {
    if (mine === generation) failure(e, () => ticketsPage(++generation));
    return;
  }
  if (mine !== generation) return;
  done();
  show(
    main,
    h("div", { class: "row" }, title("My tickets"), h("span", { class: "actions" }, refresh, h("a", { class: "button", href: "#/new" }, "New ticket"))),
    list.childElementCount ? list : h("p", { class: "empty", id: "empty" }, "You have no tickets yet."),
    h("p", {}, more),
  );
}

async function ticketPage(mine, id) {
  loading("the ticket");
  let t;
  try {
    t = await request(() => api.getTicket(id));
  } catch (e) {
    if (mine !== generation) return;
    if (e instanceof ApiError && e.status === 404) {
      done();
      show(main, title("No such ticket"), h("p", { class: "error", role: "alert" }, "There is no ticket with that id among yours."), h("p", {}, h("a", { href: "#/tickets" }, "Back to my tickets")));
      return;
    }
    failure(e, () => ticketPage(++generation, id));
    return;
  }
  if (mine !== generation) return;
  done();
  show(
    main,
    title("Ticket"),
    h(
      "article",
      { class: "card detail" },
      h("p", { class: "description", id: "description" }, t.description),
      h(
        "dl",
        { class: "fields" },
        h("dt", {}, "Priority"),
        h("dd", { class: `priority-${t.priority}` }, t.priority),
        h("dt", {}, "Category"),
        h("dd", {}, t.category ?? "none"),
        h("dt", {}, "Status"),
        h("dd", {}, t.status),
        h("dt", {}, "Filed"),
        h("dd", {}, when(t.createdAt)),
        h("dt", {}, "Filed in"),
        h("dd", {}, t.region),
        h("dt", {}, "Ticket id"),
        h("dd", {}, h("code", {}, t.id)),
      ),
    ),
    h("p", {}, h("a", { href: "#/tickets" }, "Back to my tickets")),
  );
}

function newTicketPage() {
  done();
  const errors = {};
  const field = (name, label, control, hint) => {
    const error = h("p", { class: "field-error", id: `${name}-error`, hidden: true });
    errors[name] = { control, error };
    control.id = name;
    control.name = name;
    control.setAttribute("aria-describedby", `${name}-hint ${name}-error`);
    return h("div", { class: "field" }, h("label", { for: name }, label), control, h("p", { class: "hint", id: `${name}-hint` }, hint), error);
  };
  const description = h("textarea", { required: true, maxlength: DESCRIPTION_MAX_CHARS * 2 });
  const counter = h("span", {}, `0 of ${DESCRIPTION_MIN_CHARS}–${DESCRIPTION_MAX_CHARS} characters`);
  description.addEventListener("input", () => {
    counter.textContent = `${countChars(cleanDescription(description.value))} of ${DESCRIPTION_MIN_CHARS}–${DESCRIPTION_MAX_CHARS} characters`;
    if (errors.description.error.hidden === false) check();
  });
  const priority = h("select", { required: true }, PRIORITIES.map((p) => h("option", { value: p, selected: p === "medium" }, p)));
  const category = h("select", {}, h("option", { value: "" }, "none"), CATEGORIES.map((c) => h("option", { value: c }, c)));
  const submit = h("button", { type: "submit", class: "primary", id: "submit" }, "Submit ticket");
  const status = h("p", { role: "status", "aria-live": "polite", id: "form-status" });

  const mark = (name, message) => {
    for (const [key, { control, error }] of Object.entries(errors)) {
      const bad = key === name;
      control.setAttribute("aria-invalid", bad ? "true" : "false");
      error.hidden = !bad;
      error.textContent = bad ? message : "";
    }
  };
  const check = () => {
    const v = validateTicket({ description: description.value, priority: priority.value, category: category.value });
    mark(v.ok ? null : v.field, v.message);
    return v;
  };

  const form = h(
    "form",
    { class: "card", novalidate: true },
    field("description", "What happened?", description, counter),
    field("priority", "Priority", priority, "How urgent is it?"),
    field("category", "Category", category, "Optional."),
    submit,
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const v = check();
    if (!v.ok) {
      errors[v.field].control.focus();
      return;
    }
    submit.disabled = true;
    status.textContent = "Submitting…";
    try {
      const t = await request(() => api.createTicket(v.ticket));
      go(`#/tickets/${encodeURIComponent(t.id)}`);
    } catch (e) {
      submit.disabled = false;
      status.textContent = "";
      if (e instanceof ApiError && e.field && errors[e.field]) {
        // The API disagreed: its words, next to the field.
        mark(e.field, e.message);
        errors[e.field].control.focus();
      } else if (e instanceof Unreachable && e.maybeDone) {
        status.textContent = `${e.message}. Check your tickets before submitting again.`;
      } else if (e instanceof ApiError || e instanceof Unreachable) {
        status.textContent = e instanceof ApiError ? `The service said: ${e.message}` : `${e.message}; try again in a moment.`;
      } else {
        failure(e);
      }
    }
  });
  show(main, title("New ticket"), form);
  description.focus();
}

function missingConfig() {
  show(main, h("div", { class: "error", role: "alert" }, h("p", {}, "This site has no config.js: it is deployed by `wildrydes up`, which writes one.")));
}

// --- routing ---------------------------------------------------------

async function route() {
  const mine = ++generation;
  if (!config) return missingConfig();
  if (location.hash.startsWith("#access_token=")) {
    const fragment = location.hash;
    history.replaceState(null, "", location.pathname);
    try {
      await auth.completeDialog(fragment);
      return go("#/tickets");
    } catch (e) {
      sessionStorage.setItem("wildrydes.loginMessage", `The login did not work: ${e.message}`);
      return go("#/login");
    }
  }
  header();
  const path = location.hash.replace(/^#/, "") || "/tickets";
  if (!auth.session) {
    if (path !== "/login") return go("#/login");
    return loginPage();
  }
  main.focus({ preventScroll: true });
  if (path === "/login") return go("#/tickets");
  if (path === "/tickets") return ticketsPage(mine);
  if (path === "/new") return newTicketPage();
  const m = path.match(/^\/tickets\/([^/]+)$/);
  if (m) return ticketPage(mine, decodeURIComponent(m[1]));
  done();
  show(main, title("Not found"), h("p", {}, "There is no such page. "), h("p", {}, h("a", { href: "#/tickets" }, "Go to my tickets")));
}

logoutButton.addEventListener("click", () => {
  auth.logout();
  badge.hidden = true;
  delete badge.dataset.region;
  notice.hidden = true;
  go("#/login");
});
// Credentials are renewed a few minutes before they expire, also while
// the page sits idle.
setInterval(() => {
  if (auth?.session) auth.credentials().catch(() => {});
}, 60_000);
window.addEventListener("hashchange", route);
route();
