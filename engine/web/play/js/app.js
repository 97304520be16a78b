// The member player: a reference client of the member protocol (docs/protocol.md).
//
// How it fits together (docs/player.md has the whole story):
//   link    /play#ws=<the contest's WebSocket URL>&token=<join token>[&lang=en]
//   state   one object, S, changed only by the handlers of server messages (HANDLERS, one
//           function per message type) and by the member's clicks;
//   screen  rebuilt from S by render() after each change; the countdowns tick on their own;
//   memory  answers not yet acknowledged, the answer sequence, the live total and the
//           window draft live in sessionStorage, so a reload or a dropped network loses
//           nothing: after the new `welcome` the server sends the member's state again
//           (the live question with `yours`, the window `attempt` with its answers), and any
//           answer it does not have yet is sent again.
// Protocol versions 1 and 2 are both spoken: version 1 sends each member a `result` after
// the reveal and a `leaderboard` broadcast; version 2 puts the top of the board and a
// score histogram in the `reveal`, from which the player computes its own rank (rankOf).

import { Connection } from "./connection.js";
import { LANGUAGES, countdown, lang, load, num, t, when } from "./i18n.js";
import { announce, bar, h } from "./view.js";

// ---------------------------------------------------------------- the link and memory

/** The link's parameters: the fragment's (preferred: never sent to a server) over the query's. */
function readLink() {
  const params = new URLSearchParams(location.search);
  for (const [name, value] of new URLSearchParams(location.hash.slice(1))) params.set(name, value);
  return { ws: params.get("ws"), token: params.get("token"), lang: params.get("lang") };
}

/** The join token's claims (its middle part), to name this member's memory; {} if unreadable. */
function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(part), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return {};
  }
}

const link = readLink();
const who = claims(link.token || "");
const MEMORY = `play:${who.cid || ""}:${who.sub || link.token || ""}`;
const memory = JSON.parse(sessionStorage.getItem(MEMORY) || "{}");

/** Keep what a reload must not lose. */
function remember() {
  const { answers, seq, total, current, prediction } = S;
  sessionStorage.setItem(MEMORY, JSON.stringify({ answers, seq, total, current, prediction }));
}

// ---------------------------------------------------------------- the state

const S = {
  status: "connecting", // connecting | open | retrying | stopped
  retryMs: 0,
  fatal: null, // a text: the page cannot go on (bad token, contest gone...)
  alert: null, // the last error, as text
  welcome: null,
  contest: null,
  member: null,
  protocol: 1,
  // Answers by "<attempt>:<question>" (attempt 0 in live shows):
  // {answer, seq, state: "sending" | "accepted" | "refused", points, reason}
  answers: memory.answers || {},
  seq: memory.seq || 0,
  drafts: {}, // what is typed or ticked but not sent, by the same key
  // live show
  question: null,
  reveal: null,
  mine: null, // after a reveal: {points, total, rank, of, streak, eliminated}
  board: null, // {top, of}
  total: memory.total ?? null, // the latest accepted ack's total; null: not ranked yet
  streak: 0,
  eliminated: false,
  // window round
  attempt: null,
  current: memory.current || 0,
  prediction: memory.prediction || "",
  confirming: false,
  // both
  closed: null,
};

const live = () => S.contest && S.contest.mode === "live";
// A window round whose boards take an attempt only when it ends (`welcome.contest.board_updates`
// "attempt"). "answer", null (live shows) and a server that sends no such field (older than
// it): the boards take every answer, and the player says nothing of it.
const boardsAtEnd = () => Boolean(S.contest && S.contest.board_updates === "attempt");
const keyOf = (question, attempt = 0) => `${attempt}:${question}`;

// ---------------------------------------------------------------- sending

let connection = null;

/** Answer `question` with `value`: remembered first, then sent (again after a reconnect). */
function answer(question, value, attempt = 0) {
  S.seq += 1;
  const key = keyOf(question, attempt);
  S.answers[key] = { answer: value, seq: S.seq, state: "sending", points: 0, reason: null };
  delete S.drafts[key];
  remember();
  connection.send({ type: "answer", question, answer: value, seq: S.seq });
  announce(t("Answer sent."));
  render();
}

/** Send a request that only makes sense now (start, submit): say so if we are offline. */
function send(message) {
  if (!connection.send(message)) {
    S.alert = t("Not connected: try again in a moment.");
    render();
  }
}

/** Send again every answer of `attempt` the server has not acknowledged (after a rejoin). */
function resend(attempt, questions, known) {
  for (const id of questions) {
    const mine = S.answers[keyOf(id, attempt)];
    if (mine && mine.state === "sending" && !(id in known)) {
      connection.send({ type: "answer", question: id, answer: mine.answer, seq: mine.seq });
    }
  }
}

// ---------------------------------------------------------------- server messages
// One function per message type: a change of the protocol is a change here.

const HANDLERS = {
  welcome(m) {
    S.welcome = m;
    S.contest = m.contest;
    S.member = m.member;
    S.protocol = m.protocol || 1; // a server that sends no version speaks version 1
    document.documentElement.dataset.protocol = S.protocol; // for people and tests to read
    S.fatal = null;
    S.alert = null;
    // A live member who reloaded has lost the acks that carried its total: its own row of
    // the board gives it back (and the top of the board to show meanwhile).
    if (live() && m.contest.state !== "scheduled") connection.send({ type: "leaderboard" });
  },

  question(m) {
    if (m.attempt) return; // window questions come inside `attempt`
    const key = keyOf(m.id);
    if (m.yours) S.answers[key] = { ...m.yours, state: "accepted", seq: S.answers[key]?.seq };
    const repeat = S.question && S.question.id === m.id; // rejoin, takeover: same deadline
    S.question = m;
    if (!repeat) {
      S.reveal = null;
      S.mine = null;
      S.alert = null;
      announce(t("Question {n} of {count}", { n: num(m.index + 1), count: num(m.count) }));
    }
    // After a reload or a reconnection, an answer the server has not recorded goes again.
    if (!m.yours && connection.serverNow() < m.deadline) resend(0, [m.id], {});
  },

  ack(m) {
    const key = live() ? keyOf(m.question) : keyOf(m.question, S.attempt ? S.attempt.attempt : 0);
    const mine = S.answers[key];
    if (m.accepted) {
      if (mine) Object.assign(mine, { state: "accepted", points: m.points, reason: null });
      if (live()) {
        S.total = Math.max(S.total ?? 0, m.total);
        S.streak = m.streak ?? S.streak;
      } else if (S.attempt) {
        S.attempt.score = m.total;
        if (m.question === S.contest.prediction_question) S.attempt.prediction = mine?.answer;
      }
      S.alert = null;
      announce(t("Answer received."));
    } else if (mine && m.reason === "duplicate") {
      mine.state = "accepted"; // an earlier copy of it was recorded (sent before a reload)
    } else if (mine && (m.seq === mine.seq || m.seq === 0)) {
      Object.assign(mine, { state: "refused", reason: m.reason });
      announce(`${t("Answer not accepted:")} ${reason(m.reason)}`);
    }
    remember();
  },

  reveal(m) {
    if (S.reveal && S.reveal.question === m.question) return; // shown once
    S.reveal = m;
    if (S.protocol >= 2 || (m.scores && m.scores.length)) {
      // Version 2: no `result`; the player works out what it carried (docs/protocol.md).
      const mine = S.answers[keyOf(m.question)];
      const ranked = S.total !== null;
      S.mine = {
        points: mine && mine.state === "accepted" ? mine.points : 0,
        total: S.total ?? 0,
        rank: ranked ? rankOf(m.scores || [], S.total) : null,
        of: m.of,
        streak: mine && mine.state === "accepted" ? S.streak : 0,
        eliminated: S.eliminated,
      };
      S.board = { top: m.top || [], of: m.of };
    }
    const verdict = judge(S.question, m, S.answers[keyOf(m.question)]);
    announce(`${t("The answer is:")} ${m.correct_text}. ${verdict.text}`);
  },

  result(m) {
    // Version 1 after every reveal; version 2 only to members an elimination show eliminated.
    S.total = m.total;
    if (m.eliminated) S.eliminated = true;
    S.mine = { ...m };
    remember();
  },

  leaderboard(m) {
    S.board = { top: m.top, of: m.of };
    if (m.you) {
      // Protocol 2 adds a question's points to the board when it closes: while it is open,
      // an answer the member gave it (`question.yours` on resume) is not in `you.score` yet.
      const q = S.question;
      const open = q && !(S.reveal && S.reveal.question === q.id) ? S.answers[keyOf(q.id)] : null;
      const pending = S.protocol >= 2 && open && open.state === "accepted" ? open.points || 0 : 0;
      S.total = Math.max(S.total ?? 0, m.you.score + pending);
    }
    remember();
  },

  attempt(m) {
    const known = m.answers || {};
    for (const [id, recorded] of Object.entries(known)) {
      S.answers[keyOf(id, m.attempt)] = { ...recorded, state: "accepted" };
    }
    if (m.state === "open") {
      // Answers given before a reload or while offline that the server has not recorded.
      const ids = m.questions.map((q) => q.id);
      if (S.contest.prediction_question) ids.push(S.contest.prediction_question);
      resend(m.attempt, ids, known);
    }
    if (S.attempt && S.attempt.attempt !== m.attempt) S.current = 0; // a new attempt
    S.current = Math.min(S.current, Math.max(0, m.questions.length - 1));
    S.attempt = m;
    S.confirming = false;
    S.alert = null;
    if (m.state === "submitted") announce(t("Your answers were handed in."));
    if (m.state === "expired") announce(t("Time is up: your answers were handed in."));
    remember();
  },

  state(m) {
    S.contest = { ...S.contest, state: m.state };
    if (live() && m.state === "running") S.alert = null;
  },

  closed(m) {
    S.closed = m;
    if (live()) connection.send({ type: "leaderboard" });
  },

  error(m) {
    if (m.code.startsWith("token_") || m.code === "not_eligible" || m.code === "contest_not_found") {
      S.fatal = reason(m.code);
      return;
    }
    for (const mine of Object.values(S.answers)) {
      // A dropped answer (rate limit) stays "sending" and goes again on the next resume.
      if (m.seq !== null && mine.seq === m.seq && m.code !== "rate_limited") {
        Object.assign(mine, { state: "refused", reason: m.code });
      }
    }
    S.alert = m.code === "attempt_too_soon"
      ? t("The next attempt may start at {time}.", { time: when(connection.serverNow() + m.retry_after_ms) })
      : reason(m.code);
  },
};

/** A member's rank from a version 2 reveal's `scores`: 1 + members with a higher total. */
export function rankOf(scores, total) {
  let above = 0;
  let score = null;
  for (let i = 0; i + 1 < scores.length; i += 2) {
    score = score === null ? scores[i] : score - scores[i];
    if (score <= total) break;
    above += scores[i + 1];
  }
  return above + 1;
}

function onMessage(message) {
  const handler = HANDLERS[message.type];
  if (!handler) return; // pong (the connection's), or a type from a newer server
  handler(message);
  render();
}

function onStatus(status, detail = 0) {
  S.status = status;
  S.retryMs = detail;
  if (status === "stopped" && !S.fatal && CLOSES[detail]) S.fatal = CLOSES[detail]();
  renderStatus();
  if (status === "stopped") render();
}

// ---------------------------------------------------------------- words for codes

/** The member's words for an `error` code or an `ack` refusal. */
function reason(code) {
  const texts = {
    token_malformed: () => t("This link's join token is not valid."),
    token_forged: () => t("This link's join token is not valid."),
    token_expired: () => t("This link has expired: ask for a new one."),
    token_wrong_contest: () => t("This link is for another contest."),
    token_not_yet_valid: () => t("This link is not valid yet."),
    not_eligible: () => t("You are not eligible for this contest."),
    contest_not_found: () => t("This contest does not exist or was cancelled."),
    contest_not_open: () => t("The contest is not open now."),
    attempts_exhausted: () => t("You have used every attempt."),
    no_attempt: () => t("Start an attempt first."),
    attempt_closed: () => t("This attempt is already closed."),
    not_in_attempt: () => t("This question is not in your attempt."),
    not_open: () => t("This question is not open yet."),
    closed: () => t("This question is closed."),
    late: () => t("Too late: the time was up."),
    duplicate: () => t("You already answered this question."),
    eliminated: () => t("You were eliminated: you can keep watching."),
    bad_answer: () => t("This answer does not fit the question."),
    rate_limited: () => t("Too many messages: slow down."),
    unavailable: () => t("The server is busy; trying again shortly."),
  };
  return (texts[code] || (() => t("Something went wrong ({code}).", { code })))();
}

const CLOSES = {
  4504: () => t("This contest does not exist or was cancelled."),
  4505: () => t("You opened this contest in another tab or device; this page has stopped."),
  1007: () => t("Something went wrong ({code}).", { code: 1007 }),
  1009: () => t("Something went wrong ({code}).", { code: 1009 }),
};

// ---------------------------------------------------------------- judging and showing answers

/** How an answer fared at the reveal: {kind: "right" | "wrong" | "none", icon, text}. */
function judge(question, reveal, mine) {
  if (!mine || mine.state !== "accepted") return { kind: "none", icon: "–", text: t("You did not answer.") };
  const same = (a, b) =>
    Array.isArray(a) && Array.isArray(b)
      ? a.length === b.length && a.every((x) => b.includes(x))
      : String(a) === String(b);
  const exact = question && ["single", "multiple", "true_false"].includes(question.kind);
  const right = exact ? same(mine.answer, reveal.correct) : mine.points > 0;
  return right
    ? { kind: "right", icon: "✓", text: t("You were right.") }
    : { kind: "wrong", icon: "✗", text: t("Your answer was wrong.") };
}

/** An answer value in words: the option texts, Đúng/Sai, the number or text. */
function answerText(question, value) {
  if (question && question.options && question.options.length) {
    const ids = Array.isArray(value) ? value : [value];
    return ids.map((id) => question.options.find((o) => o.id === id)?.text ?? id).join("; ");
  }
  if (typeof value === "boolean") return value ? t("True") : t("False");
  if (typeof value === "number") return num(value);
  return String(value);
}

// ---------------------------------------------------------------- answering a question

/** The controls to answer `q` (single/multiple choice, true/false, number, text). */
function answerForm(q, attempt = 0) {
  const key = keyOf(q.id, attempt);
  const mine = S.answers[key];
  const locked = Boolean(mine && mine.state !== "refused") || S.eliminated;
  const chosen = (value) => mine && (Array.isArray(mine.answer) ? mine.answer.includes(value) : mine.answer === value);
  const letter = (i) => String.fromCharCode(65 + i);

  if (q.kind === "single" || q.kind === "true_false") {
    const choices = q.kind === "single"
      ? q.options.map((o, i) => ({ value: o.id, label: o.text, mark: letter(i) }))
      : [{ value: true, label: t("True"), mark: "✓" }, { value: false, label: t("False"), mark: "✗" }];
    return h("div", { class: "options", role: "group", "aria-labelledby": `text-${q.id}` },
      choices.map((c) => h("button", {
        type: "button",
        class: chosen(c.value) ? "option chosen" : "option",
        "aria-pressed": chosen(c.value) ? "true" : "false",
        disabled: locked,
        onclick: () => answer(q.id, c.value, attempt),
      }, h("span", { class: "mark", "aria-hidden": "true" }, c.mark), h("span", { class: "label" }, c.label),
      chosen(c.value) ? h("span", { class: "yours" }, t("(your answer)")) : null)));
  }

  if (q.kind === "multiple") {
    const ticked = mine ? mine.answer : S.drafts[key] || [];
    const toggle = (id, on) => {
      const set = new Set(S.drafts[key] || []);
      if (on) set.add(id);
      else set.delete(id);
      S.drafts[key] = q.options.map((o) => o.id).filter((x) => set.has(x));
    };
    return h("form", { class: "options", onsubmit: (e) => { e.preventDefault(); if ((S.drafts[key] || []).length) answer(q.id, S.drafts[key], attempt); } },
      h("fieldset", {}, h("legend", {}, t("Choose every right answer, then send.")),
        q.options.map((o, i) => h("label", { class: "option check" },
          h("input", { type: "checkbox", id: `c-${q.id}-${o.id}`, checked: ticked.includes(o.id), disabled: locked, onchange: (e) => toggle(o.id, e.target.checked) }),
          h("span", { class: "mark", "aria-hidden": "true" }, letter(i)), h("span", { class: "label" }, o.text)))),
      locked ? null : h("button", { type: "submit", class: "primary" }, t("Send answer")));
  }

  // numeric, short_text, prediction: one field and a button.
  const numeric = q.kind !== "short_text";
  const field = `f-${q.id}`;
  return h("form", { class: "options", onsubmit: (e) => {
    e.preventDefault();
    const raw = (S.drafts[key] || "").trim();
    // A decimal comma is fine (3,14); spaces are dropped.
    const value = numeric ? Number(raw.replace(/\s/g, "").replace(",", ".")) : raw;
    if (!raw || (numeric && !Number.isFinite(value))) {
      S.alert = reason("bad_answer");
      render();
      return;
    }
    answer(q.id, value, attempt);
  } },
  h("label", { for: field }, numeric ? t("Your answer (a number)") : t("Your answer")),
  h("input", { id: field, type: "text", inputmode: numeric ? "decimal" : "text", autocomplete: "off", disabled: locked,
    value: mine ? String(mine.answer) : S.drafts[key] || "", oninput: (e) => (S.drafts[key] = e.target.value) }),
  locked ? null : h("button", { type: "submit", class: "primary" }, t("Send answer")));
}

/** What became of the member's answer to `q`: sending, received (+points), refused (why). */
function ackLine(q, attempt = 0) {
  const mine = S.answers[keyOf(q.id, attempt)];
  let text = "";
  if (mine && mine.state === "sending") text = t("Sending your answer…");
  if (mine && mine.state === "accepted") text = `✓ ${t("Answer received.")}`;
  if (mine && mine.state === "refused") text = `✗ ${t("Answer not accepted:")} ${reason(mine.reason)}`;
  return h("p", { class: `ack ${mine ? mine.state : ""}`, role: "status" }, text);
}

function timer(deadline, total, label) {
  const progress = total ? bar(1, "time") : null;
  return h("div", { class: "timer" },
    h("span", { class: "timer-label" }, label),
    h("span", { role: "timer", class: "clock", "data-deadline": deadline, "data-total": total || 0 }, ""),
    progress);
}

// ---------------------------------------------------------------- screens

function liveScreen() {
  const c = S.contest;
  const q = S.question;
  const out = [];
  if (S.eliminated) out.push(h("p", { class: "notice" }, `ⓘ ${t("You were eliminated: you can keep watching.")}`));
  if (!q || (c.state !== "running" && !S.reveal)) {
    if (c.state === "scheduled") {
      out.push(h("section", { class: "card" },
        h("h2", {}, t("The show starts at {time}", { time: when(c.starts_at) })),
        timer(c.starts_at, 0, t("Starts in")),
        h("p", {}, t("Keep this page open: the questions appear here by themselves."))));
    } else {
      out.push(h("section", { class: "card" }, h("h2", {}, t("Get ready: the next question is coming."))));
    }
  } else if (!S.reveal || S.reveal.question !== q.id) {
    out.push(h("section", { class: "card question", "aria-labelledby": "qhead" },
      h("h2", { id: "qhead" }, t("Question {n} of {count}", { n: num(q.index + 1), count: num(q.count) })),
      timer(q.deadline, q.deadline - q.opens, t("Time left")),
      h("p", { class: "qtext", id: `text-${q.id}` }, q.text),
      q.media_url ? h("img", { src: q.media_url, alt: "" }) : null,
      answerForm(q),
      ackLine(q)));
  } else {
    out.push(revealCard(q, S.reveal));
  }
  if (S.board && S.board.top.length) out.push(boardCard(S.board));
  return out;
}

function revealCard(q, r) {
  const mine = S.answers[keyOf(q.id)];
  const verdict = judge(q, r, mine);
  const m = S.mine;
  const share = (n) => (r.answered ? n / r.answered : 0);
  const isCorrect = (value) => (Array.isArray(r.correct) ? r.correct.includes(value) : String(r.correct) === String(value));
  const rows = q.options && q.options.length
    ? q.options.map((o) => ({ key: o.id, label: o.text }))
    : q.kind === "true_false"
      ? [{ key: "true", label: t("True") }, { key: "false", label: t("False") }]
      : Object.keys(r.distribution).map((k) => ({ key: k, label: k }));
  return h("section", { class: "card reveal", "aria-labelledby": "rhead" },
    h("h2", { id: "rhead" }, t("Question {n} of {count}: the answer", { n: num(q.index + 1), count: num(q.count) })),
    h("p", { class: "qtext" }, q.text),
    h("p", { class: "correct" }, `✓ ${t("Correct answer:")} `, h("strong", {}, r.correct_text)),
    h("p", { class: `verdict ${verdict.kind}` }, h("span", { "aria-hidden": "true" }, `${verdict.icon} `), verdict.text,
      mine && mine.state === "accepted" ? ` ${t("Your answer: {answer}", { answer: answerText(q, mine.answer) })}` : ""),
    m ? h("dl", { class: "numbers" },
      h("div", {}, h("dt", {}, t("Points")), h("dd", { id: "my-points" }, `+${num(m.points)}`)),
      h("div", {}, h("dt", {}, t("Total")), h("dd", { id: "my-total" }, num(m.total))),
      h("div", {}, h("dt", {}, t("Rank")), h("dd", { id: "my-rank" },
        m.rank === null ? t("not ranked yet") : t("{rank} of {of}", { rank: num(m.rank), of: num(m.of) }))),
      m.streak > 1 ? h("div", {}, h("dt", {}, t("Streak")), h("dd", {}, num(m.streak))) : null)
      : h("p", { class: "muted" }, t("Counting the points…")),
    h("h3", {}, t("How everyone answered")),
    h("ul", { class: "distribution" }, rows.map((row) => {
      const n = r.distribution[row.key] || 0;
      const good = isCorrect(row.key);
      return h("li", { class: good ? "good" : "" },
        h("span", { class: "label" }, good ? `✓ ${row.label} (${t("correct")})` : row.label),
        h("span", { class: "count" }, t("{count} members ({percent}%)", { count: num(n), percent: num(Math.round(share(n) * 100)) })),
        bar(share(n), good ? "good" : ""));
    })),
    r.explanation ? h("p", { class: "explanation" }, r.explanation) : null);
}

function boardCard(board) {
  return h("section", { class: "card board", "aria-labelledby": "bhead" },
    h("h2", { id: "bhead" }, t("Leaderboard")),
    h("p", { class: "muted" }, t("{of} members ranked", { of: num(board.of) })),
    h("ol", { class: "rows" }, board.top.map((row) => {
      const me = S.member && row.member === S.member.id;
      return h("li", { class: me ? "me" : "" },
        h("span", { class: "rank" }, num(row.rank)),
        h("span", { class: "name" }, row.name || row.member, me ? ` (${t("you")})` : ""),
        h("span", { class: "score" }, t("{score} pts", { score: num(row.score) })));
    })));
}

function windowScreen() {
  const c = S.contest;
  const a = S.attempt;
  if (a && a.state === "open") return [attemptCard(a)];
  const used = Math.max(c.attempts_used || 0, a ? a.attempt : 0);
  const allowed = a ? a.attempts_allowed : c.attempts_allowed;
  const out = h("section", { class: "card", "aria-labelledby": "whead" },
    h("h2", { id: "whead" }, c.title),
    c.state === "scheduled"
      ? h("p", {}, t("Opens at {time}", { time: when(c.opens_at) }))
      : h("p", {}, t("Open until {time}", { time: when(c.closes_at) })),
    h("p", {}, t("{count} questions, {minutes} minutes an attempt.", { count: num(c.question_count), minutes: num(Math.round(c.attempt_ms / 60000)) })),
    h("p", {}, t("Attempts used: {used} of {allowed}", { used: num(used), allowed: num(allowed) })),
    a ? h("p", { class: "verdict" }, a.state === "expired"
      ? t("Attempt {n} ran out of time: score {score}.", { n: num(a.attempt), score: num(a.score) })
      : t("Attempt {n} handed in: score {score}.", { n: num(a.attempt), score: num(a.score) })) : null,
    a ? h("p", {}, t("Best score: {score}", { score: num(a.best_score) })) : null,
    boardsNote(),
    c.state === "open" && used < allowed
      ? h("button", { type: "button", class: "primary", id: "start", onclick: () => send({ type: "start_attempt" }) },
        used ? t("Start another attempt") : t("Start the attempt"))
      : null);
  return [out];
}

/** Beside the member's attempt and score, in a round whose boards wait for the attempt's end. */
function boardsNote() {
  if (!boardsAtEnd()) return null;
  return h("p", { class: "notice board-note" },
    `ⓘ ${t("Your score appears on the leaderboards when your attempt ends (handed in or out of time).")}`);
}

function attemptCard(a) {
  const i = Math.min(S.current, a.questions.length - 1);
  const q = a.questions[i];
  const answered = a.questions.filter((x) => S.answers[keyOf(x.id, a.attempt)]?.state === "accepted").length;
  const go = (n) => { S.current = n; remember(); render(); document.getElementById("qhead")?.focus(); };
  return h("section", { class: "card attempt", "aria-labelledby": "qhead" },
    h("p", { class: "muted" }, t("Attempt {n}", { n: num(a.attempt) }), " · ", t("Answered {answered} of {count}", { answered: num(answered), count: num(a.questions.length) })),
    boardsNote(),
    timer(a.deadline, a.deadline - a.started, t("Time left")),
    h("nav", { "aria-label": t("Questions") }, h("ol", { class: "jump" }, a.questions.map((x, n) => {
      const done = S.answers[keyOf(x.id, a.attempt)]?.state === "accepted";
      return h("li", {}, h("button", {
        type: "button", class: done ? "done" : "", "aria-current": n === i ? "step" : false,
        "aria-label": done ? t("Question {n}, answered", { n: num(n + 1) }) : t("Question {n}", { n: num(n + 1) }),
        onclick: () => go(n),
      }, num(n + 1), done ? h("span", { "aria-hidden": "true" }, " ✓") : null));
    }))),
    h("h2", { id: "qhead", tabindex: "-1" }, t("Question {n} of {count}", { n: num(i + 1), count: num(a.questions.length) })),
    h("p", { class: "qtext", id: `text-${q.id}` }, q.text),
    q.media_url ? h("img", { src: q.media_url, alt: "" }) : null,
    h("p", { class: "hint" }, t("Your first answer to each question counts.")),
    answerForm(q, a.attempt),
    ackLine(q, a.attempt),
    h("div", { class: "steps" },
      h("button", { type: "button", disabled: i === 0, onclick: () => go(i - 1) }, `← ${t("Previous")}`),
      h("button", { type: "button", disabled: i === a.questions.length - 1, onclick: () => go(i + 1) }, `${t("Next")} →`)),
    submitForm(a));
}

function submitForm(a) {
  const c = S.contest;
  const field = "prediction";
  const stored = a.prediction;
  // A whole number; thousands separators (1.200, 1,200, 1 200) are dropped.
  const digits = () => S.prediction.replace(/[\s.,]/g, "");
  const parse = () => (/^\d+$/.test(digits()) ? Number(digits()) : null);
  const submit = (e) => {
    e.preventDefault();
    const value = parse();
    if (c.has_prediction && value === null && (stored === null || stored === undefined)) {
      S.alert = t("Enter your prediction (a whole number) first.");
      render();
      document.getElementById(field)?.focus();
      return;
    }
    if (!S.confirming) { S.confirming = true; render(); document.getElementById("confirm")?.focus(); return; }
    send(value === null ? { type: "submit" } : { type: "submit", prediction: value });
  };
  return h("form", { class: "submit", onsubmit: submit },
    c.has_prediction ? [
      h("label", { for: field }, t("Your prediction: how many participants will answer every question correctly?")),
      h("input", { id: field, type: "text", inputmode: "numeric", autocomplete: "off", value: S.prediction,
        "aria-describedby": "prediction-note", oninput: (e) => { S.prediction = e.target.value; S.confirming = false; remember(); } }),
      h("p", { class: "muted", id: "prediction-note" }, stored === null || stored === undefined ? t("A whole number; it breaks ties between equal scores.") : t("Saved prediction: {value}", { value: num(stored) })),
    ] : null,
    S.confirming
      ? [h("p", { role: "alert" }, t("Hand in your answers now? You cannot change them afterwards.")),
        h("button", { type: "submit", class: "primary", id: "confirm" }, t("Yes, hand in")),
        h("button", { type: "button", onclick: () => { S.confirming = false; render(); } }, t("Not yet"))]
      : h("button", { type: "submit", class: "primary", id: "submit" }, t("Hand in")));
}

function closedScreen() {
  const m = S.closed;
  const out = [h("section", { class: "card final", "aria-labelledby": "fhead" },
    h("h2", { id: "fhead" }, m.final ? t("Final standing") : t("Standing (final once the results are confirmed)")),
    m.rank === null
      ? h("p", { id: "final-rank" }, t("You are not ranked: no answer was recorded."))
      : h("p", { class: "big", id: "final-rank" }, t("Rank {rank} of {of}", { rank: num(m.rank), of: num(m.of) })),
    h("p", { id: "final-score" }, t("Score: {score}", { score: num(m.score) })),
    m.time_ms ? h("p", {}, t("Time used: {time}", { time: countdown(m.time_ms) })) : null)];
  if (live() && S.board && S.board.top.length) out.push(boardCard(S.board));
  return out;
}

function screen() {
  if (S.fatal) return [h("section", { class: "card" }, h("h2", {}, t("The player cannot go on")), h("p", { role: "alert" }, S.fatal))];
  if (!S.welcome) return [h("section", { class: "card" }, h("p", {}, t("Connecting…")))];
  if (S.closed) return closedScreen();
  return live() ? liveScreen() : windowScreen();
}

// ---------------------------------------------------------------- rendering

function render() {
  const root = document.getElementById("screen");
  const focused = document.activeElement && document.activeElement.id;
  root.replaceChildren(...screen());
  if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
  document.getElementById("title").textContent = S.contest ? S.contest.title : t("Contest");
  document.getElementById("who").textContent = S.member ? S.member.name : "";
  const alert = document.getElementById("alert");
  alert.textContent = S.alert ? `⚠ ${S.alert}` : "";
  alert.hidden = !S.alert;
  renderStatus();
  tick();
}

function renderStatus() {
  const texts = {
    connecting: () => t("Connecting…"),
    open: () => t("Connected"),
    retrying: () => t("Connection lost: retrying in {seconds} s", { seconds: num(Math.ceil(S.retryMs / 1000)) }),
    stopped: () => t("Disconnected"),
  };
  const status = document.getElementById("status");
  status.textContent = texts[S.status]();
  status.className = `status ${S.status}`;
}

/** The countdowns: remaining = deadline - server now (docs/protocol.md, Time sync). */
function tick() {
  if (!connection) return;
  const now = connection.serverNow();
  for (const clock of document.querySelectorAll("[data-deadline]")) {
    const left = Number(clock.dataset.deadline) - now;
    clock.textContent = countdown(left);
    const total = Number(clock.dataset.total);
    const fill = clock.parentElement.querySelector(".fill");
    if (fill && total) fill.style.width = `${Math.max(0, Math.min(100, (left / total) * 100))}%`;
  }
}

// ---------------------------------------------------------------- start

async function start() {
  const chosen = link.lang || sessionStorage.getItem("play:lang") || "vi";
  await load(chosen);
  const other = LANGUAGES.find((x) => x !== lang());
  const toggle = document.getElementById("lang");
  const label = () => {
    const next = LANGUAGES.find((x) => x !== lang());
    toggle.textContent = next === "vi" ? "Tiếng Việt" : "English";
    toggle.lang = next;
  };
  label();
  toggle.hidden = !other;
  toggle.addEventListener("click", async () => {
    await load(LANGUAGES.find((x) => x !== lang()));
    sessionStorage.setItem("play:lang", lang());
    label();
    render();
  });
  if (!link.ws || !link.token) {
    S.fatal = t("This link is incomplete: it needs the contest's address and a join token.");
    S.status = "stopped";
    render();
    return;
  }
  connection = new Connection(link.ws, link.token, { onMessage, onStatus });
  connection.connect();
  // Back from the background: ask for the state again (a broadcast may have been missed).
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") connection.send({ type: "resume" });
  });
  setInterval(tick, 250);
  render();
}

start();
