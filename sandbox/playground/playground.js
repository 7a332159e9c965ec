// sre-agent playground: the sandbox's Slack workspace as a person sees it, with the real bot on the other side.
// Everything comes from the sandbox's same-origin JSON API. Every string it returns is untrusted: the DOM is built
// with createElement/textContent, and the only innerHTML is mrkdwn that has been escaped first (see mrkdwn()).
"use strict";

const API = "/_sandbox";
const HOME = "home"; // state.current while the App Home tab is shown
const REFRESH_DEBOUNCE_MS = 150;
const FEED_WAIT_S = 25;

const EMOJI = {
  rotating_light: "🚨", white_check_mark: "✅", warning: "⚠️", memo: "📝", pushpin: "📌", red_circle: "🔴",
  large_green_circle: "🟢", hourglass_flowing_sand: "⏳", mag: "🔍", fire: "🔥", x: "❌", information_source: "ℹ️",
  chart_with_downwards_trend: "📉", chart_with_upwards_trend: "📈", arrows_counterclockwise: "🔄", bell: "🔔",
  busts_in_silhouette: "👥", clock3: "🕒", link: "🔗", wrench: "🔧", tada: "🎉", no_entry: "⛔", eyes: "👀",
  // the others the bot uses
  raised_hand: "✋", sunny: "☀️", ballot_box_with_check: "☑️", thumbsup: "👍", "+1": "👍", hourglass: "⌛",
  grey_question: "❔", bar_chart: "📊", repeat: "🔁", no_entry_sign: "🚫", gear: "⚙️", arrow_double_up: "⏫",
  white_circle: "⚪", wave: "👋", ticket: "🎫", stethoscope: "🩺", sos: "🆘", seedling: "🌱", satellite_antenna: "📡",
  pager: "📟", large_yellow_circle: "🟡", large_orange_circle: "🟠", large_blue_circle: "🔵", fast_forward: "⏩",
  clipboard: "📋", arrow_right: "➡️",
};

const state = {
  config: null,        // GET /_sandbox/playground
  user: null,          // who you are (a Slack user id)
  channels: [],
  current: null,       // the selected channel id, or HOME
  chosen: false,       // the person picked a channel (or Home) themselves in this session
  known: null,         // ids of the channels seen so far (null until the first load)
  seen: new Map(),     // channel id -> message_count when last viewed
  unread: new Set(),
  messages: [],        // of the current channel
  ephemerals: [],      // of the current channel, for the current user
  loadedFor: null,     // the channel `messages` belong to
  views: [],
  thread: null,        // ts of the open thread's parent
  busy: new Set(),     // "ts|action_id" of buttons waiting for the bot
  sending: false,
  scrollEnd: false,    // scroll the lists to the end at the next render (after sending)
  lastSeq: 0,
  listSig: "",         // what the message list was last rendered from
  threadSig: "",
  modalKey: "",
  modalLocalErrors: {},
};

// ---- small helpers ------------------------------------------------------------------------------

const $ = (sel) => document.querySelector(sel);

/** Build an element. attrs: class, text, html (escaped mrkdwn only), on<event>, dataset, or plain attributes. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "html") node.innerHTML = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function escapeHtml(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/** Slack escapes & < > in message text; undo that before escaping for HTML. */
function unescapeSlack(s) {
  return String(s).replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

function emojiText(s) {
  return String(s ?? "").replace(/:([a-z0-9_+-]+):/g, (whole, name) => emoji(name) ?? whole);
}

/** The emoji for a code, only from the table's own entries (not `constructor` and the like). */
function emoji(name) {
  return Object.hasOwn(EMOJI, name) ? EMOJI[name] : undefined;
}

function pad2(n) {
  return String(n).padStart(2, "0");
}

/** HH:MM in local time from a Slack ts ("1700000000.000100"). */
function hhmm(ts) {
  const d = new Date(parseFloat(ts) * 1000);
  return Number.isNaN(d.getTime()) ? "" : `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

function fullTime(ts) {
  const d = new Date(parseFloat(ts) * 1000);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleString();
}


// ---- the API ------------------------------------------------------------------------------------

async function api(method, path, body) {
  const opts = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(API + path, opts);
  } catch (e) {
    throw new Error(`Could not reach the sandbox (${method} ${path}): is it still running?`);
  }
  const raw = await res.text();
  let data = null;
  try {
    data = raw ? JSON.parse(raw) : {};
  } catch (e) {
    data = null;
  }
  if (!res.ok) {
    const why = data && typeof data.error === "string" ? data.error : raw.slice(0, 200) || res.statusText;
    throw new Error(`${method} ${path} failed (${res.status}): ${why}`);
  }
  if (data === null) throw new Error(`${method} ${path}: the answer is not JSON`);
  return data;
}

/** A request the sandbox carried out but the bot did not answer well. */
class BotError extends Error {}

/** The sandbox relays what the bot answered as {status, body, error?}: anything but 2xx is an error to show. */
function checkBot(res, what) {
  if (!res || typeof res.status !== "number" || (res.status >= 200 && res.status < 300)) return;
  if (res.status === 0) throw new BotError(`The bot could not be reached for ${what}: ${res.error || "no answer"}`);
  const detail = res.error || String(res.body ?? "").trim().slice(0, 300) || "no details";
  throw new BotError(`The bot answered ${res.status} to ${what}: ${detail}`);
}

// ---- errors and notices -------------------------------------------------------------------------

function showError(err) {
  const msg = err instanceof Error ? err.message : String(err);
  const strip = $("#error-strip");
  const same = [...strip.children].find((c) => c.dataset.msg === msg);
  if (same) {
    const n = Number(same.dataset.count || 1) + 1;
    same.dataset.count = String(n);
    same.querySelector(".error-count").textContent = `(${n} times)`;
    strip.append(same);
  } else {
    const item = el("div", { class: "error-item", dataset: { msg, count: "1" } },
      el("span", { class: "error-text", text: msg }),
      el("span", { class: "error-count" }),
      el("button", {
        type: "button", class: "error-dismiss", "aria-label": "Dismiss", text: "×",
        onclick: () => { item.remove(); strip.hidden = strip.children.length === 0; },
      }));
    strip.append(item);
    while (strip.children.length > 4) strip.firstElementChild.remove();
  }
  strip.hidden = false;
}

let noticeTimer = null;
function notice(text) {
  const box = $("#notice");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { box.hidden = true; }, 6000);
}

function setLive(ok) {
  const s = $("#live-status");
  s.textContent = ok ? "● live" : "● reconnecting…";
  s.classList.toggle("ok", ok);
}

// ---- people and channels ------------------------------------------------------------------------

const bot = () => state.config?.bot ?? { user_id: "", name: "sre" };
const isBot = (id) => id === bot().user_id;

function userById(id) {
  return (state.config?.users ?? []).find((u) => u.id === id);
}

/** The short handle (@dana), as mentions show it. */
function handle(id) {
  if (isBot(id)) return bot().name;
  return userById(id)?.name ?? id;
}

/** The name a message header shows. */
function displayName(id) {
  if (isBot(id)) return bot().name;
  const u = userById(id);
  return u ? u.real_name || u.name : id;
}

const channelById = (id) => state.channels.find((c) => c.id === id);

function canSee(ch) {
  if (ch.is_im || ch.is_private) return (ch.members ?? []).includes(state.user);
  return true;
}

/** "#name" for channels; for a direct message, who it is with (the bot: "sre"). */
function channelLabel(ch) {
  if (!ch) return "";
  if (!ch.is_im) return `#${ch.name}`;
  const others = (ch.members ?? []).filter((m) => m !== state.user);
  return others.length ? others.map(handle).join(", ") : ch.name || bot().name;
}

function botIm(user) {
  return state.channels.find((c) => c.is_im && c.members.includes(user) && c.members.includes(bot().user_id));
}

// ---- mrkdwn -------------------------------------------------------------------------------------

const PH_OPEN = "\uE000";
const PH_CLOSE = "\uE001";

/** What a Slack control sequence (the inside of <...>) shows: {text, href?, goto?, cls}. */
function control(inner) {
  const bar = inner.indexOf("|");
  const target = bar >= 0 ? inner.slice(0, bar) : inner;
  const label = bar >= 0 ? unescapeSlack(inner.slice(bar + 1)) : "";
  if (target.startsWith("@")) return { text: `@${label || handle(target.slice(1))}`, cls: "mention" };
  if (target.startsWith("#")) {
    const id = target.slice(1);
    const ch = channelById(id);
    return { text: ch && !ch.is_im ? `#${ch.name}` : `#${label || id}`, goto: ch ? id : null, cls: "channel-ref" };
  }
  if (target.startsWith("!")) {
    const [kind, ...rest] = target.slice(1).split("^");
    if (["here", "channel", "everyone"].includes(kind)) return { text: `@${kind}`, cls: "mention" };
    if (kind === "subteam") return { text: label || "@group", cls: "mention" };
    if (kind === "date") return { text: slackDate(rest[0], rest[1]) || label, cls: "date" };
    return { text: label || target, cls: "" };
  }
  const url = unescapeSlack(target);
  if (/^(https?:|mailto:)/i.test(url)) return { text: label || url, href: url, cls: "link" };
  return { text: label || url, cls: "" };
}

/** <!date^ts^{date_short} {time}|fallback> in local time; null when it cannot be read. */
function slackDate(ts, format) {
  const d = new Date(Number(ts) * 1000);
  if (!format || Number.isNaN(d.getTime())) return null;
  const words = {
    time: `${pad2(d.getHours())}:${pad2(d.getMinutes())}`,
    time_secs: `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`,
    date_num: `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`,
    date: d.toLocaleDateString(undefined, { year: "numeric", month: "long", day: "numeric" }),
    date_pretty: d.toLocaleDateString(undefined, { year: "numeric", month: "long", day: "numeric" }),
    date_short: d.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" }),
    date_short_pretty: d.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" }),
    date_long: d.toLocaleDateString(undefined, { weekday: "long", year: "numeric", month: "long", day: "numeric" }),
    date_long_pretty: d.toLocaleDateString(undefined, { weekday: "long", year: "numeric", month: "long", day: "numeric" }),
  };
  return format.replace(/\{(\w+)\}/g, (whole, key) => words[key] ?? whole);
}

function controlHtml(inner) {
  const c = control(inner);
  const text = escapeHtml(c.text);
  if (c.href) return `<a href="${escapeHtml(c.href)}" target="_blank" rel="noopener noreferrer">${text}</a>`;
  if (c.goto) return `<a href="#" class="channel-ref" data-goto="${escapeHtml(c.goto)}">${text}</a>`;
  return c.cls ? `<span class="${c.cls}">${text}</span>` : text;
}

/** Text with control sequences shown as their labels and Slack's entities undone (inside code). */
function plainSlack(s) {
  return unescapeSlack(s.replace(/<([^<>\n]*)>/g, (whole, inner) => control(inner).text));
}

function inlineFormat(line) {
  return line
    .replace(/(^|[^\w*])\*(?=\S)([^*]*?\S)\*(?![\w*])/g, "$1<b>$2</b>")
    .replace(/(^|[^\w_])_(?=\S)([^_]*?\S)_(?![\w_])/g, "$1<i>$2</i>")
    .replace(/(^|[^\w~])~(?=\S)([^~]*?\S)~(?![\w~])/g, "$1<s>$2</s>");
}

/** Slack mrkdwn to safe HTML: code, links, mentions and emphasis; everything else escaped. */
function mrkdwn(text) {
  const held = [];
  const hold = (html) => `${PH_OPEN}${held.push(html) - 1}${PH_CLOSE}`;
  let src = String(text ?? "").replace(/[\uE000\uE001]/g, "");
  src = src.replace(/```([\s\S]*?)```/g, (whole, code) => hold(`<pre>${escapeHtml(plainSlack(code).replace(/^\n/, ""))}</pre>`));
  src = src.replace(/`([^`\n]+)`/g, (whole, code) => hold(`<code>${escapeHtml(plainSlack(code))}</code>`));
  src = src.replace(/<([^<>\n]*)>/g, (whole, inner) => hold(controlHtml(inner)));
  const lines = escapeHtml(unescapeSlack(src)).split("\n").map((line) => emojiText(inlineFormat(line)));
  // group "> quote" lines into blockquotes, join the rest with <br>
  const parts = [];
  let quote = null;
  for (const line of lines) {
    const m = /^&gt; ?(.*)$/.exec(line);
    if (m) {
      (quote ??= []).push(m[1]);
      continue;
    }
    if (quote) parts.push({ block: true, html: `<blockquote>${quote.join("<br>")}</blockquote>` });
    quote = null;
    parts.push({ block: false, html: line });
  }
  if (quote) parts.push({ block: true, html: `<blockquote>${quote.join("<br>")}</blockquote>` });
  let html = "";
  parts.forEach((p, i) => {
    if (i > 0 && !p.block && !parts[i - 1].block) html += "<br>";
    html += p.html;
  });
  return html.replace(/\uE000(\d+)\uE001/g, (whole, i) => held[Number(i)] ?? "");
}

/** A Slack text object (or a bare string of mrkdwn) as an element. */
function textObject(t, cls = "") {
  if (t === null || t === undefined) return null;
  if (typeof t === "string") return el("div", { class: `mrkdwn ${cls}`, html: mrkdwn(t) });
  if (t.type === "mrkdwn") return el("div", { class: `mrkdwn ${cls}`, html: mrkdwn(t.text) });
  return el("div", { class: `plain ${cls}`, text: emojiText(t.text) });
}

// ---- Block Kit ----------------------------------------------------------------------------------

let inputCounter = 0;

/** ctx: {kind: "message"|"ephemeral"|"modal"|"home", channel?, ts?} */
function renderBlocks(blocks, ctx) {
  return el("div", { class: "blocks" }, (blocks ?? []).map((b) => renderBlock(b, ctx)));
}

function unsupported(what) {
  return el("div", { class: "unsupported", text: `[unsupported ${what}]` });
}

function renderBlock(b, ctx) {
  if (!b || typeof b !== "object") return unsupported("block");
  switch (b.type) {
    case "header":
      return el("div", { class: "blk-header", text: emojiText(b.text?.text ?? "") });
    case "section": {
      const main = el("div", { class: "section-main" }, textObject(b.text));
      if (Array.isArray(b.fields) && b.fields.length) {
        main.append(el("div", { class: "fields" }, b.fields.map((f) => textObject(f, "field"))));
      }
      const row = el("div", { class: "blk-section" }, main);
      if (b.accessory) row.append(el("div", { class: "accessory" }, renderElement(b.accessory, ctx, b.block_id)));
      return row;
    }
    case "context":
      return el("div", { class: "blk-context" }, (b.elements ?? []).map((e) => {
        if (e.type === "image") return el("span", { class: "ctx-image", text: `[${e.alt_text || "image"}]` });
        if (e.type === "mrkdwn") return el("span", { class: "mrkdwn", html: mrkdwn(e.text) });
        return el("span", { text: emojiText(e.text ?? "") });
      }));
    case "divider":
      return el("hr", { class: "blk-divider" });
    case "actions":
      return el("div", { class: "blk-actions" }, (b.elements ?? []).map((e) => renderElement(e, ctx, b.block_id)));
    case "input":
      return renderInput(b);
    case "image":
      return el("div", { class: "blk-image", text: `🖼 ${b.title?.text ? `${b.title.text}: ` : ""}${b.alt_text || "image"}` });
    default:
      return unsupported(`block: ${b.type}`);
  }
}

function renderElement(e, ctx, blockId) {
  if (e?.type === "button") return renderButton(e, ctx, blockId);
  if (e?.type === "image") return el("span", { class: "ctx-image", text: `[${e.alt_text || "image"}]` });
  return unsupported(`element: ${e?.type}`);
}

function renderButton(e, ctx, blockId) {
  const label = emojiText(e.text?.text ?? e.action_id ?? "button");
  const style = e.style === "primary" ? "primary" : e.style === "danger" ? "danger" : "";
  const key = `${ctx.ts}|${e.action_id}`;
  const clickable = Boolean(ctx.channel && ctx.ts);
  const btn = el("button", {
    type: "button",
    class: `btn ${style}`,
    "data-action-id": e.action_id ?? "",
    "data-block-id": blockId ?? null,
    text: label,
    title: clickable ? null : "Buttons here cannot be clicked in the playground (the sandbox API only has message buttons)",
  });
  btn.disabled = !clickable || state.busy.has(key);
  if (state.busy.has(key)) btn.classList.add("busy");
  btn.addEventListener("click", () => clickButton(e, ctx, blockId, key, label));
  return btn;
}

async function clickButton(e, ctx, blockId, key, label) {
  if (state.busy.has(key)) return;
  if (e.confirm && !(await confirmDialog(e.confirm))) return;
  if (e.url && /^https?:/i.test(e.url)) window.open(e.url, "_blank", "noopener,noreferrer");
  state.busy.add(key);
  state.listSig = state.threadSig = ""; // show the button as busy
  renderMessages();
  renderThread();
  try {
    const res = await api("POST", "/slack/action", {
      user: state.user, channel: ctx.channel, message_ts: ctx.ts,
      action_id: e.action_id, value: e.value, block_id: blockId,
    });
    checkBot(res, `the button “${label}”`);
  } catch (err) {
    showError(err);
  } finally {
    state.busy.delete(key);
    state.listSig = state.threadSig = "";
    scheduleRefresh(0);
  }
}

function renderInput(b) {
  const id = `input-${++inputCounter}`;
  const e = b.element ?? {};
  const blockId = b.block_id ?? "";
  let control;
  if (e.type === "plain_text_input") {
    control = e.multiline ? el("textarea", { rows: 4 }) : el("input", { type: "text" });
    if (e.placeholder?.text) control.placeholder = e.placeholder.text;
    if (e.max_length) control.maxLength = e.max_length;
    control.value = e.initial_value ?? "";
  } else if (e.type === "static_select") {
    control = el("select");
    const initial = e.initial_option?.value;
    control.append(el("option", { value: "", text: e.placeholder?.text || "Choose…" }));
    const option = (o) => el("option", { value: o.value ?? "", text: emojiText(o.text?.text ?? o.value ?? "") });
    if (Array.isArray(e.option_groups)) {
      for (const g of e.option_groups) {
        control.append(el("optgroup", { label: g.label?.text ?? "" }, (g.options ?? []).map(option)));
      }
    } else {
      control.append(...(e.options ?? []).map(option));
    }
    control.value = initial ?? "";
  } else {
    return el("div", { class: "blk-input" },
      el("div", { class: "input-label", text: b.label?.text ?? "" }), unsupported(`element: ${e.type}`));
  }
  control.id = id;
  Object.assign(control.dataset, { inputBlock: blockId, inputAction: e.action_id ?? "", inputType: e.type });
  if (!b.optional) control.dataset.required = "1";
  return el("div", { class: "blk-input" },
    el("label", { for: id, class: "input-label" }, b.label?.text ?? "", b.optional ? el("span", { class: "optional", text: " (optional)" }) : null),
    control,
    b.hint ? el("div", { class: "input-hint", text: b.hint.text ?? "" }) : null,
    el("div", { class: "input-error", dataset: { blockId } }));
}

// ---- messages -----------------------------------------------------------------------------------

function avatar(userId) {
  let hash = 0;
  for (const ch of String(userId)) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  const a = el("div", { class: "avatar", "aria-hidden": "true", text: isBot(userId) ? "🤖" : displayName(userId).charAt(0).toUpperCase() });
  a.style.background = isBot(userId) ? "#4a154b" : `hsl(${hash % 360} 45% 42%)`;
  return a;
}

/** Reactions come as [{name, users, count}] (Web API shape) or {name: [users]}. */
function reactionList(r) {
  if (Array.isArray(r)) return r.map((x) => ({ name: x.name, count: x.count ?? (x.users ?? []).length }));
  if (r && typeof r === "object") return Object.entries(r).map(([name, users]) => ({ name, count: users.length }));
  return [];
}

function repliesOf(parentTs) {
  return state.messages.filter((m) => m.thread_ts === parentTs && m.ts !== parentTs && !m.deleted);
}

/** One message (or ephemeral) row. opts: {ephemeral, inThread, continued} */
function renderMessage(m, opts = {}) {
  const ts = opts.ephemeral ? m.message_ts : m.ts;
  const author = opts.ephemeral ? bot().user_id : m.user;
  const fromBot = isBot(author) || Boolean(m.bot_id);
  const node = el("div", { class: "message", dataset: { ts } });
  if (opts.ephemeral) node.classList.add("ephemeral");
  if (opts.continued) node.classList.add("continued");

  const body = el("div", { class: "message-body" });
  if (m.pinned_to?.length || m.pinned_by?.length) body.append(el("div", { class: "pinned", text: "📌 Pinned" }));
  body.append(el("div", { class: "message-meta" },
    el("span", { class: "author", text: displayName(author) }),
    fromBot ? el("span", { class: "app-tag", text: "APP" }) : null,
    el("time", { class: "time", title: fullTime(ts), text: hhmm(ts) }),
    opts.ephemeral ? el("span", { class: "only-you", text: "Only visible to you" }) : null));

  const ctx = { kind: opts.ephemeral ? "ephemeral" : "message", channel: m.channel ?? state.current, ts };
  if (Array.isArray(m.blocks) && m.blocks.length) body.append(renderBlocks(m.blocks, ctx));
  else body.append(el("div", { class: `mrkdwn text${m.subtype ? " system" : ""}`, html: mrkdwn(m.text) }));
  if (m.edited) body.append(el("span", { class: "edited", text: "(edited)" }));

  for (const f of m.files ?? []) {
    const title = f.title || f.name || f.id;
    // opened from the sandbox, which holds the bytes (the permalink is the workspace's, not reachable here)
    body.append(el("a", { class: "file", title: `Open ${title}`, href: `/_sandbox/slack/files/${encodeURIComponent(f.id)}`,
      target: "_blank", rel: "noopener noreferrer" },
      el("span", { class: "file-icon", text: "📄" }),
      el("span", { class: "file-title", text: title }),
      f.name && f.name !== title ? el("span", { class: "file-name", text: f.name }) : null));
  }

  const reactions = reactionList(m.reactions);
  if (reactions.length) {
    body.append(el("div", { class: "reactions" }, reactions.map((r) => el("span", { class: "reaction", title: `:${r.name}:` },
      emoji(r.name) ? `${emoji(r.name)} ` : "", `:${r.name}: ${r.count}`))));
  }

  if (!opts.ephemeral && !opts.inThread) {
    const replies = repliesOf(m.ts);
    const count = replies.length || (m.thread_ts === m.ts ? m.reply_count ?? 0 : 0);
    if (count > 0) {
      const last = replies.length ? replies[replies.length - 1].ts : null;
      body.append(el("button", {
        type: "button", class: "replies-link",
        onclick: () => openThread(m.ts),
      }, `${count} ${count === 1 ? "reply" : "replies"}`, last ? el("span", { class: "last-reply", text: ` · last reply ${hhmm(last)}` }) : null));
    }
  }
  if (opts.ephemeral && m.thread_ts && !opts.inThread) {
    body.append(el("div", { class: "hint", text: "(sent in a thread)" }));
  }
  node.append(opts.continued ? el("div", { class: "gutter", text: hhmm(ts) }) : avatar(author), body);
  return node;
}

/** Messages and ephemerals in time order, with consecutive messages by one person grouped like Slack does. */
function renderItems(items) {
  let prev = null;
  return items.map(({ m, ephemeral, inThread }) => {
    const ts = ephemeral ? m.message_ts : m.ts;
    const continued = Boolean(prev && !ephemeral && !prev.ephemeral && prev.m.user === m.user &&
      parseFloat(ts) - parseFloat(prev.ts) < 300 && !m.pinned_to?.length);
    prev = { m, ephemeral, ts };
    return renderMessage(m, { ephemeral, inThread, continued });
  });
}

function sortItems(items) {
  const tsOf = (i) => parseFloat(i.ephemeral ? i.m.message_ts : i.m.ts);
  return items.sort((a, b) => tsOf(a) - tsOf(b));
}

function renderMessages() {
  const list = $("#messages");
  if (state.current === HOME || state.loadedFor !== state.current) return;
  const main = state.messages.filter((m) => !m.deleted && !(m.thread_ts && m.thread_ts !== m.ts));
  const eph = state.ephemerals.filter((e) => !e.deleted && e.user === state.user);
  const sig = JSON.stringify([state.current, state.user, state.messages, eph, state.channels.map((c) => c.name), [...state.busy]]);
  if (sig === state.listSig) return;
  const switched = list.dataset.channel !== state.current;
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  const keepTop = list.scrollTop;
  state.listSig = sig;
  list.dataset.channel = state.current;

  const ch = channelById(state.current);
  const intro = el("div", { class: "channel-intro" },
    el("strong", { text: ch?.is_im ? `This is your direct message with ${channelLabel(ch)}.` : `This is the very beginning of ${channelLabel(ch)}.` }),
    el("div", { class: "hint", text: introHint(ch) }));
  const items = sortItems([
    ...main.map((m) => ({ m, ephemeral: false })),
    ...eph.map((m) => ({ m, ephemeral: true })),
  ]);
  list.replaceChildren(intro, ...renderItems(items));
  if (switched || atBottom || state.scrollEnd) list.scrollTop = list.scrollHeight;
  else list.scrollTop = keepTop;
  state.scrollEnd = false;
}

function introHint(ch) {
  const b = bot().name;
  if (ch?.is_im) return `Talk to ${b} here in plain English, or open Home for your incidents.`;
  if (ch?.id === state.config?.incidents_channel) {
    return `Incidents are announced here. Page a service from the panel on the right, or try /incident declare or @${b}.`;
  }
  if (ch?.name?.startsWith("inc-")) return `The incident's own channel: the card, findings and proposals arrive here. /incident help lists what you can do.`;
  return `Messages posted here are seen by ${b} if it is a member.`;
}

// ---- threads ------------------------------------------------------------------------------------

function openThread(ts) {
  state.thread = ts;
  state.threadSig = "";
  renderThread();
  $("#thread-composer")?.focus();
}

function closeThread() {
  state.thread = null;
  renderThread();
}

function renderThread() {
  const side = $("#side");
  const panel = $("#scenario-panel");
  let pane = $("#thread-pane");
  if (!state.thread || state.current === HOME) {
    pane?.remove();
    panel.hidden = false;
    return;
  }
  if (state.loadedFor !== state.current) return;
  if (!pane || pane.dataset.thread !== state.thread) {
    pane?.remove();
    const composer = el("textarea", { id: "thread-composer", rows: 2, placeholder: "Reply in the thread…", "aria-label": "Reply" });
    const form = el("form", { class: "thread-form", autocomplete: "off" }, composer,
      el("button", { id: "thread-send", type: "submit", class: "btn primary", text: "Reply" }));
    bindComposer(composer, form, () => state.thread);
    pane = el("section", { id: "thread-pane", "aria-label": "Thread", dataset: { thread: state.thread } },
      el("div", { class: "thread-header" },
        el("h2", { text: "Thread" }),
        el("span", { class: "thread-channel", text: channelLabel(channelById(state.current)) }),
        el("button", { id: "thread-close", type: "button", class: "icon-btn", "aria-label": "Close the thread", text: "×", onclick: closeThread })),
      el("div", { id: "thread-messages" }),
      form);
    side.append(pane);
    state.threadSig = "";
  }
  panel.hidden = true;

  const parent = state.messages.find((m) => m.ts === state.thread);
  const replies = repliesOf(state.thread);
  const eph = state.ephemerals.filter((e) => !e.deleted && e.user === state.user && e.thread_ts === state.thread);
  const sig = JSON.stringify([state.user, parent, replies, eph, [...state.busy]]);
  if (sig === state.threadSig) return;
  state.threadSig = sig;
  const list = $("#thread-messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  const head = parent && !parent.deleted
    ? renderMessage(parent, { inThread: true })
    : el("div", { class: "hint", text: "This message was deleted." });
  const count = el("div", { class: "thread-count", text: `${replies.length} ${replies.length === 1 ? "reply" : "replies"}` });
  const items = sortItems([...replies.map((m) => ({ m, ephemeral: false, inThread: true })),
    ...eph.map((m) => ({ m, ephemeral: true, inThread: true }))]);
  list.replaceChildren(head, count, ...renderItems(items));
  if (atBottom) list.scrollTop = list.scrollHeight;
}

// ---- sending ------------------------------------------------------------------------------------

function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** What a Slack client sends for typed text: & < > escaped, and @person, @here and #channel made into references
 * (a command gets them as <@U123|name>, as Slack sends commands to an app that asks for escaping). */
function slackify(text, forCommand) {
  const people = [...(state.config?.users ?? []), { id: bot().user_id, name: bot().name }];
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/(^|[\s(])@([\w-]+(?:\.[\w-]+)*)/g, (whole, before, name) => {
      const lower = name.toLowerCase();
      if (["here", "channel", "everyone"].includes(lower)) return `${before}<!${lower}>`;
      const u = people.find((p) => p.name.toLowerCase() === lower);
      return u ? `${before}<@${u.id}${forCommand ? `|${u.name}` : ""}>` : whole;
    })
    .replace(/(^|[\s(])#([\w-]+)/g, (whole, before, name) => {
      const ch = state.channels.find((c) => !c.is_im && c.name === name);
      return ch ? `${before}<#${ch.id}|${ch.name}>` : whole;
    });
}

/** Send what was typed: a slash command, a mention of the bot, or a plain message. Returns true if it went. */
async function send(raw, threadTs) {
  const text = raw.trim();
  const channel = state.current;
  if (!text || !channel || channel === HOME) return false;
  const mention = new RegExp(`^@(sre|${escapeRe(bot().name)})(?=$|[\\s,:])[\\s,:]*`, "i");
  let res;
  if (text.startsWith("/")) {
    const m = /^(\/\S+)\s*([\s\S]*)$/.exec(text);
    res = await api("POST", "/slack/command", { user: state.user, channel, command: m[1], text: slackify(m[2], true) });
    checkBot(res, m[1]);
  } else if (mention.test(text)) {
    const rest = text.replace(mention, "");
    if (!rest) throw new Error(`Say something after @${bot().name}, e.g. “@${bot().name} who's on call for payments?”`);
    res = await api("POST", "/slack/mention", { user: state.user, channel, text: slackify(rest, false), thread_ts: threadTs ?? undefined });
    checkBot(res, "the mention");
  } else {
    res = await api("POST", "/slack/message", { user: state.user, channel, text: slackify(text, false), thread_ts: threadTs ?? undefined });
    checkBot(res, "the message");
  }
  return true;
}

/** Enter sends, Shift+Enter is a new line; the text comes back if sending failed. */
function bindComposer(textarea, form, threadTs) {
  const go = async () => {
    if (state.sending) return;
    const raw = textarea.value;
    if (!raw.trim()) return;
    state.sending = true;
    state.scrollEnd = true;
    textarea.value = "";
    try {
      await send(raw, threadTs());
    } catch (err) {
      // a message the bot failed on is posted all the same; anything else did not go: give the text back
      const posted = err instanceof BotError && !raw.trim().startsWith("/");
      if (!posted && !textarea.value) textarea.value = raw;
      showError(err);
    } finally {
      state.sending = false;
      scheduleRefresh(0);
    }
  };
  textarea.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      go();
    }
  });
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    go();
  });
}

// ---- dialogs: confirm and modal -----------------------------------------------------------------

/** Slack's confirm object as an in-page dialog; resolves true on confirm. */
function confirmDialog(confirm) {
  return new Promise((resolve) => {
    $("#confirm-dialog")?.remove();
    const yes = el("button", { id: "confirm-yes", type: "button", class: `btn ${confirm.style === "danger" ? "danger" : "primary"}`, text: confirm.confirm?.text || "Yes" });
    const no = el("button", { id: "confirm-no", type: "button", class: "btn", text: confirm.deny?.text || "Cancel" });
    const box = el("div", { id: "confirm-dialog", class: "overlay", role: "dialog", "aria-modal": "true" },
      el("div", { class: "dialog" },
        el("h2", { class: "dialog-title", text: emojiText(confirm.title?.text || "Are you sure?") }),
        el("div", { class: "dialog-body" }, textObject(confirm.text)),
        el("div", { class: "dialog-buttons" }, no, yes)));
    const done = (answer) => {
      box.remove();
      document.removeEventListener("keydown", onKey, true);
      resolve(answer);
    };
    const onKey = (ev) => { if (ev.key === "Escape") { ev.stopPropagation(); done(false); } };
    yes.addEventListener("click", () => done(true));
    no.addEventListener("click", () => done(false));
    box.addEventListener("click", (ev) => { if (ev.target === box) done(false); });
    document.addEventListener("keydown", onKey, true);
    document.body.append(box);
    yes.focus();
  });
}

function currentModal() {
  return [...state.views].reverse().find((v) => v.kind === "modal" && !v.closed && v.user_id === state.user) ?? null;
}

function renderModal() {
  const v = currentModal();
  let root = $("#modal");
  if (!v) {
    root?.remove();
    state.modalKey = "";
    return;
  }
  const key = `${state.user}|${v.id}|${JSON.stringify(v.view)}`;
  if (!root || key !== state.modalKey) {
    root?.remove();
    state.modalKey = key;
    state.modalLocalErrors = {};
    const view = v.view ?? {};
    const closeBtn = el("button", { id: "modal-close", type: "button", class: "btn", text: view.close?.text || "Cancel", onclick: () => closeModal(v.id) });
    const submitBtn = view.submit
      ? el("button", { id: "modal-submit", type: "submit", class: "btn primary", text: view.submit.text || "Submit" })
      : null;
    const form = el("form", { class: "dialog modal-box", autocomplete: "off" },
      el("div", { class: "modal-head" },
        el("h2", { class: "dialog-title", text: emojiText(view.title?.text || "") }),
        el("button", { type: "button", class: "icon-btn", "aria-label": "Close", text: "×", onclick: () => closeModal(v.id) })),
      el("div", { class: "modal-body" }, renderBlocks(view.blocks, { kind: "modal" })),
      el("div", { class: "dialog-buttons" }, closeBtn, submitBtn));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (submitBtn) submitModal(v, form, submitBtn);
    });
    root = el("div", { id: "modal", class: "overlay", role: "dialog", "aria-modal": "true", dataset: { viewId: v.id } }, form);
    document.body.append(root);
    root.querySelector("input, textarea, select")?.focus();
  }
  const server = v.last_response?.response_action === "errors" ? v.last_response.errors ?? {} : {};
  const errors = { ...server, ...state.modalLocalErrors };
  for (const box of root.querySelectorAll(".input-error")) box.textContent = errors[box.dataset.blockId] ?? "";
}

async function submitModal(v, form, submitBtn) {
  const values = {};
  state.modalLocalErrors = {};
  for (const c of form.querySelectorAll("[data-input-block]")) {
    const { inputBlock: blockId, inputAction: actionId, inputType: type } = c.dataset;
    if (!blockId || !actionId) continue;
    const value = c.value;
    if (c.dataset.required && !value.trim()) state.modalLocalErrors[blockId] = "Please fill in this field.";
    if (type === "static_select" && !value) continue; // Slack sends no option for an untouched select
    (values[blockId] ??= {})[actionId] = value;
  }
  if (Object.keys(state.modalLocalErrors).length) {
    renderModal();
    return;
  }
  submitBtn.disabled = true;
  try {
    const res = await api("POST", "/slack/view_submission", { user: state.user, view_id: v.id, values });
    checkBot(res, "the form");
  } catch (err) {
    showError(err);
  } finally {
    submitBtn.disabled = false;
    await refresh();
  }
}

async function closeModal(viewId) {
  try {
    await api("POST", `/slack/views/${encodeURIComponent(viewId)}/close`, {});
  } catch (err) {
    showError(err);
  }
  await refresh();
}

// ---- Home ---------------------------------------------------------------------------------------

async function openHome() {
  state.current = HOME;
  state.chosen = true;
  state.thread = null;
  renderAll();
  await announceHomeOpened();
}

async function announceHomeOpened() {
  const im = botIm(state.user);
  try {
    const res = await api("POST", "/slack/event", {
      event: { type: "app_home_opened", user: state.user, channel: im?.id ?? "", tab: "home" },
    });
    checkBot(res, "opening Home");
  } catch (err) {
    showError(err);
  }
  await refresh();
}

function renderHome() {
  const box = $("#home-view");
  const v = [...state.views].reverse().find((x) => x.kind === "home" && x.user_id === state.user);
  const key = JSON.stringify([state.user, v?.view ?? null, state.channels.map((c) => c.name)]);
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  box.replaceChildren(v
    ? renderBlocks(v.view?.blocks, { kind: "home" })
    : el("p", { class: "hint", text: `${bot().name} has not published a Home tab for you yet. It does when you open Home; wait a moment.` }));
}

// ---- layout: sidebar, header, centre ------------------------------------------------------------

function renderSidebar() {
  $("#workspace-name").textContent = state.config?.team?.domain ?? "workspace";
  $("#home").classList.toggle("active", state.current === HOME);
  const visible = state.channels.filter(canSee);
  const sig = JSON.stringify([state.user, state.current, visible.map((c) => [c.id, c.name, c.topic, c.members]), [...state.unread]]);
  const list = $("#channel-list");
  if (list.dataset.sig === sig) return;
  list.dataset.sig = sig;
  const chans = visible.filter((c) => !c.is_im).sort((a, b) => a.name.localeCompare(b.name));
  const ims = visible.filter((c) => c.is_im);
  const item = (c) => {
    const unread = state.unread.has(c.id) && c.id !== state.current;
    return el("li", {},
      el("button", {
        type: "button",
        class: `nav-item channel${c.id === state.current ? " active" : ""}${unread ? " unread" : ""}`,
        dataset: { channelId: c.id },
        title: c.topic || null,
        onclick: () => selectChannel(c.id),
      },
      c.is_im ? el("span", { class: "presence", "aria-hidden": "true", text: "●" }) : null,
      channelLabel(c),
      c.is_im && (c.members ?? []).some(isBot) ? el("span", { class: "app-tag", text: "APP" }) : null,
      c.is_private && !c.is_im ? el("span", { class: "lock", text: " 🔒" }) : null,
      unread ? el("span", { class: "unread-dot", "aria-label": "unread" }) : null));
  };
  list.replaceChildren(
    el("h3", { text: "Channels" }), el("ul", {}, chans.map(item)),
    el("h3", { text: "Direct messages" }),
    ims.length ? el("ul", {}, ims.map(item)) : el("p", { class: "hint", text: `None yet: ${bot().name} opens one when it writes to you.` }));
}

function renderHeader() {
  const name = $("#channel-name");
  const topic = $("#channel-topic");
  const composer = $("#composer");
  if (state.current === HOME) {
    name.textContent = "🏠 Home";
    topic.textContent = `${bot().name}'s App Home: your incidents, approvals waiting for you, error budgets`;
    return;
  }
  const ch = channelById(state.current);
  name.textContent = ch ? channelLabel(ch) : state.current ?? "";
  topic.textContent = ch ? ch.topic || (ch.is_im ? "Direct messages with the bot" : "") : "This channel does not exist (yet).";
  const b = bot().name;
  composer.placeholder = `Message ${channelLabel(ch) || "the channel"} — try /incident help or @${b} The payments API is timing out`;
}

function renderCentre() {
  const home = state.current === HOME;
  $("#messages").hidden = home;
  $("#composer-form").hidden = home;
  $("#composer-hint").hidden = home;
  $("#home-view").hidden = !home;
  if (home) renderHome();
  else renderMessages();
}

function renderAll() {
  renderSidebar();
  renderHeader();
  renderCentre();
  renderThread();
  renderModal();
}

function selectChannel(id, { auto = false } = {}) {
  if (!auto) state.chosen = true;
  if (state.current !== id) {
    state.current = id;
    state.thread = null;
    state.messages = [];
    state.ephemerals = [];
    state.loadedFor = null;
    $("#messages").replaceChildren(el("div", { class: "hint loading", text: "Loading…" }));
  }
  state.unread.delete(id);
  const ch = channelById(id);
  if (ch) state.seen.set(id, ch.message_count);
  renderAll();
  if (!auto) {
    scheduleRefresh(0);
    $("#composer").focus();
  }
}

// ---- loading state ------------------------------------------------------------------------------

/** Take the new channel list: mark what changed as unread, and follow a new incident channel if nothing was chosen. */
function updateChannels(list) {
  const first = state.known === null;
  const fresh = [];
  for (const c of list) {
    const isNew = !first && !state.known.has(c.id);
    if (isNew) fresh.push(c);
    if (first || c.id === state.current) state.seen.set(c.id, c.message_count);
    else if (isNew || c.message_count > (state.seen.get(c.id) ?? 0)) state.unread.add(c.id);
  }
  state.known = new Set(list.map((c) => c.id));
  state.channels = list;
  const incident = fresh.find((c) => c.name?.startsWith("inc-") && canSee(c));
  if (incident && !state.chosen && state.current !== incident.id) {
    selectChannel(incident.id, { auto: true });
    notice(`New incident channel #${incident.name}: switched to it.`);
  }
}

async function refreshOnce() {
  const [chs, vs] = await Promise.all([api("GET", "/slack/channels"), api("GET", "/slack/views")]);
  updateChannels(chs.channels ?? []);
  state.views = vs.views ?? [];
  const channel = state.current;
  const user = state.user;
  if (channel && channel !== HOME && channelById(channel)) {
    const [msgs, eph] = await Promise.all([
      api("GET", `/slack/channels/${encodeURIComponent(channel)}/messages`),
      api("GET", `/slack/ephemerals?user=${encodeURIComponent(user)}&channel=${encodeURIComponent(channel)}`),
    ]);
    if (state.current === channel && state.user === user) {
      state.messages = msgs.messages ?? [];
      state.ephemerals = eph.ephemerals ?? [];
      state.loadedFor = channel;
      const ch = channelById(channel);
      if (ch) state.seen.set(channel, ch.message_count);
    }
  } else if (channel !== HOME) {
    state.messages = [];
    state.ephemerals = [];
    state.loadedFor = channel;
  }
  renderAll();
}

let refreshing = null;
let refreshAgain = false;

/** Bring everything shown up to date; calls while one runs are folded into one more run. */
function refresh() {
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    try {
      do {
        refreshAgain = false;
        try {
          await refreshOnce();
        } catch (err) {
          showError(err);
        }
      } while (refreshAgain);
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

let refreshTimer = null;
function scheduleRefresh(delay = REFRESH_DEBOUNCE_MS) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, delay);
}

/** The sandbox's change feed, long-polled forever: any change refreshes what is shown. */
async function feedLoop() {
  for (;;) {
    try {
      const res = await fetch(`${API}/feed?after=${state.lastSeq}&wait=${FEED_WAIT_S}`);
      if (!res.ok) throw new Error(`feed: HTTP ${res.status}`);
      const data = await res.json();
      setLive(true);
      const last = Number(data.last_seq ?? state.lastSeq);
      if ((data.entries ?? []).length || last < state.lastSeq) scheduleRefresh();
      state.lastSeq = last;
    } catch (err) {
      setLive(false);
      await sleep(1000);
    }
  }
}

// ---- the scenario panel -------------------------------------------------------------------------

async function loadConfig() {
  state.config = await api("GET", "/playground");
}

function renderUserSelect() {
  const select = $("#user-select");
  const people = (state.config.users ?? []).filter((u) => !isBot(u.id));
  select.replaceChildren(...people.map((u) => el("option", { value: u.id, text: u.real_name ? `${u.real_name} (@${u.name})` : `@${u.name}` })));
  select.value = state.user;
}

function renderPageForm() {
  const c = state.config;
  const sc = c.scenario ?? {};
  const opsgenie = sc.pager === "opsgenie";
  $("#scenario-title").textContent = sc.title || sc.name || "";
  $("#scenario-description").textContent = sc.description || "";
  const meta = [sc.name ? `scenario ${sc.name}` : null, opsgenie ? "pager: OpsGenie" : "pager: PagerDuty",
    sc.speed ? `the clock runs ${sc.speed}× faster than real time` : null].filter(Boolean);
  $("#scenario-meta").textContent = meta.join(" · ");

  const service = $("#page-service");
  const chosen = service.value;
  service.replaceChildren(...(c.services ?? []).map((s) => el("option", { value: s, text: s })));
  if ((c.services ?? []).includes(chosen)) service.value = chosen;
  $("#page-urgency-label").hidden = opsgenie;
  $("#page-priority-label").hidden = !opsgenie;
  $("#page-submit").textContent = opsgenie ? "Page from OpsGenie" : "Page from PagerDuty";
  $("#page-hint").textContent = `Raise a page as ${opsgenie ? "OpsGenie" : "PagerDuty"} would; the bot answers it in ` +
    `Slack. sre-agent runs with one pager (SRE_PAGER): start the playground with ` +
    `--pager ${opsgenie ? "pagerduty" : "opsgenie"} to page from ${opsgenie ? "PagerDuty" : "OpsGenie"}.`;

  const presets = c.pages ?? [];
  $("#presets-box").hidden = presets.length === 0;
  $("#presets").replaceChildren(...presets.map((p) => el("button", {
    type: "button", class: "preset", title: "Fill the form with this page",
    onclick: () => fillPageForm(p),
  }, el("span", { class: "preset-title", text: p.title ?? "" }),
  el("span", { class: "preset-meta", text: [p.service, opsgenie ? p.priority : p.urgency].filter(Boolean).join(" · ") }))));
}

function fillPageForm(p) {
  const service = $("#page-service");
  if (p.service && ![...service.options].some((o) => o.value === p.service)) service.append(el("option", { value: p.service, text: p.service }));
  if (p.service) service.value = p.service;
  $("#page-title").value = p.title ?? "";
  if (p.urgency) $("#page-urgency").value = p.urgency;
  if (p.priority) $("#page-priority").value = p.priority;
  $("#page-submit").focus();
}

async function submitPage(ev) {
  ev.preventDefault();
  const opsgenie = state.config?.scenario?.pager === "opsgenie";
  const body = { service: $("#page-service").value, title: $("#page-title").value.trim() };
  if (!body.service) return showError("Choose a service to page.");
  if (!body.title) return showError("Give the page a title (what the alert says), e.g. “High error rate”.");
  if (opsgenie) body.priority = $("#page-priority").value;
  else body.urgency = $("#page-urgency").value;
  const btn = $("#page-submit");
  btn.disabled = true;
  try {
    await api("POST", "/playground/page", body);
    notice(`Paged ${body.service}: “${body.title}”. ${bot().name} will open an incident channel; watch the channel list.`);
  } catch (err) {
    showError(err);
  } finally {
    btn.disabled = false;
  }
}

const signalKey = (agent, s) => `${agent}|${s.service}|${s.when}`;

function renderSignals() {
  // keep what someone is still editing
  const editing = new Map();
  for (const t of document.querySelectorAll("#signals textarea")) {
    if (t.value !== t.dataset.original) editing.set(t.dataset.key, t.value);
  }
  const agents = state.config.agents ?? [];
  $("#signals-box").hidden = agents.length === 0;
  $("#signals").replaceChildren(...agents.map((a) => el("div", { class: "agent", dataset: { agent: a.name } },
    el("div", { class: "agent-head" }, el("strong", { text: a.name }), el("span", { class: "role", text: a.role ?? "" })),
    (a.signals ?? []).length ? null : el("p", { class: "hint", text: "No signals: it answers that it knows nothing." }),
    (a.signals ?? []).map((s) => renderSignal(a, s, editing)))));
}

function renderSignal(agent, s, editing) {
  const key = signalKey(agent.name, s);
  const area = el("textarea", { class: "signal-text", rows: 3, "aria-label": `${agent.name} on ${s.service}`, dataset: { key, original: s.text ?? "" } });
  area.value = editing.get(key) ?? s.text ?? "";
  // the figures the agent reports with its words: the bot reads these before the text, so they are editable too
  const dataKey = `${key}:data`;
  const shown = s.data ? JSON.stringify(s.data) : "";
  const figures = el("textarea", { class: "signal-data", rows: 2, spellcheck: "false",
    "aria-label": `${agent.name}'s figures on ${s.service} (JSON)`, title: "The figures reported with the words (JSON; empty: none)",
    dataset: { key: dataKey, original: shown } });
  figures.value = editing.get(dataKey) ?? shown;
  const button = el("button", { type: "button", class: "btn signal-change", text: "Change" });
  button.addEventListener("click", () => changeSignal(agent.name, s, area, figures, button));
  return el("div", { class: "signal", dataset: { agent: agent.name, service: s.service, when: s.when } },
    el("div", { class: "signal-head" },
      el("span", { class: "service", text: s.service }),
      el("span", { class: `when ${s.when}`, text: s.when === "after_change" ? "after the fix" : "now" })),
    area,
    figures,
    el("div", { class: "signal-actions" }, button));
}

async function changeSignal(agent, s, area, figures, button) {
  let data = null;
  if (figures.value.trim()) {
    try {
      data = JSON.parse(figures.value);
    } catch (err) {
      showError(new Error(`${agent}'s figures are not JSON: ${err.message}`));
      return;
    }
  }
  button.disabled = true;
  try {
    await api("POST", "/playground/signal", { agent, service: s.service, when: s.when, text: area.value, data });
    area.dataset.original = area.value; // saved: no longer an edit in progress
    figures.dataset.original = figures.value;
    await loadConfig();
    renderSignals();
    notice(`${agent} will now report this for ${s.service} (${s.when === "after_change" ? "after the fix" : "now"}).`);
  } catch (err) {
    showError(err);
  } finally {
    button.disabled = false;
  }
}

// ---- start --------------------------------------------------------------------------------------

async function switchUser(id) {
  state.user = id;
  try {
    sessionStorage.setItem("playground.user", id);
  } catch (e) {
    // storage may be unavailable; the choice then lasts until reload
  }
  state.listSig = state.threadSig = "";
  const ch = channelById(state.current);
  if (ch && !canSee(ch)) selectChannel(state.config.incidents_channel, { auto: true });
  renderAll();
  if (state.current === HOME) await announceHomeOpened();
  else await refresh();
}

function bindStatic() {
  $("#user-select").addEventListener("change", (ev) => switchUser(ev.target.value));
  $("#home").addEventListener("click", openHome);
  $("#page-form").addEventListener("submit", submitPage);
  bindComposer($("#composer"), $("#composer-form"), () => null);
  // channel references inside messages (<#C123>) switch channel
  document.addEventListener("click", (ev) => {
    const link = ev.target.closest?.("a[data-goto]");
    if (!link) return;
    ev.preventDefault();
    const ch = channelById(link.dataset.goto);
    if (ch && canSee(ch)) selectChannel(ch.id);
  });
}

async function start() {
  bindStatic();
  for (;;) {
    try {
      await loadConfig();
      break;
    } catch (err) {
      showError(err);
      await sleep(2000);
    }
  }
  const users = (state.config.users ?? []).filter((u) => !isBot(u.id));
  let saved = null;
  try {
    saved = sessionStorage.getItem("playground.user");
  } catch (e) {
    saved = null;
  }
  state.user = users.some((u) => u.id === saved) ? saved : state.config.default_user ?? users[0]?.id ?? null;
  state.current = state.config.incidents_channel ?? null;
  document.title = `sre-agent playground · ${state.config.scenario?.title || state.config.scenario?.name || ""}`;
  renderUserSelect();
  renderPageForm();
  renderSignals();
  await refresh();
  feedLoop();
}

start();
