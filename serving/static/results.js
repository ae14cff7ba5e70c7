// The answer of POST /v1/predict, drawn: risk and band with an icon array of 100 people, the
// three differences on a small face, survival curves per region and side, late-stage asymmetry,
// contributions in words and the ptosis risks.

import { el } from "./chart.js";

const words = (name) => name.replaceAll("_", " ");
export const pct = (p) => `${(100 * p).toFixed(1)}%`;
const $ = (id) => document.getElementById(id);

function iconArray(risk) {
  const n = Math.round(100 * risk);
  const svg = el("svg", { viewBox: "0 0 100 100", role: "img",
    "aria-label": `${n} of 100 people with this plan would show visible asymmetry` });
  for (let i = 0; i < 100; i++) {
    const x = (i % 10) * 10 + 5;
    const y = Math.floor(i / 10) * 10;
    const g = el("g", { class: i < n ? "person hit" : "person" }, svg);
    el("circle", { cx: x, cy: y + 2.6, r: 1.9 }, g);
    el("path", { d: `M ${x - 3} ${y + 9} Q ${x} ${y + 3} ${x + 3} ${y + 9} Z` }, g);
  }
  const caption = document.createElement("figcaption");
  caption.textContent = `About ${n} in 100 people like this patient, with this plan, would show ` +
    "visible asymmetry at review.";
  return [svg, caption];
}

// Left minus right, in words (x toward the patient's left: positive means the left is higher).
const DIFF_WORDS = {
  brow_height: ["brow", "higher"],
  palpebral_fissure: ["eye opening", "wider"],
  commissure_height: ["mouth corner", "higher"],
};

// The answer's keys are followups columns (brow_height_diff_mm): their stem names the feature.
const stem = (name) => name.replace(/_diff_mm$/, "");

function differenceText(name, d) {
  const [what, more] = DIFF_WORDS[stem(name)] || [words(name), "larger"];
  const e = d.expected;
  const side = Math.abs(e) < 0.05 ? "level" : `${e > 0 ? "left" : "right"} ${Math.abs(e).toFixed(1)}`
    + ` mm ${more}`;
  return `${what}: ${side} (10–90%: ${d.low_10.toFixed(1)} to ${d.high_90.toFixed(1)} mm, left − right)`;
}

// A small face whose brows, eyes and mouth corners tilt by the expected differences (drawn 3x).
function differenceFace(answer) {
  const diffs = Object.fromEntries(Object.entries(answer).map(([k, v]) => [stem(k), v]));
  const k = 3;
  const b = (diffs.brow_height?.expected ?? 0) * k / 2;
  const f = (diffs.palpebral_fissure?.expected ?? 0) * k / 4;
  const c = (diffs.commissure_height?.expected ?? 0) * k / 2;
  const svg = el("svg", { viewBox: "-60 -45 120 95", class: "mini-face", role: "img",
    "aria-label": "The expected differences drawn three times larger" });
  el("ellipse", { class: "outline", cx: 0, cy: 0, rx: 50, ry: 44 }, svg);
  // Viewer's right is the patient's left.
  el("line", { class: "feature", x1: -40, y1: -22 + b, x2: -12, y2: -22 + b }, svg);
  el("line", { class: "feature", x1: 12, y1: -22 - b, x2: 40, y2: -22 - b }, svg);
  el("ellipse", { class: "feature", cx: -26, cy: -8, rx: 10, ry: Math.max(1, 4 - f) }, svg);
  el("ellipse", { class: "feature", cx: 26, cy: -8, rx: 10, ry: Math.max(1, 4 + f) }, svg);
  el("path", { class: "feature", d: `M -20 ${24 + c} Q 0 ${30} 20 ${24 - c}` }, svg);
  el("text", { x: -56, y: -34, class: "tiny" }, svg).textContent = "R";
  el("text", { x: 50, y: -34, class: "tiny" }, svg).textContent = "L";
  return svg;
}

// One region's survival curves: P(activity not yet returned) by day, per side, with medians.
function survivalChart(region, rows) {
  const last = Math.max(180, ...rows.map((r) => 1.3 * r.median_days));
  const W = 220;
  const H = 90;
  const sx = (d) => 30 + (W - 40) * d / last;
  const sy = (p) => 10 + (H - 30) * (1 - p);
  const fig = document.createElement("figure");
  fig.className = "survival";
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": `${words(region)}: chance activity has not returned, by day` }, fig);
  el("line", { class: "axis", x1: sx(0), y1: sy(0), x2: sx(last), y2: sy(0) }, svg);
  el("line", { class: "axis", x1: sx(0), y1: sy(0), x2: sx(0), y2: sy(1) }, svg);
  for (const d of [0, 90, 180, 270, 360].filter((d) => d <= last)) {
    el("text", { class: "tiny", x: sx(d) - 4, y: H - 8 }, svg).textContent = String(d);
  }
  el("text", { class: "tiny", x: 2, y: sy(1) + 3 }, svg).textContent = "100%";
  el("text", { class: "tiny", x: 8, y: sy(0) }, svg).textContent = "0";
  for (const r of rows) {
    const pts = [[0, 1], [r.median_days, 0.5], [90, r.p_not_returned_90],
      [120, r.p_not_returned_120], [150, r.p_not_returned_150]].sort((a, b) => a[0] - b[0]);
    el("polyline", { class: `curve side-${r.side}`,
      points: pts.map(([d, p]) => `${sx(d)},${sy(p)}`).join(" ") }, svg);
    el("circle", { class: `median side-${r.side}`, cx: sx(r.median_days), cy: sy(0.5), r: 2.5 },
      svg);
  }
  const caption = document.createElement("figcaption");
  caption.textContent = `${words(region)}: ` + rows.map((r) =>
    `${r.side} median ${Math.round(r.median_days)} days`).join(", ");
  fig.append(caption);
  return fig;
}

export function renderAnswer(answer, config) {
  $("risk-value").textContent = pct(answer.asymmetry_risk);
  $("risk-value").dataset.value = String(answer.asymmetry_risk);
  const band = $("risk-band");
  band.textContent = `${answer.risk_band} risk`;
  band.className = `band band-${answer.risk_band}`;
  $("icons").replaceChildren(...iconArray(answer.asymmetry_risk));
  $("ptosis").replaceChildren(...["eyelid_ptosis_risk", "brow_ptosis_risk"].map((k) => {
    const li = document.createElement("li");
    li.textContent = `${words(k.replace("_risk", ""))}: ${pct(answer[k])}`;
    return li;
  }));

  const diffs = document.createElement("ul");
  diffs.className = "plain";
  for (const [name, d] of Object.entries(answer.differences)) {
    const li = document.createElement("li");
    li.textContent = differenceText(name, d);
    diffs.append(li);
  }
  $("differences").replaceChildren(differenceFace(answer.differences), diffs);

  const byRegion = new Map();
  for (const row of answer.longevity) {
    if (!byRegion.has(row.region)) byRegion.set(row.region, []);
    byRegion.get(row.region).push(row);
  }
  $("longevity").replaceChildren(
    ...[...byRegion].map(([region, rows]) => survivalChart(region, rows)));

  const late = answer.late_asymmetry;
  const regions = late.regions.map((r) => `${words(r.region)} ${pct(r.risk)}`).join(", ");
  $("late").textContent = `Late-stage asymmetry (one side wearing off ${late.gap_days} or more `
    + `days before the other): ${pct(late.risk)}${regions ? ` (${regions})` : ""}.`
    + (late.first_region ? ` First to wear off: ${words(late.first_region)}, ${late.first_side}.`
      : "");

  const top = Math.max(1e-9, ...answer.contributions.map((c) => Math.abs(c.log_odds)));
  $("contributions").replaceChildren(...answer.contributions.map((c) => {
    const li = document.createElement("li");
    const up = c.log_odds > 0;
    const bar = document.createElement("span");
    bar.className = `bar ${up ? "up" : "down"}`;
    bar.style.width = `${(100 * Math.abs(c.log_odds) / top).toFixed(0)}%`;
    const text = document.createElement("span");
    text.textContent = `${config.contribution_groups[c.group] || words(c.group)}: `
      + `${up ? "raises" : "lowers"} the risk`;
    li.title = `${c.group}: ${c.log_odds.toFixed(2)} log-odds`;
    li.append(text, bar);
    return li;
  }));
  if (!answer.contributions.length) $("contributions").textContent = "Not asked for.";

  $("warnings").replaceChildren(...answer.warnings.map((w) => {
    const li = document.createElement("li");
    li.className = "warning";
    li.textContent = w.message;
    return li;
  }));
  if (!answer.warnings.length) $("warnings").textContent = "None.";
  $("answer").hidden = false;
}
