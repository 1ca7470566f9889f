// The sandbox page: shows the fake Slack workspace as a Slack channel and sends what you type
// to the bot the way Slack would (the server signs it). No build step, no framework.
// Everything from the workspace is put on the page with textContent / DOM nodes, never as HTML.
"use strict";

const ME = "U0SANDBOX";
const HINTS = ["/run-report help", "/run-report ping", "/run-report sales-by-region", "/run-report schedule list"];
const EMOJI = {
  white_check_mark: "✅", x: "❌", warning: "⚠️", no_entry_sign: "🚫", no_entry: "⛔",
  inbox_tray: "📥", hourglass_flowing_sand: "⏳", hourglass: "⌛", bar_chart: "📊",
  paperclip: "📎", table_tennis_paddle_and_ball: "🏓", calendar: "📅", wastebasket: "🗑️",
  double_vertical_bar: "⏸️", arrow_forward: "▶️", clock1: "🕐", alarm_clock: "⏰",
  memo: "📝", mag: "🔍", tada: "🎉", thumbsup: "👍", "+1": "👍", eyes: "👀",
  information_source: "ℹ️", heavy_check_mark: "✔️", repeat: "🔁", stopwatch: "⏱️",
  chart_with_upwards_trend: "📈", page_facing_up: "📄", robot_face: "🤖", wave: "👋",
};

// pane: "channel" (view.channel's messages) or "home" (the app's Home tab). openMenu: the key of
// the overflow / shortcut / channel menu that is open, so a re-render keeps it open.
const view = {
  data: null, channel: "C0SANDBOX", pane: "channel", collapsed: new Set(), images: new Map(),
  history: [], historyAt: -1, openMenu: null, modalKey: null,
};

// A permalink, /archives/<channel>/p<ts without its dot>[?thread_ts=<parent's ts>], opens the page
// at that channel with that message in view, marked, and its thread open, as Slack does.
function permalinkTarget(location) {
  const m = location.pathname.match(/^\/archives\/([A-Z0-9]+)(?:\/p(\d{7,}))?\/?$/);
  if (!m) return null;
  const ts = m[2] ? `${m[2].slice(0, -6)}.${m[2].slice(-6)}` : null;
  return { channel: m[1], ts, threadTs: new URLSearchParams(location.search).get("thread_ts"), shown: false };
}
view.target = permalinkTarget(window.location);
if (view.target) view.channel = view.target.channel;

// ------------------------------------------------------------------ DOM helpers

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function unescapeSlack(text) {
  // Slack escapes exactly these three in message text.
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

// Without an emoji font every glyph is the same blank box: then shortcodes stay `:name:` text,
// as Slack shows an emoji it does not know, so the message still says what it means.
const EMOJI_FONT = hasEmojiFont();

function hasEmojiFont() {
  try {
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 24;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    if (!ctx) return true;
    ctx.font = "20px sans-serif";
    ctx.textBaseline = "top";
    ctx.fillText("\u{1F3D3}", 0, 0); // an emoji font draws it in colour; a box is black
    const data = ctx.getImageData(0, 0, 24, 24).data;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] && (data[i] !== data[i + 1] || data[i + 1] !== data[i + 2])) return true;
    }
    return false;
  } catch (err) {
    return true;
  }
}

function emojify(text) {
  if (!EMOJI_FONT) return text;
  return text.replace(/:([a-z0-9_+-]+):/g, (whole, name) => EMOJI[name] || whole);
}

function emojiGlyph(name, unicode) {
  if (!EMOJI_FONT) return `:${name}:`;
  return unicode ? String.fromCodePoint(...unicode.split("-").map((u) => parseInt(u, 16))) : emojify(`:${name}:`);
}

function userName(id) {
  const users = (view.data && view.data.users) || {};
  return users[id] || id;
}

function channelName(id) {
  const channels = (view.data && view.data.channels) || [];
  const found = channels.find((c) => c.id === id);
  return found ? found.name : id.toLowerCase();
}

// ------------------------------------------------------------------ mrkdwn

// One inline token at a time: `code`, <entity>, *bold*, _italic_, ~strike~. Bold/italic/strike
// need a non-word character (or the edge) around them, as in Slack, so snake_case stays text.
const INLINE = /`([^`\n]+)`|<([^<>\n]+)>|(?<![\w*])\*(?!\s)([^*\n]+?)\*(?![\w*])|(?<![\w_])_(?!\s)([^_\n]+?)_(?![\w_])|(?<![\w~])~(?!\s)([^~\n]+?)~(?![\w~])/g;

function appendText(parent, text) {
  if (text) parent.appendChild(document.createTextNode(emojify(unescapeSlack(text))));
}

function entity(raw) {
  const [target, label] = raw.split("|", 2).concat([undefined]).slice(0, 2);
  if (target.startsWith("@")) {
    return el("span", "mention", "@" + (label || userName(target.slice(1))));
  }
  if (target.startsWith("#")) {
    return el("span", "mention", "#" + (label || channelName(target.slice(1))));
  }
  if (target.startsWith("!")) {
    const special = target.slice(1);
    if (special.startsWith("subteam^")) return el("span", "mention", label || "@group");
    if (special.startsWith("date^")) return slackDate(special, label);
    return el("span", "mention", "@" + special);
  }
  const url = unescapeSlack(target);
  if (/^(https?:|mailto:)/i.test(url)) {
    const a = el("a", null, unescapeSlack(label || url));
    a.href = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    return a;
  }
  return document.createTextNode("<" + unescapeSlack(raw) + ">");
}

// <!date^1700000000^{date_short_pretty} {time}^optional_link|fallback>: the instant in this
// browser's zone and clock, as Slack shows it in each reader's; a token it does not know stays.
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

function ordinal(n) {
  const tens = n % 100;
  if (tens >= 11 && tens <= 13) return `${n}th`;
  return n + ({ 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th");
}

function relativeDay(when) {
  const day = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((day(when) - day(new Date())) / 86400000);
  return { 0: "today", "-1": "yesterday", 1: "tomorrow" }[days];
}

function dateToken(when, token) {
  const month = MONTHS[when.getMonth()];
  const bases = {
    date_num: `${when.getFullYear()}-${String(when.getMonth() + 1).padStart(2, "0")}-${String(when.getDate()).padStart(2, "0")}`,
    date: `${month} ${ordinal(when.getDate())}, ${when.getFullYear()}`,
    date_short: `${month.slice(0, 3)} ${when.getDate()}, ${when.getFullYear()}`,
    date_long: `${WEEKDAYS[when.getDay()]}, ${month} ${ordinal(when.getDate())}, ${when.getFullYear()}`,
    time: when.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" }),
    time_secs: when.toLocaleTimeString([], { hour: "numeric", minute: "2-digit", second: "2-digit" }),
  };
  const pretty = token.match(/^(date|date_short|date_long)_pretty$/);
  if (pretty) return relativeDay(when) || bases[pretty[1]];
  return bases[token];
}

function slackDate(special, label) {
  const [, ts, tokens, link] = special.split("^");
  const when = new Date(Number(ts) * 1000);
  const fallback = unescapeSlack(label || "");
  if (!/^\d+$/.test(ts || "") || tokens === undefined) return document.createTextNode(fallback || "<!" + unescapeSlack(special) + ">");
  const text = unescapeSlack(tokens).replace(/\{(\w+)\}/g, (whole, token) => dateToken(when, token) ?? whole);
  const url = link ? unescapeSlack(link) : "";
  const node = /^https?:/i.test(url) ? el("a", "date", text) : el("span", "date", text);
  if (node.tagName === "A") {
    node.href = url;
    node.target = "_blank";
    node.rel = "noopener noreferrer";
  }
  node.title = fallback || when.toString();
  return node;
}

function inline(parent, text) {
  let last = 0;
  INLINE.lastIndex = 0;
  for (let m = INLINE.exec(text); m; m = INLINE.exec(text)) {
    appendText(parent, text.slice(last, m.index));
    last = INLINE.lastIndex;
    if (m[1] !== undefined) parent.appendChild(el("code", null, unescapeSlack(m[1])));
    else if (m[2] !== undefined) parent.appendChild(entity(m[2]));
    else {
      const tag = m[3] !== undefined ? "b" : m[4] !== undefined ? "i" : "s";
      const node = el(tag);
      const inner = m[3] ?? m[4] ?? m[5];
      const saved = INLINE.lastIndex;
      inline(node, inner);
      INLINE.lastIndex = saved;
      parent.appendChild(node);
    }
  }
  appendText(parent, text.slice(last));
}

function mrkdwn(text, className) {
  const root = el("div", className || "mrkdwn");
  const parts = String(text || "").split(/```/);
  parts.forEach((part, i) => {
    if (i % 2 === 1 && i < parts.length - 1) {
      root.appendChild(el("pre", null, unescapeSlack(part.replace(/^\n/, ""))));
      return;
    }
    if (i % 2 === 1) part = "```" + part; // an unclosed fence is text
    // Lines starting with "&gt; " (an escaped "> ") are quotes.
    const lines = part.split("\n");
    let buffer = [];
    const flush = () => {
      if (buffer.length) {
        const span = el("span");
        inline(span, buffer.join("\n"));
        root.appendChild(span);
        buffer = [];
      }
    };
    lines.forEach((line, n) => {
      const quote = line.match(/^&gt;\s?(.*)$/);
      if (quote) {
        flush();
        const q = el("blockquote");
        inline(q, quote[1]);
        root.appendChild(q);
      } else {
        buffer.push(line + (n < lines.length - 1 ? "" : ""));
      }
    });
    flush();
  });
  return root;
}

function textObject(obj, className) {
  if (!obj) return el("span");
  if (obj.type === "mrkdwn") return mrkdwn(obj.text, className);
  return el("div", className || "plain", emojify(obj.text || ""));
}

// ------------------------------------------------------------------ Block Kit

function renderBlocks(blocks, ctx) {
  const root = el("div", "blocks");
  for (const block of blocks) {
    const node = renderBlock(block, ctx);
    node.classList.add("block");
    if (block.block_id) node.dataset.blockId = block.block_id;
    root.appendChild(node);
  }
  return root;
}

function renderBlock(block, ctx) {
  switch (block.type) {
    case "section": return sectionBlock(block, ctx);
    case "header": return el("div", "block-header", emojify((block.text || {}).text || ""));
    case "divider": return el("hr", "block-divider");
    case "context": return contextBlock(block);
    case "actions": return actionsBlock(block, ctx);
    case "image": return imageBlock(block);
    case "table": return tableBlock(block);
    case "rich_text": return richText(block);
    case "input": return inputBlock(block, ctx);
    default: return el("div", "unsupported", `[${block.type} block]`);
  }
}

function sectionBlock(block, ctx) {
  const node = el("div", "section");
  const body = el("div", "section-body");
  if (block.text) body.appendChild(textObject(block.text));
  if (block.fields && block.fields.length) {
    const fields = el("div", "fields");
    block.fields.forEach((f) => fields.appendChild(textObject(f)));
    body.appendChild(fields);
  }
  node.appendChild(body);
  if (block.accessory) node.appendChild(element(block.accessory, block, ctx));
  return node;
}

function contextBlock(block) {
  const node = el("div", "block-context");
  for (const item of block.elements || []) {
    if (item.type === "image") {
      const img = el("img");
      img.src = item.image_url;
      img.alt = item.alt_text || "";
      node.appendChild(img);
    } else {
      node.appendChild(textObject(item, "mrkdwn"));
    }
  }
  return node;
}

function actionsBlock(block, ctx) {
  const node = el("div", "block-actions");
  (block.elements || []).forEach((item) => node.appendChild(element(item, block, ctx)));
  return node;
}

function element(item, block, ctx) {
  if (item.type === "overflow") return overflowMenu(item, block, ctx);
  if (ctx.viewId && STATEFUL.has(item.type)) {
    // A select (or date, time, ...) outside an input block sends block_actions when it changes.
    const control = formControl(item, block, ctx);
    control.addEventListener("change", () => viewAction(ctx, block, item, readControl(control)));
    return control;
  }
  if (item.type === "button") {
    const label = (item.text || {}).text || "";
    const button = el("button", "bk-button" + (item.style ? " " + item.style : ""), emojify(label));
    button.type = "button";
    if (item.url) {
      button.addEventListener("click", () => window.open(item.url, "_blank", "noopener"));
      return button;
    }
    button.addEventListener("click", () => click(button, item, block, ctx, label));
    return button;
  }
  if (item.type === "image") {
    const img = el("img");
    img.src = item.image_url;
    img.alt = item.alt_text || "";
    img.style.maxWidth = "90px";
    return img;
  }
  const placeholder = (item.placeholder || {}).text || item.type;
  return el("span", "bk-element", placeholder);
}

async function click(button, item, block, ctx, label) {
  if (item.confirm && !(await confirmDialog(item.confirm))) return;
  button.disabled = true;
  try {
    if (ctx.viewId) {
      await viewAction(ctx, block, item, item.value || "");
      return;
    }
    const answer = await post("/sandbox/action", {
      channel: ctx.channel, message_ts: ctx.ts, ephemeral: ctx.ephemeral, user: ME,
      action_id: item.action_id, block_id: block.block_id, value: item.value, label,
    });
    if (!answer.ok) showError(answer.error ? `The bot did not take the click: ${answer.error}` : "The bot did not take the click.");
  } finally {
    button.disabled = false;
  }
}

// A Block Kit confirm object as Slack shows it: a dialog over the channel with its title, its
// text (mrkdwn or plain), and its deny and confirm buttons (red for style "danger").
function confirmDialog(c) {
  return new Promise((resolve) => {
    const backdrop = el("div", "modal-backdrop");
    const dialog = el("div", "modal");
    dialog.setAttribute("role", "dialog");
    dialog.setAttribute("aria-modal", "true");
    const title = el("div", "modal-title", emojify((c.title || {}).text || "Are you sure?"));
    title.id = "modal-title";
    dialog.setAttribute("aria-labelledby", title.id);
    dialog.appendChild(title);
    if (c.text) dialog.appendChild(textObject(c.text, "modal-text"));
    const buttons = el("div", "modal-buttons");
    const deny = el("button", "bk-button", emojify((c.deny || {}).text || "Cancel"));
    const yes = el("button", "bk-button " + (c.style === "danger" ? "danger-confirm" : "primary"), emojify((c.confirm || {}).text || "Yes"));
    deny.type = yes.type = "button";
    buttons.append(deny, yes);
    dialog.appendChild(buttons);
    backdrop.appendChild(dialog);
    const onKey = (event) => { if (event.key === "Escape") close(false); };
    function close(answer) {
      document.removeEventListener("keydown", onKey, true);
      backdrop.remove();
      resolve(answer);
    }
    deny.addEventListener("click", () => close(false));
    yes.addEventListener("click", () => close(true));
    backdrop.addEventListener("click", (event) => { if (event.target === backdrop) close(false); });
    document.addEventListener("keydown", onKey, true);
    document.body.appendChild(backdrop);
    yes.focus();
  });
}

// ------------------------------------------------------------------ overflow menus

// An overflow menu as Slack draws it: a small "⋯" that opens its options; choosing one sends
// block_actions with the option (after the element's confirm dialog, if it has one).
function overflowMenu(item, block, ctx) {
  const wrapper = el("span", "overflow");
  const key = `${ctx.viewId || ctx.channel + "/" + ctx.ts}|${block.block_id || ""}|${item.action_id || ""}`;
  const button = el("button", "bk-button bk-overflow", "⋯");
  button.type = "button";
  button.setAttribute("aria-label", "More actions");
  button.setAttribute("aria-haspopup", "menu");
  wrapper.appendChild(button);
  const menu = el("div", "menu");
  menu.setAttribute("role", "menu");
  for (const option of item.options || []) {
    const label = (option.text || {}).text || "";
    const entry = el("button", "menu-item", emojify(label));
    entry.type = "button";
    entry.setAttribute("role", "menuitem");
    entry.addEventListener("click", (event) => {
      event.stopPropagation();
      closeMenus();
      chooseOption(item, block, ctx, option);
    });
    menu.appendChild(entry);
  }
  wrapper.appendChild(menu);
  menu.hidden = view.openMenu !== key;
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    const open = view.openMenu === key;
    closeMenus();
    if (!open) { view.openMenu = key; menu.hidden = false; }
  });
  return wrapper;
}

function closeMenus() {
  view.openMenu = null;
  document.querySelectorAll(".menu").forEach((m) => { m.hidden = true; });
}
document.addEventListener("click", closeMenus);

async function chooseOption(item, block, ctx, option) {
  if (option.url && /^https?:/i.test(option.url)) window.open(option.url, "_blank", "noopener");
  if (item.confirm && !(await confirmDialog(item.confirm))) return;
  if (ctx.viewId) {
    await viewAction(ctx, block, item, option.value || "");
    return;
  }
  const answer = await post("/sandbox/action", {
    type: "overflow", channel: ctx.channel, message_ts: ctx.ts, ephemeral: ctx.ephemeral, user: ME,
    action_id: item.action_id, block_id: block.block_id, value: option.value,
    label: (option.text || {}).text || "",
  });
  if (!answer.ok) showError(answer.error ? `The bot did not take the choice: ${answer.error}` : "The bot did not take the choice.");
}

// ------------------------------------------------------------------ views: modals and Home

// Elements whose value is part of a view's state; on the page each is a real form control.
const STATEFUL = new Set([
  "plain_text_input", "number_input", "email_text_input", "url_text_input", "datepicker",
  "timepicker", "static_select", "multi_static_select", "radio_buttons", "checkboxes",
  "conversations_select", "channels_select", "users_select",
]);

// What the view's state holds for this element (the user's last entry), as a plain value.
function stateRaw(ctx, block, item) {
  const values = ((ctx.state || {}).values || {})[block.block_id] || {};
  const entry = values[item.action_id];
  if (!entry) return undefined;
  for (const key of ["value", "selected_date", "selected_time", "selected_conversation", "selected_channel", "selected_user"]) {
    if (key in entry) return entry[key];
  }
  if ("selected_option" in entry) return entry.selected_option ? entry.selected_option.value : null;
  if ("selected_options" in entry) return (entry.selected_options || []).map((o) => o.value);
  return undefined;
}

function initialRaw(item) {
  switch (item.type) {
    case "datepicker": return item.initial_date;
    case "timepicker": return item.initial_time;
    case "static_select": case "radio_buttons": return item.initial_option ? item.initial_option.value : undefined;
    case "checkboxes": case "multi_static_select": return (item.initial_options || []).map((o) => o.value);
    case "conversations_select": return item.initial_conversation;
    case "channels_select": return item.initial_channel;
    case "users_select": return item.initial_user;
    default: return item.initial_value;
  }
}

function optionList(item) {
  const groups = (item.option_groups || []).map((g) => ({ label: (g.label || {}).text || "", options: g.options || [] }));
  return { options: item.options || [], groups };
}

function optionNode(option, chosen) {
  const node = el("option", null, emojify((option.text || {}).text || ""));
  node.value = option.value || "";
  node.selected = chosen.includes(node.value);
  return node;
}

// One real form control per element type, filled with what the user entered (the view's state)
// or else the element's initial value. data-* attributes say which element it is.
function formControl(item, block, ctx) {
  const entered = stateRaw(ctx, block, item);
  const raw = entered !== undefined ? entered : initialRaw(item);
  const chosen = Array.isArray(raw) ? raw : raw === undefined || raw === null ? [] : [String(raw)];
  const placeholder = (item.placeholder || {}).text || "";
  let control;
  switch (item.type) {
    case "plain_text_input": case "number_input": case "email_text_input": case "url_text_input":
    case "datepicker": case "timepicker": {
      if (item.type === "plain_text_input" && item.multiline) control = el("textarea", "control");
      else {
        control = el("input", "control");
        control.type = {
          number_input: "number", email_text_input: "email", url_text_input: "url",
          datepicker: "date", timepicker: "time",
        }[item.type] || "text";
      }
      if (item.type === "number_input") {
        control.step = item.is_decimal_allowed ? "any" : "1";
        if (item.min_value !== undefined) control.min = item.min_value;
        if (item.max_value !== undefined) control.max = item.max_value;
      }
      if (item.max_length) control.maxLength = item.max_length;
      if (placeholder) control.placeholder = placeholder;
      control.value = chosen.length ? chosen[0] : "";
      break;
    }
    case "static_select": case "multi_static_select": {
      control = el("select", "control");
      control.multiple = item.type === "multi_static_select";
      if (!control.multiple) {
        const none = el("option", null, placeholder || "Select an option");
        none.value = "";
        control.appendChild(none);
      }
      const { options, groups } = optionList(item);
      options.forEach((o) => control.appendChild(optionNode(o, chosen)));
      for (const g of groups) {
        const group = el("optgroup");
        group.label = g.label;
        g.options.forEach((o) => group.appendChild(optionNode(o, chosen)));
        control.appendChild(group);
      }
      break;
    }
    case "conversations_select": case "channels_select": case "users_select": {
      control = el("select", "control");
      const none = el("option", null, placeholder || "Select…");
      none.value = "";
      control.appendChild(none);
      const entries = item.type === "users_select"
        ? Object.entries((view.data && view.data.users) || {}).map(([id, name]) => [id, "@" + name])
        : ((view.data && view.data.conversations) || []).map((c) => [c.id, "#" + c.name]);
      for (const [id, label] of entries) {
        const node = el("option", null, label);
        node.value = id;
        node.selected = chosen.includes(id);
        control.appendChild(node);
      }
      break;
    }
    case "radio_buttons": case "checkboxes": {
      control = el("div", "choices");
      control.setAttribute("role", item.type === "radio_buttons" ? "radiogroup" : "group");
      const name = `choice-${ctx.viewId}-${block.block_id}-${item.action_id}`;
      for (const option of item.options || []) {
        const label = el("label", "choice");
        const box = el("input");
        box.type = item.type === "radio_buttons" ? "radio" : "checkbox";
        box.name = name;
        box.value = option.value || "";
        box.checked = chosen.includes(box.value);
        label.appendChild(box);
        label.appendChild(textObject(option.text, "choice-text"));
        if (option.description) label.appendChild(textObject(option.description, "choice-description"));
        control.appendChild(label);
      }
      break;
    }
    default:
      return el("span", "bk-element", placeholder || item.type);
  }
  control.dataset.blockId = block.block_id || "";
  control.dataset.actionId = item.action_id || "";
  control.dataset.kind = item.type;
  return control;
}

function writeControl(control, raw) {
  const kind = control.dataset.kind;
  const chosen = Array.isArray(raw) ? raw : raw === null || raw === undefined ? [] : [String(raw)];
  if (kind === "checkboxes" || kind === "radio_buttons") {
    control.querySelectorAll("input").forEach((box) => { box.checked = chosen.includes(box.value); });
  } else if (kind === "multi_static_select") {
    [...control.options].forEach((o) => { o.selected = chosen.includes(o.value); });
  } else {
    control.value = chosen.length ? chosen[0] : "";
  }
}

function controlKey(control) {
  return `${control.dataset.blockId}\u0000${control.dataset.actionId}\u0000${control.dataset.kind}`;
}

function readControl(control) {
  const kind = control.dataset.kind;
  if (kind === "checkboxes") return [...control.querySelectorAll("input:checked")].map((b) => b.value);
  if (kind === "radio_buttons") {
    const checked = control.querySelector("input:checked");
    return checked ? checked.value : null;
  }
  if (kind === "multi_static_select") return [...control.selectedOptions].map((o) => o.value);
  return control.value;
}

// What the user entered in the modal's input blocks: {block_id: {action_id: value}}. The
// server turns it into Slack's state.values (sandbox/form_values.py).
function collectForm(root) {
  const values = {};
  if (!root) return values;
  root.querySelectorAll(".input-block [data-action-id]").forEach((control) => {
    const blockId = control.dataset.blockId;
    if (!blockId) return;
    values[blockId] = values[blockId] || {};
    values[blockId][control.dataset.actionId] = readControl(control);
  });
  return values;
}

function inputBlock(block, ctx) {
  const node = el("div", "input-block");
  node.dataset.blockId = block.block_id || "";
  const item = block.element || {};
  const control = formControl(item, block, ctx);
  const label = el("label", "input-label", emojify((block.label || {}).text || ""));
  if (block.optional) label.appendChild(el("span", "optional", " (optional)"));
  const id = `input-${ctx.viewId}-${block.block_id}`;
  if (control.tagName === "INPUT" || control.tagName === "SELECT" || control.tagName === "TEXTAREA") {
    control.id = id;
    label.htmlFor = id;
  } else {
    control.setAttribute("aria-label", (block.label || {}).text || "");
  }
  node.append(label, control);
  if (block.hint) node.appendChild(el("div", "hint", emojify(block.hint.text || "")));
  const error = ((ctx.errors || {})[block.block_id]);
  if (error) {
    node.classList.add("has-error");
    node.appendChild(el("div", "field-error", error));
  }
  if (block.dispatch_action && ctx.viewId) {
    const dispatch = () => viewAction(ctx, block, item, readControl(control));
    control.addEventListener("change", dispatch);
    const on = ((item.dispatch_action_config || {}).trigger_actions_on) || [];
    if (on.includes("on_character_entered")) {
      // Slack sends an action as the person types; here once they pause, so each redraw the
      // app makes does not chase every key.
      let timer = null;
      control.addEventListener("input", () => {
        clearTimeout(timer);
        timer = setTimeout(dispatch, 600);
      });
    }
    if (control.tagName === "INPUT") {
      control.addEventListener("keydown", (event) => {
        if (event.key === "Enter") { event.preventDefault(); control.blur(); }
      });
    }
  }
  return node;
}

// A click, choice or dispatching input inside a view: block_actions from that view, carrying
// what the modal's form holds now (Slack sends the view's current state with every action).
async function viewAction(ctx, block, item, value) {
  const form = ctx.modal ? collectForm(document.getElementById("view-modal")) : undefined;
  const answer = await post("/sandbox/view_action", {
    view_id: ctx.viewId, user: ME, block_id: block.block_id || "", action_id: item.action_id || "",
    value, values: form,
  });
  if (!answer.ok) {
    const text = answer.error ? `The bot did not take the click: ${answer.error}` : "The bot did not take the click.";
    if (ctx.modal) showModalError(text); else showError(text);
  }
  scheduleRefresh();
}

function showModalError(text) {
  const banner = document.querySelector("#view-modal .view-error");
  if (banner) { banner.textContent = text; banner.hidden = !text; }
}

// The top of the user's modal stack as an overlay. Rebuilt only when the view itself changes
// (another view, a new hash, new errors), so a refresh for a new message leaves what the user
// is typing alone; on a rebuild the inputs show the view's state (what the user entered).
function renderModal() {
  const stack = (view.data && view.data.modals) || [];
  const top = stack[stack.length - 1];
  const key = top ? `${top.id}|${top.hash}|${JSON.stringify(top.errors || {})}|${stack.length}` : null;
  if (key === view.modalKey) return;
  view.modalKey = key;
  const old = document.getElementById("view-modal");
  // The same view redrawn (views.update, errors): like Slack, an input whose block_id and
  // action_id stay keeps what the person entered, and the field they were in keeps the focus.
  const kept = new Map();
  let focused = null;
  if (old && top && old.querySelector("form").dataset.viewId === top.id) {
    old.querySelectorAll("[data-action-id]").forEach((control) => kept.set(controlKey(control), readControl(control)));
    const active = document.activeElement && document.activeElement.closest("[data-action-id]");
    if (active && old.contains(active)) focused = controlKey(active);
  }
  if (old) old.remove();
  if (!top) return;
  const ctx = { viewId: top.id, modal: true, state: top.state, errors: top.errors || {} };
  const backdrop = el("div", "modal-backdrop");
  backdrop.id = "view-modal";
  const dialog = el("form", "modal view-dialog");
  dialog.noValidate = true;
  dialog.setAttribute("role", "dialog");
  dialog.setAttribute("aria-modal", "true");
  dialog.dataset.viewId = top.id;
  const head = el("div", "view-head");
  if (stack.length > 1) {
    const back = el("button", "icon-button", "←");
    back.type = "button";
    back.setAttribute("aria-label", "Back");
    back.addEventListener("click", () => closeView(top.id));
    head.appendChild(back);
  }
  const title = el("div", "modal-title", emojify((top.title || {}).text || ""));
  title.id = "view-title";
  dialog.setAttribute("aria-labelledby", title.id);
  head.appendChild(title);
  const x = el("button", "icon-button close-x", "×");
  x.type = "button";
  x.setAttribute("aria-label", "Close");
  x.addEventListener("click", () => closeView(stack[0].id));
  head.appendChild(x);
  dialog.appendChild(head);
  const banner = el("div", "view-error", (top.errors || {})[""] ? `The app could not take this: ${top.errors[""]}` : "");
  banner.setAttribute("role", "alert");
  banner.hidden = !(top.errors || {})[""];
  dialog.appendChild(banner);
  const body = el("div", "view-body");
  body.appendChild(renderBlocks(top.blocks || [], ctx));
  dialog.appendChild(body);
  const buttons = el("div", "modal-buttons");
  const close = el("button", "bk-button", emojify((top.close || {}).text || "Cancel"));
  close.type = "button";
  close.addEventListener("click", () => closeView(top.id));
  buttons.appendChild(close);
  if (top.submit) {
    const submit = el("button", "bk-button primary", emojify(top.submit.text || "Submit"));
    submit.type = "submit";
    buttons.appendChild(submit);
  }
  dialog.appendChild(buttons);
  dialog.addEventListener("submit", (event) => {
    event.preventDefault();
    if (top.submit) submitView(dialog, top.id);
  });
  backdrop.appendChild(dialog);
  document.body.appendChild(backdrop);
  dialog.querySelectorAll("[data-action-id]").forEach((control) => {
    const key = controlKey(control);
    if (kept.has(key)) writeControl(control, kept.get(key));
    if (key === focused) {
      const target = control.matches("input, select, textarea") ? control : control.querySelector("input");
      if (target) target.focus();
    }
  });
}

async function submitView(dialog, viewId) {
  const submit = dialog.querySelector("button[type=submit]");
  if (submit) submit.disabled = true;
  showModalError("");
  try {
    const answer = await post("/sandbox/view_submit", { view_id: viewId, user: ME, values: collectForm(dialog) });
    if (!answer.ok) showModalError(answer.error ? `The app could not take this: ${answer.error}` : "The app did not answer.");
  } finally {
    if (submit) submit.disabled = false;
    scheduleRefresh();
  }
}

async function closeView(viewId) {
  const answer = await post("/sandbox/view_close", { view_id: viewId, user: ME });
  if (!answer.ok && answer.error) showError(`Closing the form: ${answer.error}`);
  scheduleRefresh();
}

// Opening the Home tab tells the app (app_home_opened), which publishes the Home it wants shown.
async function openHome() {
  const answer = await post("/sandbox/home_opened", { user: ME });
  view.homeNote = answer.ok ? "" : `The app did not hear that the Home tab opened${answer.error ? ": " + answer.error : "."}`;
  scheduleRefresh();
}

function renderHome(list) {
  const home = view.data && view.data.home;
  if (!home) {
    const empty = el("div", "empty", "The app has not published a Home tab for you yet.");
    list.replaceChildren(empty, el("div", "home-note", view.homeNote || ""));
    return;
  }
  const page = el("div", "home");
  page.appendChild(el("div", "home-note", view.homeNote || ""));
  page.appendChild(renderBlocks(home.blocks || [], { viewId: home.id, home: true, state: home.state }));
  list.replaceChildren(page);
}

// ------------------------------------------------------------------ shortcuts, channel menu

function menuButton(key, label, text, entries) {
  const wrapper = el("span", "overflow");
  const button = el("button", "bk-button header-button", text);
  button.type = "button";
  button.setAttribute("aria-label", label);
  button.setAttribute("aria-haspopup", "menu");
  const menu = el("div", "menu");
  menu.setAttribute("role", "menu");
  for (const [name, action] of entries) {
    const entry = el("button", "menu-item", name);
    entry.type = "button";
    entry.setAttribute("role", "menuitem");
    entry.addEventListener("click", (event) => { event.stopPropagation(); closeMenus(); action(); });
    menu.appendChild(entry);
  }
  menu.hidden = view.openMenu !== key;
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    const open = view.openMenu === key;
    closeMenus();
    if (!open) { view.openMenu = key; menu.hidden = false; }
  });
  wrapper.append(button, menu);
  return wrapper;
}

function renderShortcuts() {
  const slot = document.getElementById("shortcuts");
  const shortcuts = (view.data && view.data.shortcuts) || [];
  slot.replaceChildren(menuButton("shortcuts", "Shortcuts", "⚡", shortcuts.map((s) => [s.name, () => runShortcut(s)])));
}

async function runShortcut(shortcut) {
  showError("");
  const answer = await post("/sandbox/shortcut", { callback_id: shortcut.callback_id, user: ME });
  if (!answer.ok) showError(answer.error ? `The app did not take the shortcut: ${answer.error}` : "The app did not take the shortcut.");
  scheduleRefresh();
}

function renderChannelMenu(channel) {
  const slot = document.getElementById("channel-menu");
  const status = document.getElementById("channel-status");
  const notes = [];
  if (channel.archived) notes.push("archived");
  if (channel.bot_member === false) notes.push("reportbot removed");
  status.textContent = notes.join(" · ");
  slot.replaceChildren(menuButton("channel", "Channel menu", "⋮", [
    ["Archive channel", () => channelEvent(channel, "archive", `Archive #${channel.name}?`, "Archive")],
    ["Remove the bot", () => channelEvent(channel, "remove_bot", `Remove reportbot from #${channel.name}?`, "Remove")],
  ]));
}

async function channelEvent(channel, event, question, yes) {
  const sure = await confirmDialog({
    title: { type: "plain_text", text: question },
    text: { type: "plain_text", text: "Slack tells the app (an Events API event); the app's messages to the channel fail from then on." },
    confirm: { type: "plain_text", text: yes }, deny: { type: "plain_text", text: "Cancel" }, style: "danger",
  });
  if (!sure) return;
  const answer = await post("/sandbox/channel", { channel: channel.id, event, user: ME });
  if (!answer.ok) showError(answer.error ? `The app did not take the event: ${answer.error}` : "The app did not take the event.");
  scheduleRefresh();
}

function imageBlock(block) {
  const node = el("figure", "block-image");
  node.style.margin = "0";
  if (block.title) node.appendChild(el("div", "image-title", block.title.text));
  const img = el("img");
  img.src = block.image_url || ((block.slack_file || {}).url) || "";
  img.alt = block.alt_text || "";
  node.appendChild(img);
  return node;
}

function cellText(cell) {
  if (!cell) return el("span");
  if (cell.type === "raw_text") return document.createTextNode(cell.text || "");
  if (cell.type === "rich_text") return richText(cell);
  return document.createTextNode(cell.text || "");
}

function tableBlock(block) {
  const table = el("table", "bk-table");
  const settings = block.column_settings || [];
  (block.rows || []).forEach((row, r) => {
    const tr = el("tr");
    row.forEach((cell, c) => {
      const td = el(r === 0 ? "th" : "td");
      const setting = settings[c] || {};
      if (setting.align && setting.align !== "left") td.classList.add(setting.align);
      if (setting.is_wrapped === false) td.classList.add("nowrap");
      td.appendChild(cellText(cell));
      tr.appendChild(td);
    });
    table.appendChild(tr);
  });
  return table;
}

function richText(block) {
  const root = el("div", "mrkdwn");
  for (const part of block.elements || []) {
    if (part.type === "rich_text_preformatted") {
      const pre = el("pre");
      richElements(pre, part.elements);
      root.appendChild(pre);
    } else if (part.type === "rich_text_quote") {
      const q = el("blockquote");
      richElements(q, part.elements);
      root.appendChild(q);
    } else if (part.type === "rich_text_list") {
      const list = el(part.style === "ordered" ? "ol" : "ul");
      for (const item of part.elements || []) {
        const li = el("li");
        richElements(li, item.elements);
        list.appendChild(li);
      }
      root.appendChild(list);
    } else {
      const span = el("span");
      richElements(span, part.elements);
      root.appendChild(span);
    }
  }
  return root;
}

function richElements(parent, elements) {
  for (const item of elements || []) {
    let node;
    if (item.type === "text") node = document.createTextNode(item.text || "");
    else if (item.type === "link") {
      node = el("a", null, item.text || item.url);
      if (/^(https?:|mailto:)/i.test(item.url || "")) node.href = item.url;
      node.rel = "noopener noreferrer";
    } else if (item.type === "user") node = el("span", "mention", "@" + userName(item.user_id));
    else if (item.type === "channel") node = el("span", "mention", "#" + channelName(item.channel_id));
    else if (item.type === "usergroup") node = el("span", "mention", "@" + item.usergroup_id);
    else if (item.type === "broadcast") node = el("span", "mention", "@" + item.range);
    else if (item.type === "emoji") node = document.createTextNode(emojiGlyph(item.name, item.unicode));
    else node = document.createTextNode(item.text || "");
    const style = item.style || {};
    if (style.code) node = wrap("code", node);
    if (style.bold) node = wrap("b", node);
    if (style.italic) node = wrap("i", node);
    if (style.strike) node = wrap("s", node);
    parent.appendChild(node);
  }
}

function wrap(tag, node) {
  const outer = el(tag);
  outer.appendChild(node);
  return outer;
}

// ------------------------------------------------------------------ messages

function fileView(file) {
  if (file.mimetype === "image/png" || file.mimetype === "image/jpeg" || file.mimetype === "image/gif") {
    // One <img> per file for the page's life, so a re-render does not reload the picture.
    let figure = view.images.get(file.id);
    if (!figure) {
      figure = el("figure", "file-image");
      figure.style.margin = "0";
      figure.dataset.fileId = file.id;
      figure.appendChild(el("div", "image-title", file.title));
      const link = el("a");
      link.href = file.url;
      link.target = "_blank";
      const img = el("img");
      img.src = file.url;
      img.alt = file.title;
      link.appendChild(img);
      figure.appendChild(link);
      view.images.set(file.id, figure);
    }
    return figure;
  }
  const card = el("a", "file-card");
  card.href = file.url;
  card.download = file.name;
  card.dataset.fileId = file.id;
  card.appendChild(el("span", "file-icon", emojiGlyph(file.name.endsWith(".csv") ? "bar_chart" : "page_facing_up")));
  const text = el("span");
  text.appendChild(el("div", "file-name", file.title));
  text.appendChild(el("div", "file-meta", `${file.name} · ${formatSize(file.size)}`));
  card.appendChild(text);
  return card;
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function formatTime(ts) {
  return new Date(parseFloat(ts) * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function messageView(msg, channel) {
  const ephemeral = msg.kind === "ephemeral";
  const node = el("div", "msg" + (ephemeral ? " ephemeral" : "") + (msg.thread_ts ? " reply" : ""));
  node.dataset.ts = msg.ts;
  if (view.target && msg.ts === view.target.ts) node.classList.add("linked");
  const name = userName(msg.user);
  node.appendChild(el("div", "avatar" + (msg.bot ? " bot" : ""), (name[0] || "?").toUpperCase()));
  const main = el("div", "msg-main");
  if (ephemeral) main.appendChild(el("div", "only-you", "Only visible to you"));
  const head = el("div", "msg-head");
  head.appendChild(el("span", "sender", name));
  if (msg.bot) head.appendChild(el("span", "badge", "APP"));
  head.appendChild(el("span", "time", formatTime(msg.ts)));
  if (msg.edited) head.appendChild(el("span", "edited", "(edited)"));
  main.appendChild(head);
  if (msg.blocks && msg.blocks.length) {
    main.appendChild(renderBlocks(msg.blocks, { channel, ts: msg.ts, ephemeral }));
  } else if (msg.text) {
    main.appendChild(mrkdwn(msg.text, "msg-text"));
  }
  if (msg.files && msg.files.length) {
    const files = el("div", "files");
    msg.files.forEach((f) => files.appendChild(fileView(f)));
    main.appendChild(files);
  }
  const replies = msg.replies || [];
  if (replies.length) {
    const open = !view.collapsed.has(msg.ts);
    const toggle = el("button", "thread-toggle", `${replies.length} ${replies.length === 1 ? "reply" : "replies"} ${open ? "▾" : "▸"}`);
    toggle.type = "button";
    toggle.addEventListener("click", () => {
      if (open) view.collapsed.add(msg.ts); else view.collapsed.delete(msg.ts);
      render();
    });
    main.appendChild(toggle);
    if (open) {
      const thread = el("div", "thread");
      thread.dataset.threadTs = msg.ts;
      replies.forEach((r) => thread.appendChild(messageView(r, channel)));
      main.appendChild(thread);
    }
  }
  node.appendChild(main);
  return node;
}

// ------------------------------------------------------------------ page

// The bot writes to a person by posting to their user id (a DM): shown as "@name", not a channel.
function isDirect(channel) {
  return /^[UWD]/.test(channel.id);
}

function channelLabel(channel) {
  return isDirect(channel) ? "@ " + userName(channel.id) : "# " + channel.name;
}

function currentChannel() {
  const channels = (view.data && view.data.channels) || [];
  return channels.find((c) => c.id === view.channel) || { id: view.channel, name: "sandbox", messages: [] };
}

function render() {
  const channel = currentChannel();
  const home = view.pane === "home";
  const homeLink = document.getElementById("home-link");
  homeLink.className = home ? "active" : "";
  const nav = document.getElementById("channels");
  nav.replaceChildren();
  for (const c of (view.data && view.data.channels) || []) {
    const a = el("a", !home && c.id === view.channel ? "active" : "", channelLabel(c) + (c.archived ? " (archived)" : ""));
    a.href = `/archives/${encodeURIComponent(c.id)}`;
    a.addEventListener("click", (event) => { event.preventDefault(); view.pane = "channel"; view.channel = c.id; render(); });
    nav.appendChild(a);
  }
  renderModal();
  renderShortcuts();
  document.getElementById("composer-form").hidden = home;
  document.getElementById("channel-hash").hidden = home;
  document.getElementById("channel-menu").hidden = home;
  document.getElementById("channel-status").hidden = home;
  if (home) {
    document.getElementById("channel-name").textContent = "reportbot — Home";
    renderHome(document.getElementById("messages"));
    return;
  }
  const direct = isDirect(channel);
  document.getElementById("channel-hash").hidden = direct;
  document.getElementById("channel-menu").hidden = direct;  // a DM is neither archived nor left
  renderChannelMenu(channel);
  document.getElementById("channel-name").textContent = direct ? channelLabel(channel) : channel.name;
  document.getElementById("composer").placeholder = `Message ${channelLabel(channel).replace("# ", "#")} — try /run-report help`;
  const list = document.getElementById("messages");
  const items = channel.messages.map((m) => messageView(m, channel.id));
  if (!items.length) items.push(el("div", "empty", "Nothing here yet. Type /run-report ping below and press Enter."));
  list.replaceChildren(...items);
  showTarget(list);
  stickToBottom();
}

// Once the permalink's message is on the page: open its thread (or its parent's) and bring it
// into view; from then on the channel stays where it is rather than following new messages.
function showTarget(list) {
  const target = view.target;
  if (!target || !target.ts || target.shown) return;
  const node = list.querySelector(`.msg[data-ts="${CSS.escape(target.ts)}"]`);
  if (!node) return;
  target.shown = true;
  view.following = false;
  node.scrollIntoView({ block: "center" });
}

// Like Slack, the channel follows new messages while you are at its end (also when a chart
// finishes loading), and stays put while you read further up. Only scrolling up stops following:
// a chart that takes its height before its scroll event is handled leaves the end far below
// without anyone having scrolled, and must not be taken for the reader leaving the end.
view.following = true;
view.scrolledTo = 0;
function stickToBottom() {
  const list = document.getElementById("messages");
  if (view.following) list.scrollTop = list.scrollHeight;
  view.scrolledTo = list.scrollTop;
}
document.getElementById("messages").addEventListener("scroll", () => {
  const list = document.getElementById("messages");
  if (list.scrollHeight - list.scrollTop - list.clientHeight < 60) view.following = true;
  else if (list.scrollTop < view.scrolledTo) view.following = false;
  view.scrolledTo = list.scrollTop;
});
document.getElementById("messages").addEventListener("load", stickToBottom, true);

async function refresh() {
  try {
    const response = await fetch("/sandbox/state", { cache: "no-store" });
    view.data = await response.json();
    render();
  } catch (err) {
    setLive(false);
  }
}

let refreshTimer = null;
function scheduleRefresh() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 30);
}

let pollTimer = null;
function setLive(live) {
  document.getElementById("connection").classList.toggle("off", !live);
  if (live && pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  if (!live && !pollTimer) pollTimer = setInterval(refresh, 1500); // fallback: polling
}

function listen() {
  if (!window.EventSource) { setLive(false); return; }
  const events = new EventSource("/sandbox/events");
  events.onopen = () => { setLive(true); scheduleRefresh(); };
  events.onmessage = scheduleRefresh;
  events.onerror = () => setLive(false);
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  try {
    return await response.json();
  } catch (err) {
    return { ok: false, error: `HTTP ${response.status}` };
  }
}

function showError(text) {
  document.getElementById("composer-error").textContent = text || "";
}

async function send(text) {
  showError("");
  view.history.push(text);
  view.historyAt = -1;
  const answer = await post("/sandbox/command", { text, channel: view.channel, user: ME });
  if (!answer.ok && !answer.error) showError("The bot did not answer.");
  else if (!answer.ok && answer.status === undefined) showError(answer.error);
  scheduleRefresh();
}

function setUpComposer() {
  const box = document.getElementById("composer");
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      const text = box.value.trim();
      if (!text) return;
      box.value = "";
      send(text);
    } else if (event.key === "ArrowUp" && !box.value.includes("\n") && view.history.length) {
      event.preventDefault();
      view.historyAt = view.historyAt < 0 ? view.history.length - 1 : Math.max(0, view.historyAt - 1);
      box.value = view.history[view.historyAt];
    }
  });
  document.getElementById("composer-form").addEventListener("submit", (e) => e.preventDefault());
  const hints = document.getElementById("hints");
  for (const hint of HINTS) {
    const b = el("button", null, hint);
    b.type = "button";
    b.addEventListener("click", () => { box.value = hint; box.focus(); });
    hints.appendChild(b);
  }
  box.focus();
}

setUpComposer();
document.getElementById("home-link").addEventListener("click", (event) => {
  event.preventDefault();
  view.pane = "home";
  render();
  openHome();
});
listen();
refresh();
