// Small DOM helpers: no framework, the screen is rebuilt from the state on each message.

/**
 * An element: h("button", {class: "big", onclick: go}, "Start") → <button class="big">.
 * Attributes starting with "on" become event listeners; false/null/undefined ones are left
 * out; children may be strings, elements, null (skipped) or arrays of those.
 */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "value") element.value = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  element.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return element;
}

/** Say `text` to screen readers (the polite live region), without showing it. */
export function announce(text) {
  const region = document.getElementById("announce");
  region.textContent = "";
  // A new text node a moment later makes screen readers read a repeated text again.
  setTimeout(() => (region.textContent = text), 50);
}

/**
 * A bar for a share (0..1) of something already said in text: decorative, hidden from
 * screen readers. The width is set through the CSSOM (the page's policy allows no inline
 * style attributes).
 */
export function bar(share, extra = "") {
  const fill = h("span", { class: "fill" });
  fill.style.width = `${Math.round(Math.max(0, Math.min(1, share)) * 100)}%`;
  return h("span", { class: `bar ${extra}`, "aria-hidden": "true" }, fill);
}
