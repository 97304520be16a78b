// The organiser console's script: plain JavaScript, no framework, no build step.
//
// Every change goes to the engine's own HTTP API (docs/api.md) with the session cookie and
// the session's CSRF token (the page's <meta name="csrf-token">) in X-CSRF-Token. Texts
// come translated from the page (<script id="texts">): t(english) gives the page's
// language. Numbers use the page's locale (1.234,5 in Vietnamese).
"use strict";

(function () {
  const TEXTS = JSON.parse(document.getElementById("texts").textContent);
  const LANG = document.body.dataset.lang || "vi";
  const ZONE = document.body.dataset.zone || "Asia/Ho_Chi_Minh";
  const CSRF = document.querySelector('meta[name="csrf-token"]').content;
  const NUMBER = new Intl.NumberFormat(LANG === "vi" ? "vi-VN" : "en-GB", { maximumFractionDigits: 1 });

  function t(text) {
    return TEXTS[text] || text;
  }
  function num(value) {
    return value === null || value === undefined ? "—" : NUMBER.format(value);
  }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) node.append(child);
    return node;
  }
  function announce(message) {
    document.getElementById("announcer").textContent = message;
  }

  // One API call: JSON in and out, the CSRF token on every unsafe method. Resolves to
  // {ok, status, body}; an error body is the API's {"error": {code, message, problems}}.
  async function api(method, url, body, headers) {
    const init = { method, credentials: "same-origin", headers: Object.assign({}, headers) };
    if (method !== "GET") init.headers["X-CSRF-Token"] = CSRF;
    if (body !== undefined) init.body = body;
    const response = await fetch(url, init);
    let data = null;
    const type = response.headers.get("content-type") || "";
    if (type.includes("json")) data = await response.json();
    if (response.status === 401) window.location.assign("/console/signin?next=" + encodeURIComponent(location.pathname));
    return { ok: response.ok, status: response.status, body: data };
  }

  // What the organiser is told, in the page's language, for the API's error codes a
  // console form can meet; the API's own (English) message follows for the details.
  const ERRORS = {
    bad_message: t("The request was not understood."),
    too_large: t("The request is too large."),
    unauthorized: t("Your session has ended: sign in again."),
    forbidden: t("This belongs to another organisation."),
    csrf_failed: t("The page is out of date: reload it and try again."),
    bank_not_found: t("No such question bank."),
    contest_invalid: t("The contest has problems: see the list below."),
    contest_exists: t("A contest with this id exists already."),
    campaign_invalid: t("The campaign or its rounds have problems: see the list below."),
    campaign_exists: t("A campaign with this id exists already."),
    campaign_not_found: t("No such campaign."),
    org_invalid: t("This is not a time zone: use an IANA name such as Asia/Ho_Chi_Minh."),
    org_not_found: t("No such organisation."),
    unavailable: t("The engine cannot reach its database; try again shortly."),
    internal: t("An unexpected error on the engine's side."),
  };

  // An API error as a block: the message, and each problem with its line or field.
  function errorBlock(result) {
    const error = (result.body && result.body.error) || { code: "http_" + result.status, message: "" };
    const box = el("div", { class: "error", role: "alert" });
    const said = ERRORS[error.code];
    box.append(el("p", {}, el("strong", { text: t("Error") + ": " }), (said || error.message) + " ", el("code", { text: error.code })));
    if (said && error.message) box.append(el("p", { class: "muted", lang: "en", text: error.message }));
    if (error.problems && error.problems.length) {
      const table = el("table", { class: "problems" });
      table.append(el("thead", {}, el("tr", {},
        el("th", { scope: "col", text: t("Line") }), el("th", { scope: "col", text: t("Question") }),
        el("th", { scope: "col", text: t("Field") }), el("th", { scope: "col", text: t("Problem") }))));
      const body = el("tbody");
      for (const p of error.problems) {
        const where = p.where || {};
        body.append(el("tr", {},
          el("td", { text: where.line ? String(where.line) : "—" }), el("td", { text: where.question || "—" }),
          el("td", { text: where.field || p.field || "—" }), el("td", { text: p.message })));
      }
      table.append(body);
      box.append(table);
    }
    return box;
  }

  // Banks: upload by drag and drop or the file input.
  function setUpBanks() {
    const form = document.getElementById("upload");
    if (!form) return;
    const input = document.getElementById("bank-file");
    const zone = document.getElementById("dropzone");
    const out = document.getElementById("upload-result");
    for (const name of ["dragenter", "dragover"]) {
      zone.addEventListener(name, (event) => { event.preventDefault(); zone.classList.add("over"); });
    }
    for (const name of ["dragleave", "drop"]) {
      zone.addEventListener(name, () => zone.classList.remove("over"));
    }
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const file = input.files[0];
      if (!file) return;
      const params = new URLSearchParams({ filename: file.name });
      const id = form.elements.id.value.trim();
      const title = form.elements.title.value.trim();
      if (title) params.set("title", title);
      if (form.elements.format.value) params.set("format", form.elements.format.value);
      const replace = form.elements.replace.checked;
      let url = "/api/banks?";
      if (replace) url = "/api/banks/" + encodeURIComponent(id || idFromName(file.name)) + "?";
      else if (id) params.set("id", id);
      out.replaceChildren(el("p", { text: t("Uploading…") }));
      const result = await api(replace ? "PUT" : "POST", url + params, file);
      if (!result.ok) {
        out.replaceChildren(errorBlock(result));
        announce(t("The bank was refused."));
        return;
      }
      const bank = result.body;
      const done = el("div", { class: "ok", role: "status" },
        el("p", {}, "✔ " + t("Stored") + ": ",
          el("a", { href: "/console/banks/" + encodeURIComponent(bank.id), text: bank.title }),
          " — " + t("version") + " " + bank.version + ", " + num(bank.questions) + " " + t("questions")));
      if (bank.warnings && bank.warnings.length) {
        done.append(el("p", { text: t("Left out (the engine cannot run them)") + ": " + bank.warnings.length }));
        const list = el("ul");
        for (const w of bank.warnings) list.append(el("li", { text: (w.where && w.where.line ? t("Line") + " " + w.where.line + ": " : "") + w.message }));
        done.append(list);
      }
      out.replaceChildren(done);
      form.elements.id.value = "";
      form.elements.title.value = "";
      announce(t("Stored"));
    });
  }

  // The same id the engine makes from a file name (lower case, no diacritics or spaces).
  function idFromName(name) {
    return name.replace(/\.[^.]*$/, "").normalize("NFD").replace(/[\u0300-\u036f]/g, "")
      .replace(/đ/g, "d").replace(/Đ/g, "D").toLowerCase().replace(/[^a-z0-9_.-]+/g, "-").replace(/^-+|-+$/g, "");
  }

  // Times: a datetime-local value read in the organisation's zone (or *zone*), as epoch ms.
  function zoneOffsetMs(epoch, zone) {
    const parts = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone || ZONE, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(epoch));
    const get = (type) => Number(parts.find((p) => p.type === type).value);
    return Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second")) - epoch;
  }
  function localToEpoch(value, zone) {
    if (!value) return null;
    const [day, time] = value.split("T");
    const [y, m, d] = day.split("-").map(Number);
    const [hh, mm] = time.split(":").map(Number);
    const wall = Date.UTC(y, m - 1, d, hh, mm);
    let epoch = wall - zoneOffsetMs(wall, zone);
    epoch = wall - zoneOffsetMs(epoch, zone);
    return epoch;
  }
  // An instant in *zone*, as the server's pages write it (engine.web.i18n.moment):
  // "08:00 04/01/2027" in Vietnamese, "4 Jan 2027, 08:00" in English.
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function moment(epoch, zone) {
    if (epoch === null || epoch === undefined) return "—";
    const parts = {};
    for (const p of new Intl.DateTimeFormat("en-GB", {
      timeZone: zone || ZONE, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit",
    }).formatToParts(new Date(epoch))) parts[p.type] = p.value;
    const clock = parts.hour + ":" + parts.minute;
    if (LANG === "vi") return clock + " " + parts.day + "/" + parts.month + "/" + parts.year;
    return Number(parts.day) + " " + MONTHS[Number(parts.month) - 1] + " " + parts.year + ", " + clock;
  }
  function epochToLocal(epoch) {
    const shifted = new Date(epoch + zoneOffsetMs(epoch));
    return shifted.toISOString().slice(0, 16);
  }

  // POST a new contest's or campaign's definition: its page on success, else the refusal
  // shown in *out* and announced.
  async function createThenGo(out, url, spec, refused, pages) {
    out.replaceChildren(el("p", { text: t("Saving…") }));
    const result = await api("POST", url, JSON.stringify(spec), { "Content-Type": "application/json" });
    if (!result.ok) {
      out.replaceChildren(errorBlock(result));
      announce(refused);
      return;
    }
    window.location.assign(pages + encodeURIComponent(result.body.id));
  }
  const idList = (value) => value.split(",").map((s) => s.trim()).filter(Boolean);

  function setUpContestForm() {
    const form = document.getElementById("contest-form");
    if (!form) return;
    const out = document.getElementById("form-result");
    const soon = Math.ceil((Date.now() + 3600_000) / 60_000) * 60_000;
    form.elements.starts_at.value = epochToLocal(soon);
    form.elements.opens_at.value = epochToLocal(soon);
    form.elements.closes_at.value = epochToLocal(soon + 7 * 86400_000);
    const showMode = () => {
      const mode = form.elements.mode.value;
      for (const set of form.querySelectorAll("fieldset[data-mode]")) set.hidden = set.dataset.mode !== mode;
    };
    for (const radio of form.elements.mode) radio.addEventListener("change", showMode);
    showMode();
    const int = (name) => Number(form.elements[name].value || 0);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const f = form.elements;
      const mode = f.mode.value;
      const spec = {
        title: f.title.value.trim(),
        description: f.description.value.trim(),
        mode,
        bank: form.dataset.bank,
        bank_version: Number(form.dataset.version),
        draw: { count: int("count"), quotas: [] },
        eligibility: { provinces: idList(f.provinces.value), units: idList(f.units.value) },
      };
      if (f.id.value.trim()) spec.id = f.id.value.trim();
      for (let i = 0; i < 3; i++) {
        const count = Number(f["q" + i + "-count"].value || 0);
        if (count > 0) {
          const quota = { count };
          if (f["q" + i + "-topic"].value) quota.topic = f["q" + i + "-topic"].value;
          if (f["q" + i + "-difficulty"].value) quota.difficulty = f["q" + i + "-difficulty"].value;
          spec.draw.quotas.push(quota);
        }
      }
      if (mode === "live") {
        spec.live = {
          starts_at: localToEpoch(f.starts_at.value), question_seconds: int("question_seconds"),
          reveal_seconds: int("reveal_seconds"), leaderboard_seconds: int("leaderboard_seconds"),
          elimination: f.elimination.checked,
        };
        spec.scoring = { speed: f.speed.checked, streak_step: int("streak_step"), streak_cap: int("streak_cap") };
      } else {
        spec.window = {
          opens_at: localToEpoch(f.opens_at.value), closes_at: localToEpoch(f.closes_at.value),
          attempt_seconds: int("attempt_minutes") * 60, attempts_allowed: int("attempts_allowed"),
          ranking: { counts: f.counts.value }, board_updates: f.board_updates.value,
        };
        if (f.prediction_question.value) spec.window.prediction_question = f.prediction_question.value;
      }
      await createThenGo(out, "/api/contests", spec, t("The contest was refused."), "/console/contests/");
    });
  }

  // Lifecycle actions, each confirmed first.
  function setUpActions() {
    const box = document.getElementById("actions");
    if (!box) return;
    const out = document.getElementById("action-result");
    const id = box.dataset.contest;
    const texts = {
      schedule: t("Schedule this contest? Members will see it, and it starts at its time."),
      unschedule: t("Take this contest back to draft?"),
      start: t("Start this contest now?"),
      close: t("Close this contest now? Members can no longer answer."),
      finalize: t("Finalize this contest? The final standings are computed."),
      cancel: t("Cancel this contest? This cannot be undone."),
      delete: t("Delete this contest and its scoring data? This cannot be undone."),
    };
    for (const button of box.querySelectorAll("button[data-action]")) {
      button.addEventListener("click", async () => {
        const action = button.dataset.action;
        if (!window.confirm(texts[action])) return;
        const url = "/api/contests/" + encodeURIComponent(id) + (action === "delete" ? "" : "/" + action);
        const result = await api(action === "delete" ? "DELETE" : "POST", url);
        if (!result.ok) {
          out.replaceChildren(errorBlock(result));
          return;
        }
        window.location.assign(action === "delete" ? "/console/contests" : location.pathname);
      });
    }
  }

  // Live: polls the API's statistics and leaderboard (one request each at a time).
  function bars(container, questions, current, names) {
    container.replaceChildren();
    for (const q of questions) {
      const known = names[q.id] || { text: q.id, choices: {} };
      const total = Object.values(q.distribution).reduce((a, b) => a + b, 0);
      const figure = el("figure", { class: "question" + (q.id === current ? " current" : "") });
      figure.append(el("figcaption", {},
        el("strong", { text: (q.index + 1) + ". " + known.text }),
        " — " + t("answered") + ": " + num(q.answered) + (q.id === current ? " (" + t("now") + ")" : "")));
      const list = el("ul", { class: "bars" });
      for (const [choice, count] of Object.entries(q.distribution)) {
        const share = total ? count / total : 0;
        const bar = el("span", { class: "bar" });
        bar.style.width = (share * 100).toFixed(1) + "%";
        list.append(el("li", {},
          el("span", { class: "choice", text: known.choices[choice] || choice }), el("span", { class: "track" }, bar),
          el("span", { class: "count", text: num(count) + " (" + num(share * 100) + " %)" })));
      }
      figure.append(list);
      container.append(figure);
    }
  }
  function setUpLive() {
    const root = document.getElementById("live");
    if (!root) return;
    const id = encodeURIComponent(root.dataset.contest);
    const names = JSON.parse(document.getElementById("choices").textContent);
    const board = document.querySelector("#board tbody");
    const series = document.querySelector("#series tbody");
    const timeFormat = new Intl.DateTimeFormat(LANG === "vi" ? "vi-VN" : "en-GB", { timeZone: ZONE, hour: "2-digit", minute: "2-digit", second: "2-digit" });
    let lastRow = 0;
    let lastFigures = "";
    // Window rounds: members who started and who finished an attempt, summed over units.
    async function addSeriesRow(s) {
      const units = await api("GET", "/api/contests/" + id + "/units");
      if (!units.ok) return;
      const started = units.body.reduce((sum, u) => sum + u.participants, 0);
      const finished = units.body.reduce((sum, u) => sum + u.completed, 0);
      const figures = [started, finished, s.answers].join();
      if (figures === lastFigures) return;
      lastFigures = figures;
      series.prepend(el("tr", {}, el("td", { text: timeFormat.format(new Date(s.at)) }),
        el("td", { class: "num", text: num(started) }), el("td", { class: "num", text: num(finished) }),
        el("td", { class: "num", text: num(s.answers) })));
    }
    async function tick() {
      try {
        const [stats, top] = await Promise.all([
          api("GET", "/api/contests/" + id + "/stats"),
          api("GET", "/api/contests/" + id + "/leaderboard?limit=20"),
        ]);
        if (stats.ok) {
          const s = stats.body;
          document.getElementById("online").textContent = num(s.members_online);
          document.getElementById("participants").textContent = num(s.participants);
          document.getElementById("answers").textContent = num(s.answers);
          document.getElementById("rate").textContent = num(s.answers_per_second);
          const now = s.questions.find((q) => q.id === s.current_question);
          document.getElementById("current").textContent = now ? "(" + t("now") + ": " + (now.index + 1) + ")" : "";
          document.getElementById("updated").textContent = t("Updated at") + " " + timeFormat.format(new Date(s.at));
          bars(document.getElementById("questions-chart"), s.questions, s.current_question, names);
          if (series && s.at - lastRow >= 10_000) {
            lastRow = s.at;
            await addSeriesRow(s);
          }
        }
        if (top.ok) {
          board.replaceChildren(...top.body.top.map((row) => el("tr", {},
            el("td", { class: "num", text: num(row.rank) }), el("td", { text: row.name || row.member }),
            el("td", { text: row.province || "" }), el("td", { text: row.unit || "" }),
            el("td", { class: "num", text: num(row.score) }), el("td", { class: "num", text: num(row.time_used / 1000) }))));
        }
      } catch (error) {
        // The engine out of reach (a restart, a network cut): say so, keep polling.
        document.getElementById("updated").textContent = t("Connection lost; retrying…");
      } finally {
        setTimeout(tick, 1000);
      }
    }
    tick();
  }

  // Results: the final standings, searched and paged in the page; units from the API.
  function setUpResults() {
    const root = document.getElementById("results");
    if (!root) return;
    const id = encodeURIComponent(root.dataset.contest);
    const pageSize = 50;
    const rate = (part, registered) => (registered ? num((part / registered) * 100) + " %" : "—");
    api("GET", "/api/contests/" + id + "/units").then((result) => {
      if (!result.ok) return;
      document.querySelector("#units tbody").replaceChildren(...result.body.map((u) => el("tr", {},
        el("td", { text: u.province || t("(not in the units list)") }), el("td", { text: u.name || u.unit }),
        el("td", { class: "num", text: num(u.registered) }), el("td", { class: "num", text: num(u.participants) }),
        el("td", { class: "num", text: rate(u.participants, u.registered) }))));
      // Per province: the sums of its units (a rate only where every unit's roll is known).
      const provinces = new Map();
      for (const u of result.body) {
        const p = provinces.get(u.province) || { registered: 0, participants: 0, known: true };
        p.registered += u.registered;
        p.participants += u.participants;
        p.known = p.known && u.registered > 0;
        provinces.set(u.province, p);
      }
      document.querySelector("#provinces tbody").replaceChildren(...[...provinces].sort().map(([name, p]) => el("tr", {},
        el("td", { text: name || t("(not in the units list)") }), el("td", { class: "num", text: num(p.registered) }),
        el("td", { class: "num", text: num(p.participants) }),
        el("td", { class: "num", text: p.known ? rate(p.participants, p.registered) : "—" }))));
    });
    if (root.dataset.finalized !== "yes") return;
    let rows = [];
    let shown = [];
    let page = 0;
    const search = document.getElementById("search");
    function render() {
      const pages = Math.max(1, Math.ceil(shown.length / pageSize));
      page = Math.min(page, pages - 1);
      document.querySelector("#standings tbody").replaceChildren(...shown.slice(page * pageSize, (page + 1) * pageSize).map((r) => el("tr", {},
        el("td", { class: "num", text: num(r.rank) }), el("td", { text: r.name || r.member }),
        el("td", { text: r.unit || "" }), el("td", { text: r.province || "" }),
        el("td", { class: "num", text: num(r.score) }), el("td", { class: "num", text: num(r.time_used_ms / 1000) }))));
      document.getElementById("standing-count").textContent = num(shown.length) + " / " + num(rows.length) + " " + t("members");
      document.getElementById("page").textContent = t("Page") + " " + num(page + 1) + " / " + num(pages);
      document.getElementById("prev").disabled = page === 0;
      document.getElementById("next").disabled = page >= pages - 1;
    }
    search.addEventListener("input", () => {
      const q = search.value.trim().toLowerCase();
      shown = rows.filter((r) => [r.name, r.member, r.unit, r.province].some((v) => (v || "").toLowerCase().includes(q)));
      page = 0;
      render();
    });
    document.getElementById("prev").addEventListener("click", () => { page -= 1; render(); });
    document.getElementById("next").addEventListener("click", () => { page += 1; render(); });
    api("GET", "/api/contests/" + id + "/results").then((result) => {
      if (!result.ok) return;
      rows = result.body;
      shown = rows;
      render();
    });
  }

  // Campaigns: the API's list (the organisation's own, and others' open to its province)
  // and one campaign's rounds.
  function stateName(state) {
    const names = {
      draft: t("Draft"), scheduled: t("Scheduled"), open: t("Open"), running: t("Running"),
      closed: t("Closed"), finalized: t("Finalized"), cancelled: t("Cancelled"), deleted: t("Deleted"),
    };
    return names[state] || state;
  }
  function setUpCampaigns() {
    const table = document.getElementById("campaigns");
    if (table) {
      api("GET", "/api/campaigns").then((result) => {
        if (!result.ok) return;
        const body = table.querySelector("tbody");
        if (!result.body.length) {
          body.replaceChildren(el("tr", {}, el("td", { colspan: "3", text: t("No campaigns yet.") })));
          return;
        }
        body.replaceChildren(...result.body.map((c) => {
          const id = encodeURIComponent(c.id);
          return el("tr", {},
            el("td", {}, el("a", { href: "/console/campaigns/" + id, text: c.title }), " ", el("small", { class: "muted", text: c.id })),
            el("td", { text: c.org }),
            el("td", {}, el("a", { href: "/api/campaigns/" + id + "/report?format=xlsx", text: t("Download (Excel)") })));
        }));
      });
    }
    const root = document.getElementById("campaign");
    if (!root) return;
    api("GET", "/api/campaigns/" + encodeURIComponent(root.dataset.campaign)).then((result) => {
      if (!result.ok) {
        root.replaceChildren(errorBlock(result));
        return;
      }
      const { campaign, rounds } = result.body;
      document.getElementById("campaign-title").textContent = campaign.title;
      document.getElementById("campaign-facts").textContent =
        t("Organisation") + ": " + campaign.org + " · " + t("time zone") + ": " + campaign.zone;
      const own = campaign.org === root.dataset.org;
      showRounds(document.querySelector("#rounds tbody"), rounds, campaign.zone, own);
      if (own) setUpSchedule(campaign);
    });
  }
  // A campaign's rounds as rows: times in the campaign's zone (as the API's *_local).
  function showRounds(body, rounds, zone, linked) {
    if (!rounds.length) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: "5", text: t("No rounds yet.") })));
      return;
    }
    body.replaceChildren(...rounds.map((r) => el("tr", {},
      el("td", {}, linked ? el("a", { href: "/console/contests/" + encodeURIComponent(r.id), text: r.title }) : r.title, " ", el("small", { class: "muted", text: r.id })),
      el("td", { text: r.mode === "live" ? t("Live show") : t("Window round") }),
      el("td", { text: stateName(r.state) }),
      el("td", { text: moment(r.opens_at, zone) }),
      el("td", { text: moment(r.closes_at, zone) }))));
  }

  // The rules every window round of a schedule takes (the API's round.window), as facts.
  function showRoundRules(list, rounds) {
    const w = (rounds.find((r) => r.window) || {}).window;
    if (!w) {
      list.replaceChildren();
      return;
    }
    const counts = { best: t("Best"), last: t("Last"), first: t("First") };
    const keys = {
      earliest_start: t("Earlier start of the attempt that counts"),
      fewest_attempts: t("Fewer attempts to reach the score that counts"),
    };
    const facts = [
      [t("Minutes per attempt"), num(w.attempt_seconds / 60)],
      [t("Attempts allowed (0: no limit)"), num(w.attempts_allowed)],
      [t("Minutes between a member's attempts (0: none)"), num(w.min_seconds_between_attempts / 60)],
      [t("Prediction question"), w.prediction_question || t("None")],
      [t("Attempt that counts"), counts[w.ranking.counts]],
      [t("Further tie-breaks, after the submission time"), w.ranking.tie_break.map((k) => keys[k]).join("; ") || t("None")],
      [t("Leaderboard updates"), w.board_updates === "attempt" ? t("When an attempt ends") : t("After every answer")],
    ];
    list.replaceChildren(...facts.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { text: value })]));
  }

  // A new campaign: the form to POST /api/campaigns, then its page.
  function setUpCampaignForm() {
    const form = document.getElementById("campaign-form");
    if (!form) return;
    const out = document.getElementById("campaign-result");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const f = form.elements;
      const spec = {
        title: f.title.value.trim(),
        description: f.description.value.trim(),
        rules: f.rules.value.trim(),
        zone: f.zone.value.trim(),
        eligibility: { provinces: idList(f.provinces.value), units: idList(f.units.value) },
        prizes: [],
      };
      if (f.id.value.trim()) spec.id = f.id.value.trim();
      for (let i = 0; i < 3; i++) {
        const top = f["p" + i + "-top"].value;
        if (!top) continue;
        spec.prizes.push({
          top: Number(top), per: f["p" + i + "-per"].value, scope: f["p" + i + "-scope"].value,
          prize: f["p" + i + "-prize"].value.trim(),
        });
      }
      await createThenGo(out, "/api/campaigns", spec, t("The campaign was refused."), "/console/campaigns/");
    });
  }

  // Scheduling a campaign's rounds: the weekly rule is checked by a dry run of the API
  // (POST /api/campaigns/{id}/rounds?dry_run=true), the rounds it would make are shown,
  // and only the organiser's confirmation creates them (the same request without it).
  function setUpSchedule(campaign) {
    const section = document.getElementById("schedule");
    const form = document.getElementById("schedule-form");
    section.hidden = false;
    document.getElementById("schedule-zone").textContent = "(" + t("time zone") + ": " + campaign.zone + ")";
    if (!form) return;
    const out = document.getElementById("schedule-result");
    const preview = document.getElementById("schedule-preview");
    const url = "/api/campaigns/" + encodeURIComponent(campaign.id) + "/rounds";
    const json = { "Content-Type": "application/json" };
    const f = form.elements;
    const soon = new Date(Date.now() + 7 * 86400_000);
    f.starting.value = epochToLocal(soon.getTime()).slice(0, 10);
    f.final_at.value = epochToLocal(soon.getTime() + 60 * 86400_000).slice(0, 11) + "20:00";
    // The prediction questions of the chosen bank (its latest version, as the rounds pin).
    let asked = 0;
    const predictions = async () => {
      const mine = ++asked;
      const keep = f.prediction_question.value;
      const result = await api("GET", "/api/banks/" + encodeURIComponent(f.bank.value));
      if (mine !== asked || !result.ok) return;
      const ids = result.body.questions.filter((q) => q.kind === "prediction").map((q) => q.id);
      f.prediction_question.replaceChildren(
        el("option", { value: "", text: t("None") }),
        ...ids.map((id) => el("option", { value: id, text: id })));
      f.prediction_question.value = ids.includes(keep) ? keep : "";
    };
    f.bank.addEventListener("change", predictions);
    predictions();
    let body = null;
    let planned = 0;
    const spec = () => {
      const value = {
        rule: {
          weeks: Number(f.weeks.value), starting: f.starting.value,
          opens_on: f.opens_on.value, opens_at: f.opens_at.value,
          closes_on: f.closes_on.value, closes_at: f.closes_at.value,
        },
        bank: f.bank.value,
        draw: { count: Number(f.count.value) },
        attempt_seconds: Number(f.attempt_minutes.value) * 60,
        attempts_allowed: Number(f.attempts_allowed.value),
        min_seconds_between_attempts: Number(f.gap_minutes.value) * 60,
        ranking: {
          counts: f.counts.value,
          tie_break: [...form.querySelectorAll('input[name="tie_break"]:checked')].map((box) => box.value),
        },
        board_updates: f.board_updates.value,
        title: f.title.value.trim(),
        schedule: f.schedule.checked,
      };
      if (f.prediction_question.value) value.prediction_question = f.prediction_question.value;
      if (f.final.checked) {
        value.final = {
          starts_at: localToEpoch(f.final_at.value, campaign.zone),
          question_seconds: Number(f.final_question_seconds.value),
          shards: Number(f.final_shards.value),
        };
      }
      return value;
    };
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      body = JSON.stringify(spec());
      out.replaceChildren(el("p", { text: t("Checking…") }));
      const result = await api("POST", url + "?dry_run=true", body, json);
      if (!result.ok) {
        out.replaceChildren(errorBlock(result));
        announce(t("The schedule was refused."));
        return;
      }
      out.replaceChildren();
      planned = result.body.rounds.length;
      showRounds(document.querySelector("#preview tbody"), result.body.rounds, campaign.zone, false);
      showRoundRules(document.getElementById("preview-rules"), result.body.rounds);
      const title = document.getElementById("preview-title");
      title.textContent = t("Rounds to create") + ": " + num(planned) + " (" + t("time zone") + ": " + campaign.zone + ")";
      form.hidden = true;
      preview.hidden = false;
      title.focus();
    });
    document.getElementById("schedule-back").addEventListener("click", () => {
      preview.hidden = true;
      form.hidden = false;
      f.weeks.focus();
    });
    document.getElementById("schedule-confirm").addEventListener("click", async () => {
      const result = await api("POST", url, body, json);
      preview.hidden = true;
      form.hidden = false;
      if (!result.ok) {
        out.replaceChildren(errorBlock(result));
        announce(t("The schedule was refused."));
        return;
      }
      showRounds(document.querySelector("#rounds tbody"), result.body.rounds, campaign.zone, true);
      out.replaceChildren(el("p", { role: "status", text: t("Rounds created") + ": " + num(planned) }));
      announce(t("Rounds created") + ": " + num(planned));
    });
  }

  // The organisation's time zone (home page): PATCH /api/org, then the page again.
  function setUpZone() {
    const form = document.getElementById("zone-form");
    if (!form) return;
    const out = document.getElementById("zone-result");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = JSON.stringify({ zone: form.elements.zone.value.trim() });
      const result = await api("PATCH", "/api/org", body, { "Content-Type": "application/json" });
      if (!result.ok) {
        out.replaceChildren(errorBlock(result));
        form.elements.zone.setAttribute("aria-invalid", "true");
        form.elements.zone.focus();
        return;
      }
      window.location.assign(location.pathname + "?zone=saved");
    });
    if (new URLSearchParams(location.search).get("zone") === "saved") {
      out.replaceChildren(el("p", { role: "status", text: t("Time zone saved.") }));
    }
  }

  setUpBanks();
  setUpZone();
  setUpCampaigns();
  setUpCampaignForm();
  setUpContestForm();
  setUpActions();
  setUpLive();
  setUpResults();
})();
