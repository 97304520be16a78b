// Texts, numbers and times in the member's language.
//
// Every text the player shows is written in English in the code, wrapped in t("..."), and
// translated by the `player` catalogue (engine/web/locale/<lang>/LC_MESSAGES/player.po),
// which the engine serves as JSON at /play/i18n/<lang>.json. Vietnamese comes first; a text
// missing from a catalogue falls back to its English msgid, so a page never shows a key.
// Placeholders are written {name} and filled from an object: t("Rank {rank}", {rank: "3"}).

export const LANGUAGES = ["vi", "en"];

let table = {};
let language = "vi";

/** The page's language ("vi" or "en"). */
export function lang() {
  return language;
}

/** Load the catalogue of `choice` (an unknown language gives Vietnamese). */
export async function load(choice) {
  language = LANGUAGES.includes(choice) ? choice : "vi";
  const url = new URL(`../i18n/${language}.json`, import.meta.url);
  const response = await fetch(url);
  table = response.ok ? await response.json() : {};
  document.documentElement.lang = language;
}

/** The text of `msgid` in the page's language, placeholders filled from `values`. */
export function t(msgid, values = {}) {
  const text = table[msgid] || msgid;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

// Intl does the Vietnamese way itself: 1.234.567 and 14:05 07/12/2026 with "vi-VN".
const locale = () => (language === "vi" ? "vi-VN" : "en-GB");

/** A number with the language's separators (12.345 in Vietnamese). */
export function num(value) {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: 3 }).format(value);
}

/** An instant (ms since the epoch) as a time and a day, on the member's own clock zone. */
export function when(ms) {
  return new Intl.DateTimeFormat(locale(), {
    hour: "2-digit",
    minute: "2-digit",
    day: "2-digit",
    month: "2-digit",
    year: "numeric",
  }).format(new Date(ms));
}

/** A duration as the countdowns show it: "0:07", "9:41", "1:02:03" (hours only when needed). */
export function countdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const two = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${two(m)}:${two(total % 60)}` : `${m}:${two(total % 60)}`;
}
