// The answers of POST /v1/recommend (a safer plan: before and after, changes, checks) and
// POST /v1/schedule (the touch-up timeline per region).

import { el } from "./chart.js";
import { pct } from "./results.js";

const words = (name) => name.replaceAll("_", " ");

function node(tag, text, cls) {
  const n = document.createElement(tag);
  if (text !== undefined) n.textContent = text;
  if (cls) n.className = cls;
  return n;
}

function table(caption, head, rows) {
  const t = node("table", undefined, "grid");
  t.append(node("caption", caption));
  const tr = t.createTHead().insertRow();
  for (const h of head) tr.append(node("th", h));
  const body = t.createTBody();
  for (const r of rows) {
    const row = body.insertRow();
    for (const c of r) row.append(node("td", String(c)));
  }
  return t;
}

const mark = (ok) => (ok ? "✓ passed" : "✗ failed");

export function renderSuggestion(container, s, plan) {
  const status = { improved: "A safer plan was found.", already_low: "The risk is already low: "
    + "nothing to change.", no_safer_plan: "Nothing within the limits lowers the risk enough." };
  const before = s.before;
  const after = s.after;
  const out = [node("p", status[s.status], `suggest-status status-${s.status}`),
    node("p", s.notice, "small")];
  out.push(table("Before and after", ["", "clinician's plan", "suggested"], [
    ["asymmetry risk", pct(before.asymmetry_risk), pct(after.asymmetry_risk)],
    ["eyelid ptosis", pct(before.eyelid_ptosis_risk), pct(after.eyelid_ptosis_risk)],
    ["brow ptosis", pct(before.brow_ptosis_risk), pct(after.brow_ptosis_risk)],
    ["late-stage asymmetry", pct(before.late_asymmetry.risk), pct(after.late_asymmetry.risk)],
  ]));
  if (s.changes.length) {
    out.push(table("Changed points (ghosted on the chart)", ["point", "units", "moved"],
      s.changes.map((c) => {
        const p = plan[c.index];
        return [`${c.index + 1}: ${words(p.muscle)} ${p.side}`, `${c.units_from} → ${c.units_to} U`,
          `${c.moved_mm.toFixed(1)} mm`];
      })));
  }
  out.push(table(`Checks: ${mark(s.checks.passed)}`, ["region, side", "units", "median days",
    "label range", "result"], s.checks.regions.map((r) => [
    `${words(r.region)}, ${r.side}`, `${r.units_before} → ${r.units_after}`,
    `${Math.round(r.median_days_before)} → ${Math.round(r.median_days_after)}`,
    r.within_label_range ? "within" : "outside", mark(r.passed)])));
  out.push(node("p", s.checks.ptosis.map((p) => `${words(p.outcome)} ${pct(p.before)} → `
    + `${pct(p.after)} ${mark(p.ok)}`).join("; "), "small"));
  out.push(node("p", `Training data: ${s.support.reason}`, s.support.in_support === false
    ? "warning" : "small"));
  container.replaceChildren(...out);
}

// One row per region: each side's return from its 10% to its 90% day with the median marked,
// the review (diamond) and the touch-up (triangle).
export function renderSchedule(container, s) {
  const days = s.regions.flatMap((r) => r.sides.flatMap((d) => [d.day_90, r.touch_up_day]))
    .filter((d) => d !== null);
  const last = Math.max(120, ...days) * 1.05;
  const W = 560;
  const rowH = 34;
  const left = 110;
  const sx = (d) => left + (W - left - 10) * d / last;
  const svg = el("svg", { viewBox: `0 0 ${W} ${s.regions.length * rowH + 24}`, class: "timeline",
    role: "img", "aria-label": "Touch-up timeline per region" });
  s.regions.forEach((r, i) => {
    const y = i * rowH + 6;
    el("text", { x: 4, y: y + 14, class: "label" }, svg).textContent = words(r.region);
    r.sides.forEach((d, k) => {
      const yy = y + 6 + k * 9;
      if (d.day_10 !== null && d.day_90 !== null) {
        el("line", { class: `span side-${d.side}`, x1: sx(d.day_10), x2: sx(d.day_90), y1: yy,
          y2: yy }, svg);
      }
      if (d.day_50 !== null) {
        el("circle", { class: `median side-${d.side}`, cx: sx(d.day_50), cy: yy, r: 3 }, svg);
      }
    });
    if (r.review_day !== null) {
      const x = sx(r.review_day);
      el("path", { class: "review", d: `M ${x} ${y} l 4 5 l -4 5 l -4 -5 Z` }, svg);
    }
    if (r.touch_up_day !== null) {
      const x = sx(r.touch_up_day);
      el("path", { class: "touchup", d: `M ${x} ${y + 22} l 5 8 l -10 0 Z` }, svg);
    }
  });
  const axisY = s.regions.length * rowH + 10;
  for (let d = 0; d <= last; d += 30) {
    el("text", { x: sx(d) - 5, y: axisY + 10, class: "tiny" }, svg).textContent = String(d);
  }
  const lines = s.regions.map((r) => node("li", `${words(r.region)}: first back ${r.first_side}`
    + `; review ${r.review_date ?? "–"}; touch-up ${r.touch_up_date ?? "–"}`
    + (r.late_asymmetry_risk !== null ? `; late asymmetry ${pct(r.late_asymmetry_risk)}` : "")));
  const sessions = s.sessions.map((x) => node("li", `Session on ${x.date ?? `day ${x.day}`}: `
    + x.regions.map(words).join(", ")));
  const next = s.next_session;
  const doses = next.dose_changes.map((c) => node("li", `${words(c.region)} ${c.side}: `
    + `${c.units_from} → ${c.units_to} U`));
  const list = (items, cls = "plain") => {
    const ul = node("ul", undefined, cls);
    ul.append(...items);
    return ul;
  };
  container.replaceChildren(
    node("h3", `Touch-up schedule (treatment ${s.treatment_date}, review ${s.review_date})`),
    node("p", "Bars: each side's return from its 10% to its 90% day, dot the median (blue left, "
      + "orange right); diamond: review; triangle: touch-up.", "small"),
    svg, list(lines), node("h3", s.staggered ? "Staggered sessions" : "Sessions"), list(sessions),
    node("h3", `Next session: ${words(next.status)}`), list(doses));
}
