// Building the page from data. Everything a user or the API wrote goes in
// as text nodes, never as HTML: a ticket saying <script> shows <script>.

/**
 * `h("p", { class: "meta" }, "text", child)`: an element. Attributes named
 * `on…` take listeners; `null`/`false` attributes are left out; strings
 * and numbers among the children become text.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces what `el` shows. */
export function show(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** "2 Dec 2026, 10:40" in the reader's locale, with the exact time kept. */
export function when(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h("span", {}, iso);
  const text = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  return h("time", { datetime: iso, title: d.toISOString() }, text);
}
